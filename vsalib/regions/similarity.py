"""The similarities of selective search (Uijlings et al., IJCV 2013, Sec. 3.2) and R-CNNGSR's sentiment term.

Each takes two regions' descriptors (or one region's against many, as arrays) and returns a value in [0, 1]:

- :func:`histogram_intersection`: colour and texture, ``sum_k min(c_i^k, c_j^k)`` of L1-normalised histograms;
- :func:`size_similarity`: ``1 - (size(r_i) + size(r_j)) / size(im)``, small regions merge early;
- :func:`fill_similarity`: ``1 - (size(BB_ij) - size(r_i) - size(r_j)) / size(im)``, regions that fill
  each other's gaps merge early;
- :func:`cosine_similarity`: R-CNNGSR's sentiment similarity, the cosine of the two regions' CNN predictions.

:func:`merge_histograms` gives the merged region's histogram, ``(n_i h_i + n_j h_j) / (n_i + n_j)``, so that
no histogram is recomputed from pixels (Uijlings' propagation)."""

from __future__ import annotations

import numpy as np


def histogram_intersection(h_i, h_j) -> np.ndarray | float:
    """``sum_k min(h_i^k, h_j^k)`` over the last axis (L1-normalised histograms give [0, 1])."""
    return np.minimum(np.asarray(h_i, dtype=np.float64), np.asarray(h_j, dtype=np.float64)).sum(-1)


def size_similarity(size_i, size_j, image_size: float) -> np.ndarray | float:
    """``s_size = 1 - (size(r_i) + size(r_j)) / size(im)`` (pixels): small regions merge first."""
    return 1.0 - (np.asarray(size_i, dtype=np.float64) + np.asarray(size_j, dtype=np.float64)) / float(image_size)


def boxes_area(b) -> np.ndarray:
    b = np.asarray(b, dtype=np.float64)
    return (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])


def union_box(box_i, box_j) -> np.ndarray:
    """The tight box ``BB_ij`` around two ``(x1, y1, x2, y2)`` boxes (broadcasts over rows)."""
    a, b = np.asarray(box_i), np.asarray(box_j)
    return np.concatenate([np.minimum(a[..., :2], b[..., :2]), np.maximum(a[..., 2:], b[..., 2:])], -1)


def fill_similarity(box_i, box_j, size_i, size_j, image_size: float) -> np.ndarray | float:
    """``s_fill = 1 - (size(BB_ij) - size(r_i) - size(r_j)) / size(im)``: regions that fill each other's gaps.

    Boxes ``(x1, y1, x2, y2)`` with exclusive x2/y2, so a box's size is ``(x2 - x1)(y2 - y1)`` pixels.
    """
    bb = boxes_area(union_box(box_i, box_j))
    return 1.0 - (bb - np.asarray(size_i, dtype=np.float64) - np.asarray(size_j, dtype=np.float64)) / float(image_size)


def cosine_similarity(p, q, eps: float = 1e-12) -> np.ndarray | float:
    """R-CNNGSR's sentiment similarity: ``p · q / (|p| |q|)`` of two prediction vectors (last axis).

    For softmax vectors it lies in [0, 1]. A zero vector gives 0.
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    den = np.linalg.norm(p, axis=-1) * np.linalg.norm(q, axis=-1)
    return (p * q).sum(-1) / np.maximum(den, eps)


def merge_histograms(h_i, n_i, h_j, n_j) -> np.ndarray:
    """Uijlings' incremental update ``h_t = (n_i h_i + n_j h_j) / (n_i + n_j)`` (sizes in pixels)."""
    n_i, n_j = float(n_i), float(n_j)
    return (n_i * np.asarray(h_i, dtype=np.float64) + n_j * np.asarray(h_j, dtype=np.float64)) / (n_i + n_j)
