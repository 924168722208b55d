"""What selective search describes each initial segment by (Uijlings et al., IJCV 2013): colour and texture
histograms, bounding boxes, the segments' adjacency, and (for R-CNNGSR's sentiment term) the CNN feature map
pooled under each segment (masked average pooling: a merged region's feature is the pixel-weighted mean of its
parts' features, exactly the masked average over their union)."""

from __future__ import annotations

import cv2
import numpy as np
import torch
from scipy import ndimage

COLOUR_SPACES = ("hsv", "rgb", "lab")
#: Uijlings et al.: 25 colour bins per channel; 8 orientations x 10 bins per channel for texture.
COLOUR_BINS = 25
TEXTURE_ORIENTATIONS = 8
TEXTURE_BINS = 10
#: Uijlings et al.: Gaussian derivatives with sigma = 1 for the texture histograms.
TEXTURE_SIGMA = 1.0


def convert_colour(rgb: np.ndarray, space: str = "hsv") -> np.ndarray:
    """``H x W x 3`` uint8 RGB → float32 channels scaled to [0, 1] in ``space``.

    ``"rgb"``: / 255. ``"hsv"``: hue / 360, saturation, value. ``"lab"``: L / 100, (a + 128) / 256,
    (b + 128) / 256 (OpenCV's float conversion, D65).
    """
    if space not in COLOUR_SPACES:
        raise ValueError(f"unknown colour_space {space!r}; valid: {', '.join(COLOUR_SPACES)}")
    x = np.ascontiguousarray(rgb, dtype=np.float32) / 255.0
    if space == "rgb":
        out = x
    elif space == "hsv":
        out = cv2.cvtColor(x, cv2.COLOR_RGB2HSV)
        out[..., 0] /= 360.0
    else:
        out = cv2.cvtColor(x, cv2.COLOR_RGB2Lab)
        out[..., 0] /= 100.0
        out[..., 1:] = (out[..., 1:] + 128.0) / 256.0
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


def _n_labels(labels: np.ndarray, n: int | None) -> int:
    return int(labels.max()) + 1 if n is None else int(n)


def _segment_histograms(bins: np.ndarray, labels: np.ndarray, n: int, dim: int) -> np.ndarray:
    """Per-segment counts of per-pixel bin indices ``bins`` (H, W, K) in [0, dim), L1-normalised."""
    idx = (labels.astype(np.int64)[..., None] * dim + bins).ravel()
    h = np.bincount(idx, minlength=n * dim).reshape(n, dim).astype(np.float64)
    s = h.sum(1, keepdims=True)
    return h / np.where(s > 0, s, 1.0)


def colour_histograms(img01: np.ndarray, labels: np.ndarray, n: int | None = None,
                      bins: int = COLOUR_BINS) -> np.ndarray:
    """Colour histogram of each segment: ``bins`` per channel, L1-normalised → ``(n, C * bins)``.

    ``img01``: ``H x W x C`` float in [0, 1] (:func:`convert_colour`); ``labels``: ``H x W`` segment
    ids in ``[0, n)``. Value v falls in bin ``min(floor(v * bins), bins - 1)``.
    """
    img01 = np.asarray(img01, dtype=np.float32)
    if img01.ndim == 2:
        img01 = img01[..., None]
    c = img01.shape[-1]
    b = np.minimum((img01 * bins).astype(np.int64), bins - 1) + np.arange(c) * bins
    return _segment_histograms(b, labels, _n_labels(labels, n), c * bins)


def texture_bins(img01: np.ndarray, orientations: int = TEXTURE_ORIENTATIONS, bins: int = TEXTURE_BINS,
                 sigma: float = TEXTURE_SIGMA) -> np.ndarray:
    """Per-pixel texture bin indices ``(H, W, C * orientations)`` into a ``C * orientations * bins`` histogram.

    Uijlings' SIFT-like texture: Gaussian derivatives (``sigma`` = 1) of each channel, the
    directional derivative along ``orientations`` equally spaced directions ``theta_k = 2 pi k / 8``
    (so 8 directions are 4 axes with both signs), half-wave rectified; each response is binned in
    ``bins`` bins over ``[0, max]``, ``max`` the channel's largest response in the image.
    """
    img01 = np.asarray(img01, dtype=np.float32)
    if img01.ndim == 2:
        img01 = img01[..., None]
    h, w, c = img01.shape
    theta = 2.0 * np.pi * np.arange(orientations) / orientations
    cos, sin = np.cos(theta).astype(np.float32), np.sin(theta).astype(np.float32)
    out = np.empty((h, w, c * orientations), dtype=np.int64)
    for ch in range(c):
        x = img01[..., ch]
        gx = ndimage.gaussian_filter(x, sigma, order=(0, 1), mode="nearest")
        gy = ndimage.gaussian_filter(x, sigma, order=(1, 0), mode="nearest")
        r = np.maximum(cos[:, None, None] * gx + sin[:, None, None] * gy, 0.0)  # (O, H, W)
        top = float(r.max())
        q = np.zeros(r.shape, dtype=np.int64) if top <= 0 else np.minimum((r * (bins / top)).astype(np.int64), bins - 1)
        out[..., ch * orientations:(ch + 1) * orientations] = np.moveaxis(q, 0, -1) + \
            (ch * orientations + np.arange(orientations)) * bins
    return out


