"""The papers' figures, redrawn from result records (the walk-throughs and the published snapshot).

Multi-panel figures are laid out in rows of at most two panels so that they stay legible at the
book's column width; every figure's title names the data, backbone and profile it came from.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from vsalib.plots import MIN_FONT  # noqa: F401  (importing vsalib.plots sets the book's font sizes)


def sun2016_fig4(runs: pd.DataFrame, title: str, *, k: int = 1, preset: str = "sun2016"):
    """Sun2016 Fig. 4 and its companions, 2 × 2: accuracy against K per ranking, against β and α (at
    ``k``), and against K for the three normalisations of Obj; the fine-tuned global model dashed."""
    from vsalib.methods import sun2016

    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    axes = axes.ravel()
    for rk in sun2016.RANKINGS:
        c = sun2016.curve(runs, "sun2016-lf", "k", ranking=rk)
        if len(c):
            axes[0].errorbar(c["k"], c["mean"], yerr=c["ci95"], marker="o", ms=3, capsize=2, label=rk)
    g = runs[runs["method"] == "global-finetune"]["metrics.accuracy"] if len(runs) else pd.Series(dtype=float)
    for ax in axes:
        if len(g):
            ax.axhline(100 * g.mean(), color="gray", ls="--", lw=1, label="global (fine-tuned)")
        ax.set_ylabel("accuracy %")
    axes[0].set_xlabel("K (regions fused)")
    axes[0].set_title("late fusion against K (Fig. 4)")
    for ax, (method, param, what) in zip(axes[1:3], (("sun2016-lf-beta", "beta", "β (Eq. 3)"),
                                                     ("sun2016-lf-alpha", "alpha", "α (Eq. 2)"))):
        c = sun2016.curve(runs, method, param)
        if len(c):
            ax.errorbar(c[param], c["mean"], yerr=c["ci95"], marker="o", capsize=2)
            ax.set_xscale("symlog", linthresh=0.1)
        else:
            ax.text(0.5, 0.5, f"no {param} sweep:\nthe {preset} preset has no {what}", ha="center", va="center",
                    transform=ax.transAxes)
        ax.set_xlabel(f"{what}, K = {k}")
        ax.set_title(f"obj+senti against {what}")
    for norm in sun2016.OBJ_NORMS:
        c = sun2016.curve(runs, "sun2016-lf-objnorm", "k", norm=norm)
        if len(c):
            axes[3].errorbar(c["k"], c["mean"], yerr=c["ci95"], marker="o", ms=3, capsize=2, label=f"Obj / {norm}")
    axes[3].set_xlabel("K (obj+senti)")
    axes[3].set_title("normalisation of Obj (not given by the paper)")
    for ax in (axes[0], axes[3]):
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def k_curves(curves: pd.DataFrame, title: str):
    """Fig. 4 across subsets: one line per subset, accuracy against K (``sun2016.k_curves_by_subset``)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for sub, c in curves.groupby("subset"):
        ax.errorbar(c["k"], c["mean"], yerr=c["ci95"], marker="o", ms=3, capsize=2, label=f"{sub}-agree"
                    if sub in ("five", "four", "three") else str(sub))
    ax.set_xlabel("K (regions fused, obj+senti)")
    ax.set_ylabel("accuracy %")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def rcnngsr_fig5(ab: pd.DataFrame, title: str):
    """R-CNNGSR Fig. 5: accuracy of f(x) and of the fused prediction per regulariser variant."""
    fig, ax = plt.subplots(figsize=(7, 4))
    x = np.arange(len(ab))
    for j, col in enumerate(("f(x)", "R-CNNGSR")):
        ax.bar(x + (j - 0.5) * 0.38, ab[col], 0.38, yerr=ab[f"{col} ci95"].fillna(0), capsize=3, label=col)
    ax.set_xticks(x, ab["variant"])
    lo = np.nanmin(ab[["f(x)", "R-CNNGSR"]].to_numpy()) if len(ab) else 0
    if np.isfinite(lo):
        ax.set_ylim(max(0, lo - 10), 100)
    ax.set_ylabel("accuracy %")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


__all__ = ["MIN_FONT", "k_curves", "rcnngsr_fig5", "sun2016_fig4"]


# -- WSIDNet ----------------------------------------------------------------------------------------------
def wsidnet_maps(image, maps: np.ndarray, order, emotion_probs: np.ndarray, title: str, *, truth: str | None = None,
                 cam: np.ndarray | None = None, box=None, per_row: int = 4):
    """One image's emotion maps (C, h, w), each upsampled onto the image and titled with its emotion's
    probability (softmax of Eq. 1's v), the Backbone's Grad-CAM beside them where given, and the
    affective object's box (white, dashed) where known."""
    from PIL import Image

    from vsalib.explain import overlay

    img = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    h, w = img.shape[:2]
    panels = [("image" + (f" (truth: {truth})" if truth else ""), None)]
    lo, hi = float(maps.min()), float(maps.max())
    for c, name in enumerate(order):
        m = np.asarray(Image.fromarray(((maps[c] - lo) / (hi - lo + 1e-12)).astype(np.float32)).resize((w, h),
                                                                                                       Image.BILINEAR))
        panels.append((f"{name}: p = {emotion_probs[c]:.2f}", m))
    if cam is not None:
        panels.append(("Backbone Grad-CAM", np.asarray(Image.fromarray(cam.astype(np.float32)).resize((w, h)))))
    rows = int(np.ceil(len(panels) / per_row))
    fig, axes = plt.subplots(rows, per_row, figsize=(2.6 * per_row, 2.7 * rows))
    for ax, (name, m) in zip(axes.ravel(), panels):
        ax.imshow(img if m is None else overlay(img, m))
        bold = m is not None and name.split(":")[0] == truth
        ax.set_title(name, fontsize=9, fontweight="bold" if bold else "normal")
        if box is not None:
            x0, y0, x1, y1 = box
            ax.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="white", ls="--", lw=1.2))
    for ax in axes.ravel():
        ax.axis("off")
    fig.suptitle(title, wrap=True)
    fig.tight_layout()
    return fig


def adjacency_heatmap(a: np.ndarray, order, title: str, ax=None):
    """A graph's adjacency (Eq. 3's A, or the normalised Â of Eqs. 4–5) as an annotated heat map."""
    import seaborn as sns

    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 4.4))
    sns.heatmap(pd.DataFrame(a, index=list(order), columns=list(order)), annot=True, fmt=".2f", cmap="viridis",
                ax=ax, cbar=False, annot_kws={"size": 9}, square=True)
    ax.set_title(title, fontsize=10)
    return ax
