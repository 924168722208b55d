"""Figures shared by the notebooks: image grids with boxes and masks, class balance."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

from vsalib.data.images import open_image


def image_grid(paths: Sequence[str], titles: Sequence[str] | None = None, *, boxes=None, masks=None,
               ncols: int = 8, thumb: float = 1.6, max_side: int = 256):
    """A grid of images with optional titles, boxes ``(x0, y0, x1, y1)`` and mask outlines."""
    n = len(paths)
    nrows = max(1, int(np.ceil(n / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(thumb * ncols, thumb * nrows * 1.15), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, path in enumerate(paths):
        ax = axes.ravel()[i]
        im = open_image(path)
        scale = min(1.0, max_side / max(im.size))
        if scale < 1:
            im = im.resize((max(1, int(im.width * scale)), max(1, int(im.height * scale))))
        ax.imshow(im)
        if masks is not None and masks[i] is not None:
            m = np.asarray(open_image(masks[i]).convert("L").resize(im.size)) > 127
            ax.contour(m, levels=[0.5], colors="yellow", linewidths=0.8)
        if boxes is not None and boxes[i] is not None:
            x0, y0, x1, y1 = (float(v) * scale for v in boxes[i])
            ax.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="red", lw=1.2))
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=8)
    fig.tight_layout()
    return fig


def class_balance(counts: dict[str, int], title: str = "", ax=None):
    """A bar chart of images per class."""
    if ax is None:
        _, ax = plt.subplots(figsize=(max(3, 0.6 * len(counts) + 1.5), 2.6))
    ax.bar(list(counts), list(counts.values()), color="#4C72B0")
    ax.set_ylabel("images")
    ax.set_title(title, fontsize=10)
    ax.tick_params(axis="x", rotation=45 if len(counts) > 3 else 0)
    return ax