def texture_histograms(img01: np.ndarray, labels: np.ndarray, n: int | None = None) -> np.ndarray:
    """Texture histogram of each segment, ``(n, C * 8 * 10)``, L1-normalised (:func:`texture_bins`)."""
    b = texture_bins(img01)
    c = 1 if np.ndim(img01) == 2 else np.shape(img01)[-1]
    return _segment_histograms(b, labels, _n_labels(labels, n), c * TEXTURE_ORIENTATIONS * TEXTURE_BINS)


def segment_boxes(labels: np.ndarray, n: int | None = None) -> np.ndarray:
    """Tight ``(x1, y1, x2, y2)`` box (exclusive x2/y2) of each segment, ``(n, 4)`` int64."""
    n = _n_labels(labels, n)
    out = np.zeros((n, 4), dtype=np.int64)
    for i, sl in enumerate(ndimage.find_objects(labels.astype(np.int64) + 1, max_label=n)):
        if sl is not None:
            out[i] = (sl[1].start, sl[0].start, sl[1].stop, sl[0].stop)
    return out


def cell_index(shape: tuple[int, int], map_shape: tuple[int, int]) -> np.ndarray:
    """Feature-map cell ``cy * w + cx`` of every pixel of an ``H x W`` image seen as an ``h x w`` map.

    The pixel centre ``(y + 0.5, x + 0.5)`` is mapped proportionally (the image is warped to the CNN's
    square input, so each axis scales on its own).
    """
    H, W = shape
    h, w = map_shape
    cy = np.minimum(((np.arange(H) + 0.5) * h / H).astype(np.int64), h - 1)
    cx = np.minimum(((np.arange(W) + 0.5) * w / W).astype(np.int64), w - 1)
    return cy[:, None] * w + cx[None, :]


def pool_segment_features(fmap, labels: np.ndarray, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Masked average pooling on a feature map, kept as *sums*: ``(sums (n, C), counts (n,))``.

    ``fmap``: ``(C, h, w)`` (tensor or array); ``labels``: ``H x W`` segment ids. Each pixel adds
    the feature vector of its cell (:func:`cell_index`), i.e. the segment mask is resized to the
    map by area and ``sums[i] = sum_cells area_i(cell) f(cell)``, ``counts[i]`` = the segment's
    pixel count. The pooled feature is ``sums / counts``; a union of segments pools to
    ``(sum_i + sum_j) / (n_i + n_j)``, exactly what the union's mask would give.
    """
    f = fmap.detach().cpu().double().numpy() if isinstance(fmap, torch.Tensor) else np.asarray(fmap, np.float64)
    if f.ndim != 3:
        raise ValueError(f"fmap must be (C, h, w), got shape {f.shape}")
    c, h, w = f.shape
    n = _n_labels(labels, n)
    idx = labels.astype(np.int64) * (h * w) + cell_index(labels.shape, (h, w))
    weights = np.bincount(idx.ravel(), minlength=n * h * w).reshape(n, h * w).astype(np.float64)
    return weights @ f.reshape(c, h * w).T, weights.sum(1)


def region_adjacency(labels: np.ndarray) -> np.ndarray:
    """Unique pairs ``(i, j)``, i < j, of segments that touch (4-neighbourhood), ``(P, 2)`` int64."""
    lab = labels.astype(np.int64)
    n = int(lab.max()) + 1 if lab.size else 0
    pairs = []
    for a, b in ((lab[:, :-1], lab[:, 1:]), (lab[:-1, :], lab[1:, :])):
        d = a != b
        lo, hi = np.minimum(a[d], b[d]), np.maximum(a[d], b[d])
        pairs.append(lo * n + hi)
    keys = np.unique(np.concatenate(pairs)) if pairs else np.zeros(0, np.int64)
    return np.stack([keys // max(n, 1), keys % max(n, 1)], 1) if len(keys) else np.zeros((0, 2), np.int64)
