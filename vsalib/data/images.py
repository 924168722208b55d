"""Opening images by content, finding unreadable files, and a torch dataset over a table.

Image files in the benchmarks are not always what their extension says: some Twitter II
``.jpg`` files are GIF or PNG, some images are grayscale, CMYK, palette or RGBA.
``open_image`` lets Pillow identify the format from the bytes and always returns an
8-bit RGB image (transparent pixels composited on white). EXIF orientation is not
applied: the pixels are used as stored, like the papers' Caffe/MATLAB pipelines.

``ImageTableDataset`` (a ``torch.utils.data.Dataset``) is built on first access so that
importing this module never imports torch.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp"})
_PROGRESS_MIN = 200  # check_images shows a progress bar from this many files on
_TRANSPARENT_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})


class UnreadableImageError(ValueError):
    """An image file is missing, truncated, corrupt or not an image at all."""


class MissingImagesError(FileNotFoundError):
    """A label file lists images that are not on disk."""


class DatasetLayoutError(ValueError):
    """A dataset's files are inconsistent (unknown class, unlabelled image, bad line...)."""


def require_files(paths: Sequence[str | os.PathLike], listed_in: str | os.PathLike, dataset: str) -> None:
    """Raise ``MissingImagesError`` naming the missing files and the label file listing them."""
    missing = [str(p) for p in paths if not os.path.isfile(p)]
    if missing:
        shown = "\n  ".join(missing[:10]) + (f"\n  ... and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise MissingImagesError(
            f"{dataset}: {len(missing)} image(s) listed in {listed_in} are missing:\n  {shown}\n"
            "Restore them from the original download, or remove their rows from the label file."
        )


def describe_list(items: Sequence, limit: int = 10) -> str:
    """``a, b, c ... and 7 more`` for error messages."""
    items = [str(i) for i in items]
    more = f" ... and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def open_image(path: str | os.PathLike) -> Image.Image:
    """Open ``path`` as an 8-bit RGB ``PIL.Image``, identifying the format by content.

    Grayscale, CMYK, 16-bit, palette and transparent images are converted to RGB;
    transparency is composited on white. Raises ``UnreadableImageError`` naming the file
    when it is missing, not an image, or truncated/corrupt.
    """
    path = Path(path)
    if not path.is_file():
        raise UnreadableImageError(f"image file {path} does not exist (expected an image file there)")
    try:
        with Image.open(path) as im:
            im.load()
            return _to_rgb(im)
    except UnidentifiedImageError:
        head = path.read_bytes()[:8]
        raise UnreadableImageError(
            f"{path} is not an image Pillow can identify (expected JPEG, PNG, GIF, BMP, TIFF or "
            f"WebP content; the file starts with {head!r}, {path.stat().st_size} bytes)"
        ) from None
    except (OSError, SyntaxError, ValueError) as err:
        raise UnreadableImageError(
            f"{path} is truncated or corrupt (expected complete image data; Pillow says: {err})"
        ) from None


def _to_rgb(im: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB; transparent pixels become white."""
    if im.mode == "RGB":
        return im.copy()
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return _high_depth_to_rgb(im)
    if im.mode in _TRANSPARENT_MODES or (im.mode in ("P", "L", "RGB") and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB")


def _high_depth_to_rgb(im: Image.Image) -> Image.Image:
    """16-bit / 32-bit / float grayscale to 8-bit RGB (16-bit data scaled by 1/257)."""
    arr = np.asarray(im, dtype=np.float64)
    if arr.size and arr.max() > 255:
        arr = arr / 257.0
    gray = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
    return Image.fromarray(gray, mode="L").convert("RGB")


def check_images(paths: Iterable[str | os.PathLike], progress: bool | None = None) -> list[tuple[str, str]]:
    """Fully decode every file; return ``(path, reason)`` for each one that cannot be opened.

    ``progress``: show a tqdm bar (default: when there are at least 200 files).
    """
    paths = [str(p) for p in paths]
    if progress is None:
        progress = len(paths) >= _PROGRESS_MIN
    iterator: Iterable[str] = paths
    if progress:
        from vsalib.progress import tqdm

        iterator = tqdm(paths, desc="checking images", unit="img")
    bad = []
    for p in iterator:
        try:
            open_image(p)
        except UnreadableImageError as err:
            bad.append((p, str(err)))
    return bad


def content_hash(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """SHA-1 hex digest of the file's bytes (byte-identical files share it)."""
    digest = hashlib.sha1()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def list_image_files(folder: str | os.PathLike, recursive: bool = False) -> list[Path]:
    """Image files (by extension, case-insensitive) in ``folder``, hidden files skipped, sorted
    naturally (``2.jpg`` before ``10.jpg``)."""
    folder = Path(folder)
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    files = [
        p
        for p in candidates
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS
    ]
    return sorted(files, key=lambda p: natural_key(str(p.relative_to(folder))))


def natural_key(text: str) -> tuple:
    """Sort key that orders digit runs numerically: ``a2`` < ``a10``."""
    return tuple(int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", text))


def image_to_tensor(image: Image.Image):
    """RGB ``PIL.Image`` → float tensor (3, H, W) in [0, 1] (the default transform)."""
    import torch

    arr = np.asarray(image, dtype=np.uint8).copy()
    return torch.from_numpy(arr).permute(2, 0, 1).float().div_(255.0)


def _build_image_table_dataset():
    import torch.utils.data

    class ImageTableDataset(torch.utils.data.Dataset):
        """Torch dataset over an ``ImageDataset`` (or a table with ``path`` and ``label``).

        ``indices``: rows to expose (e.g. ``split.train``); item ``i`` is the row
        ``indices[i]``. Returns ``(transform(image), label, row)`` where ``row`` is the
        position in the full table, or ``(transform(image), label)`` when
        ``return_index=False``. Without a transform the image becomes a (3, H, W) float
        tensor in [0, 1].
        """

        def __init__(self, table_or_dataset, transform=None, return_index: bool = True,
                     indices: Sequence[int] | None = None):
            table = getattr(table_or_dataset, "table", table_or_dataset)
            missing = {"path", "label"} - set(table.columns)
            if missing:
                raise ValueError(
                    f"ImageTableDataset needs a table with columns 'path' and 'label'; "
                    f"missing {sorted(missing)} (got {list(table.columns)})"
                )
            self.paths = table["path"].astype(str).tolist()
            self.labels = table["label"].astype(int).tolist()
            rows = np.arange(len(table)) if indices is None else np.asarray(indices, dtype=int)
            if rows.size and (rows.min() < 0 or rows.max() >= len(table)):
                raise IndexError(f"indices must lie in [0, {len(table)}); got {rows.min()}..{rows.max()}")
            self.rows = rows
            self.transform = transform
            self.return_index = return_index

        def __len__(self) -> int:
            return len(self.rows)

        def __getitem__(self, i: int):
            row = int(self.rows[i])
            image = open_image(self.paths[row])
            x = self.transform(image) if self.transform is not None else image_to_tensor(image)
            if self.return_index:
                return x, self.labels[row], row
            return x, self.labels[row]

    return ImageTableDataset


def __getattr__(name: str):
    # PEP 562: build the torch Dataset subclass only when it is first asked for.
    if name == "ImageTableDataset":
        cls = _build_image_table_dataset()
        cls.__module__ = __name__
        cls.__qualname__ = name  # picklable by name (DataLoader workers under spawn)
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
