"""Control region sets: boxes that know nothing of the image, to tell "emotional regions" from "any K extra
crops" (MultiLevelRCNN's Table 1 compares region sources; a gain that random boxes or a fixed grid also
give is not the regions' doing).

- :func:`grid_boxes`: the cells of an n × n grid (3 × 3: nine cells), row by row;
- :func:`random_boxes`: k boxes drawn uniformly, seeded per image, each side at least ``min_side`` of the
  image's.
"""

from __future__ import annotations

import numpy as np
import torch


def grid_boxes(width: int, height: int, n: int = 3) -> torch.Tensor:
    """The n × n grid's cells (n², 4; x0, y0, x1, y1), row by row, covering the image exactly."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    xs, ys = np.linspace(0, width, n + 1), np.linspace(0, height, n + 1)
    return torch.tensor([[xs[j], ys[i], xs[j + 1], ys[i + 1]] for i in range(n) for j in range(n)], dtype=torch.float32)


def random_boxes(width: int, height: int, k: int = 10, seed: int = 0, min_side: float = 0.2) -> torch.Tensor:
    """``k`` boxes (k, 4) inside the image, corners uniform, each side at least ``min_side`` of the image's;
    the same ``seed`` gives the same boxes."""
    if k < 1 or not 0.0 < min_side <= 1.0:
        raise ValueError(f"k must be >= 1 and min_side in (0, 1], got {k}, {min_side}")
    rng = np.random.default_rng(seed)
    out = []
    for side in (width, height):
        length = rng.uniform(min_side * side, side, size=k)
        start = rng.uniform(0, side - length)
        out.append((start, start + length))
    (x0, x1), (y0, y1) = out
    return torch.tensor(np.stack([x0, y0, x1, y1], axis=1), dtype=torch.float32)


__all__ = ["grid_boxes", "random_boxes"]
