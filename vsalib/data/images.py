"""Opening images by content, finding unreadable files, and a torch dataset over a table.

Image files in the benchmarks are not always what their extension says: some Twitter II
``.jpg`` files are GIF or PNG, some images are grayscale, CMYK, palette or RGBA.
``open_image`` lets Pillow identify the format from the bytes and always returns an
8-bit RGB image (transparent pixels composited on white). EXIF orientation is not
applied: the pixels are used as stored, like the papers' Caffe/MATLAB pipelines.

``verify_dataset_images`` is what ``load_dataset`` runs on a dataset's images: every file fully
decoded once (a small thread pool), every unreadable one named in one ``UnreadableImageError``,
images under ``MIN_IMAGE_SIDE`` warned about (``SmallImageWarning``); files found clean are cached
under ``<cache>/image_checks/`` with their sizes and modification times, so that unchanged files
are not decoded again.

``ImageTableDataset`` (a ``torch.utils.data.Dataset``) is built on first access so that
importing this module never imports torch.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from vsalib.errors import (DatasetLayoutError, MissingImagesError, SmallImageWarning,  # noqa: F401  (re-exported)
                           UnreadableImageError)

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp"})
_PROGRESS_MIN = 200  # check_images shows a progress bar from this many files on
_TRANSPARENT_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_BYTES_REPR = re.compile(r"""\bb(['"]).*?(?<!\\)\1""")  # bytes a Pillow message quotes (e.g. a PNG chunk name)

MIN_IMAGE_SIDE = 32
"""Shorter side in pixels below which ``load_dataset`` warns (``SmallImageWarning``). The chapters
crop regions that are a fraction of the image (3 x 3 grid cells, random boxes from a fifth of the
side, selective-search segments of 100 px and up) and resize each to the backbone's input: under
32 px a grid cell is 10 px wide and a 100 px segment a tenth of the image. The benchmarks here have
a shorter side of 100 px or more (Twitter I 100, Emotion6 107, Twitter II 150)."""

CHECK_WORKERS = 4
"""Threads that decode images in ``check_images`` (Pillow releases the GIL while decoding)."""

CHECK_CACHE_VERSION = 1
"""Bump when the image check changes, so that cached results are not trusted any more."""

CACHE_ENV = "VSALIB_CACHE"


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
        # Name the size only, never the bytes: an error message ends up in notebooks and logs.
        size = path.stat().st_size
        what = "the file is empty (0 bytes)" if size == 0 else (
            f"the file has {size} bytes but no image header Pillow knows (e.g. a text or HTML file "
            "saved under an image name)")
        raise UnreadableImageError(
            f"{path} is not an image Pillow can identify (expected JPEG, PNG, GIF, BMP, TIFF or "
            f"WebP content; {what})"
        ) from None
    except (OSError, SyntaxError, ValueError) as err:
        raise UnreadableImageError(
            f"{path} is truncated or corrupt (expected complete image data; Pillow says: "
            f"{_BYTES_REPR.sub('<bytes>', str(err))})"
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


def _inspect(path: str) -> tuple[str | None, tuple[int, int] | None]:
    """``(None, (width, height))`` when ``path`` decodes fully, else ``(reason, None)``."""
    try:
        return None, open_image(path).size
    except UnreadableImageError as err:
        return str(err), None


def scan_images(
    paths: Iterable[str | os.PathLike], progress: bool | None = None, workers: int | None = None
) -> list[tuple[str | None, tuple[int, int] | None]]:
    """Fully decode every file on a small thread pool; per file, in order, ``(None, (width, height))``
    or ``(reason, None)`` when it cannot be opened.

    ``progress``: show a tqdm bar (default: from 200 files on); ``workers``: threads (default
    ``CHECK_WORKERS``, at most the number of CPUs).
    """
    paths = [str(p) for p in paths]
    if progress is None:
        progress = len(paths) >= _PROGRESS_MIN
    workers = max(1, min(workers or CHECK_WORKERS, os.cpu_count() or 1, len(paths) or 1))
    with ThreadPoolExecutor(workers, thread_name_prefix="vsalib-check") as pool:
        results: Iterable = pool.map(_inspect, paths)
        if progress:
            from vsalib.progress import tqdm

            results = tqdm(results, total=len(paths), desc="checking images", unit="img")
        return list(results)


def check_images(
    paths: Iterable[str | os.PathLike], progress: bool | None = None, workers: int | None = None
) -> list[tuple[str, str]]:
    """Fully decode every file; return ``(path, reason)`` for each one that cannot be opened.

    ``progress``: show a tqdm bar (default: when there are at least 200 files); ``workers``: see
    ``scan_images``.
    """
    paths = [str(p) for p in paths]
    return [(p, reason) for p, (reason, _) in zip(paths, scan_images(paths, progress, workers)) if reason]


def image_check_dir() -> Path:
    """Where clean image checks are cached: ``<cache>/image_checks``, ``<cache>`` being ``VSALIB_CACHE``,
    else ``~/.cache/vsalib`` (as for features and the synthetic scenes)."""
    base = os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "vsalib"
    return Path(base).expanduser() / "image_checks"


def _check_file(root: str) -> Path:
    """The cache file of the dataset folder ``root``: ``<hash of its absolute path>.json``."""
    return image_check_dir() / f"{hashlib.sha256(os.path.abspath(root).encode()).hexdigest()[:24]}.json"


def _stamp(path: str) -> tuple[int, int] | None:
    """``(size, mtime_ns)`` from ``os.stat`` (no read), or None if it cannot be stat'ed."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _read_checked(file: Path) -> dict[str, list]:
    """``{path: [size, mtime_ns, width, height]}`` of the files found clean before (paths relative to the
    dataset folder where under it), or empty (none, unreadable, another version)."""
    try:
        record = json.loads(file.read_text())
    except (OSError, ValueError):
        return {}
    ok = isinstance(record, dict) and record.get("version") == CHECK_CACHE_VERSION
    return record["files"] if ok and isinstance(record.get("files"), dict) else {}


def _write_checked(file: Path, root: str, checked: dict[str, list]) -> None:
    """Merge ``checked`` into ``file`` and write it atomically (temp file + ``os.replace``); a cache that
    cannot be written is skipped (the next load checks again)."""
    tmp = None
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        files = {**_read_checked(file), **checked}  # another process may have added files meanwhile
        record = {"version": CHECK_CACHE_VERSION, "root": os.path.abspath(root),
                  "updated": time.strftime("%Y-%m-%dT%H:%M:%S"), "files": files}
        fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=f".{file.stem}.", suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump(record, fh, separators=(",", ":"))
        os.replace(tmp, file)
    except OSError:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def verify_dataset_images(
    dataset: str,
    paths: Sequence[str | os.PathLike],
    other_images: Sequence[str | os.PathLike] = (),
    root: str | os.PathLike | None = None,
    progress: bool | None = None,
) -> None:
    """Check a dataset's images: raise ``UnreadableImageError`` naming every file that does not fully
    decode; warn (``SmallImageWarning``) about images whose shorter side is under ``MIN_IMAGE_SIDE``.

    ``other_images`` (e.g. stimuli maps) are decoded too but not size-checked. Files found clean are
    remembered in one JSON per dataset folder ``root`` (default: the files' common folder) under
    ``image_check_dir()``, with their size and ``mtime_ns``: a later call decodes only the files that are
    new or changed (``os.stat`` tells), so subsets of one dataset share a check. A failing check writes
    nothing: it is run again on the next call.
    """
    images = list(dict.fromkeys(str(p) for p in paths))
    seen = set(images)
    files = images + [p for p in dict.fromkeys(str(p) for p in other_images) if p not in seen]
    if not files:
        return
    root = str(root) if root is not None else os.path.commonpath([os.path.abspath(f) for f in files])
    cache_file = _check_file(root)
    known = _read_checked(cache_file)
    entries = {}
    todo = []
    prefix = os.path.join(os.path.abspath(root), "")
    for f in files:
        key, stamp = os.path.abspath(f), _stamp(f)
        key = key[len(prefix):] if key.startswith(prefix) else key  # relative to root: a smaller file
        entry = known.get(key)
        if stamp is not None and isinstance(entry, list) and len(entry) == 4 and tuple(entry[:2]) == stamp:
            entries[f] = entry
        else:
            todo.append((f, key, stamp))
    if todo:
        results = scan_images([f for f, _, _ in todo], progress=progress)
        bad = [reason for reason, _ in results if reason]
        if bad:
            raise UnreadableImageError(
                f"{dataset}: {len(bad)} of {len(files)} image file(s) cannot be read (expected each to be "
                "a complete JPEG, PNG, GIF, BMP, TIFF or WebP image):\n  " + "\n  ".join(bad)
                + "\nReplace them from the original download, or remove them (and their rows in the "
                "label file), then load the dataset again."
            )
        new = {}
        for (f, key, stamp), (_, size) in zip(todo, results):
            entries[f] = new[key] = [*(stamp or (-1, -1)), *size]
        _write_checked(cache_file, root, new)
    small = [(f, *entries[f][2:]) for f in images if min(entries[f][2:]) < MIN_IMAGE_SIDE]
    if small:
        shown = describe_list([f"{f} ({w}x{h} px)" for f, w, h in small])
        warnings.warn(SmallImageWarning(
            f"{dataset}: {len(small)} of {len(images)} image(s) have a shorter side below {MIN_IMAGE_SIDE} px "
            f"(expected at least {MIN_IMAGE_SIDE} px: the chapters crop regions a fraction of the image "
            f"wide): {shown}"
        ), stacklevel=3)


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
