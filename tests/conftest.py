"""Shared test fixtures.

``image_file_writer``: a function ``write(path, kind="rgb", color=..., size=...)`` that writes a
tiny real image file of a given kind (good and deliberately bad ones) for loader and
image-opening tests. Tests never copy the real benchmark data.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

IMAGE_KINDS = (
    "rgb", "gray", "cmyk", "rgba_png", "palette_png", "gif", "png", "png16", "truncated", "not_image", "empty",
)


def write_test_image(path, kind: str = "rgb", color=(200, 30, 60), size=(12, 10)) -> Path:
    """Write a small image of ``kind`` at ``path`` (the extension does not decide the format)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    color = tuple(int(c) % 256 for c in color)
    rgb = Image.new("RGB", size, color)
    if kind == "rgb":
        rgb.save(path, format="JPEG", quality=95)
    elif kind == "gray":
        rgb.convert("L").save(path, format="JPEG")
    elif kind == "cmyk":
        rgb.convert("CMYK").save(path, format="JPEG", quality=95)
    elif kind == "rgba_png":  # left half fully transparent, right half opaque colour
        rgba = Image.new("RGBA", size, color + (255,))
        rgba.paste((0, 0, 0, 0), (0, 0, size[0] // 2, size[1]))
        rgba.save(path, format="PNG")
    elif kind == "palette_png":  # palette index 0 transparent, index 1 colour
        pal = Image.new("P", size, 1)
        pal.putpalette([0, 0, 0, *color] + [0] * (256 * 3 - 6))
        pal.paste(0, (0, 0, size[0] // 2, size[1]))
        pal.save(path, format="PNG", transparency=0)
    elif kind == "gif":
        rgb.convert("P", palette=Image.ADAPTIVE).save(path, format="GIF")
    elif kind == "png":
        rgb.save(path, format="PNG")
    elif kind == "png16":
        arr = np.full((size[1], size[0]), 65535 // 2, dtype=np.uint16)
        Image.fromarray(arr).save(path, format="PNG")
    elif kind == "truncated":
        noisy = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
        buf = io.BytesIO()
        noisy.save(buf, format="JPEG", quality=95)
        path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    elif kind == "not_image":
        path.write_bytes(b"<html>404 Not Found</html>\n")
    elif kind == "empty":
        path.write_bytes(b"")
    else:
        raise ValueError(f"unknown test image kind {kind!r}; kinds: {IMAGE_KINDS}")
    return path


@pytest.fixture
def image_file_writer():
    """The ``write_test_image`` function."""
    return write_test_image


@pytest.fixture(scope="module")
def one_thread():
    """One torch intra-op thread for a module (``pytestmark = pytest.mark.usefixtures("one_thread")``):
    on a shared 2-core CPU, threads spinning against another job make tiny ops many times slower."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
