"""Box geometry in image coordinates: boxes are ``(x0, y0, x1, y1)`` in pixels, x1/y1 exclusive."""

from __future__ import annotations

import numpy as np


def resize_crop_geometry(image_size: tuple[int, int], size: int, resize: int | None = None):
    """Scale and offset of ``Resize(resize)`` (shorter side) followed by ``CenterCrop(size)``.

    ``image_size`` is PIL's ``(width, height)``; ``resize`` defaults to ``round(size * 256 / 224)``,
    as in :meth:`vsalib.backbones.Backbone.preprocess`. Returns ``(scale, dx, dy)`` such that a point
    ``(x, y)`` of the original image lands at ``(x * scale - dx, y * scale - dy)``.
    """
    w, h = image_size
    resize = resize or int(round(size * 256 / 224))
    scale = resize / min(w, h)
    new_w, new_h = int(resize * w / h) if w > h else resize, int(resize * h / w) if h > w else resize
    # torchvision's CenterCrop offset: int(round((new - size) / 2))
    dx = int(round((new_w - size) / 2.0))
    dy = int(round((new_h - size) / 2.0))
    return scale, dx, dy


def box_after_center_crop(box, image_size: tuple[int, int], size: int, resize: int | None = None) -> np.ndarray:
    """Where ``box`` of the original image lies in the resized, centre-cropped input (clipped)."""
    scale, dx, dy = resize_crop_geometry(image_size, size, resize)
    b = np.asarray(box, dtype=float)
    out = np.array([b[0] * scale - dx, b[1] * scale - dy, b[2] * scale - dx, b[3] * scale - dy])
    return np.clip(out, 0, size)
