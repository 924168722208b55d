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


def boxes_to_input(xyxy, scale: float, width: int, height: int) -> np.ndarray:
    """Boxes ``(N, 4)`` found on an image resized by ``scale`` back in input-image pixels: divided by
    ``scale``, rounded outward to whole pixels (with a 1e-6 tolerance, so exact pixel edges stay put)
    and clipped to ``[0, width] x [0, height]``. Returns a new float64 array."""
    b = np.array(xyxy, dtype=np.float64).reshape(-1, 4)
    if scale != 1.0:
        b = b / scale
        b[:, :2] = np.floor(b[:, :2] + 1e-6)
        b[:, 2:] = np.ceil(b[:, 2:] - 1e-6)
    b[:, [0, 2]] = np.clip(b[:, [0, 2]], 0, width)
    b[:, [1, 3]] = np.clip(b[:, [1, 3]], 0, height)
    return b


def jitter_boxes(xyxy, pixels: int, width: int, height: int, seed: int = 0) -> np.ndarray:
    """Every coordinate of boxes ``(N, 4)`` moved by a whole number of pixels drawn uniformly from
    ``[-pixels, pixels]`` (seeded), then clipped to ``[0, width] x [0, height]``; a box that would collapse keeps
    its original coordinates. A stand-in for another proposer's localisation of the same regions: how stable a
    ranking of near-duplicate proposals is under it bounds how far any faster scoring can agree with it.
    Returns a new float64 array."""
    if pixels < 0:
        raise ValueError(f"pixels: expected an int >= 0, got {pixels}")
    b = np.array(xyxy, dtype=np.float64).reshape(-1, 4)
    rng = np.random.default_rng(seed)
    out = b + rng.integers(-pixels, pixels + 1, size=b.shape)
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, width)
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, height)
    bad = (out[:, 2] <= out[:, 0]) | (out[:, 3] <= out[:, 1])
    out[bad] = b[bad]
    return out
