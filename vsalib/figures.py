"""The papers' figures, redrawn from result records (the walk-throughs and the published snapshot).

Multi-panel figures are laid out in rows of at most two panels so that they stay legible at the
book's column width; every figure's title names the data, backbone and profile it came from.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from vsalib.plots import MIN_FONT  # (importing vsalib.plots sets the book's font sizes)


def k_curves(curves: pd.DataFrame, title: str):
    """Fig. 4 across subsets: one line per subset, accuracy against K (``sun2016_study.k_curves_by_subset``)."""
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


def region_gain_ladder(points: pd.DataFrame, title: str, names: dict[str, str] | None = None):
    """When do regions help? Each paper × dataset's region gain against the accuracy of the whole-image model
    it was added to: the paper's point hollow, ours filled with its 95 % CI, a thin line from one to the other
    (:func:`vsalib.region_gains.ladder`). Points with no baseline (the paper prints none) are left out."""
    fig, ax = plt.subplots(figsize=(8, 5.5))
    names = names or {}
    colours = dict(zip(sorted(points["paper"].unique()), plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for (paper, dataset), g in points.groupby(["paper", "dataset"], sort=False):
        p, o = g[g["who"] == "paper"], g[g["who"] == "ours"]
        c = colours[paper]
        if len(p) and len(o) and np.isfinite(p[["baseline %", "gain"]].to_numpy()).all() \
                and np.isfinite(o[["baseline %", "gain"]].to_numpy()).all():
            ax.plot([p["baseline %"].iloc[0], o["baseline %"].iloc[0]], [p["gain"].iloc[0], o["gain"].iloc[0]],
                    color=c, lw=0.7, alpha=0.6)
        if len(p) and np.isfinite(p[["baseline %", "gain"]].to_numpy()).all():
            ax.plot(p["baseline %"], p["gain"], "o", mfc="none", mec=c, ms=8)
        if len(o) and np.isfinite(o[["baseline %", "gain"]].to_numpy()).all():
            ax.errorbar(o["baseline %"], o["gain"], yerr=o["ci"].fillna(0), fmt="o", color=c, capsize=3, ms=6)
            ax.annotate(dataset, (o["baseline %"].iloc[0], o["gain"].iloc[0]), xytext=(5, 4),
                        textcoords="offset points", fontsize=MIN_FONT, color=c)
    for paper, c in colours.items():
        ax.plot([], [], "o", color=c, label=names.get(paper, paper))
    ax.plot([], [], "o", mfc="none", mec="gray", label="the paper's gain (hollow)")
    ax.errorbar([], [], yerr=[], fmt="o", color="gray", capsize=3, label="ours, 95 % CI (filled)")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xlabel("accuracy of the whole-image model the regions are added to (%)")
    ax.set_ylabel("gain of the regions over it (points)")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=MIN_FONT)
    fig.tight_layout()
    return fig


def method_ladder(ladder: pd.DataFrame, title: str):
    """One region method on ever stronger global models (:func:`vsalib.region_gains.sun2016_ladder`): the gain
    of its regions (95 % CI) against the accuracy of the global model alone, one point per global model."""
    fig, ax = plt.subplots(figsize=(7, 5))
    short = {"frozen ImageNet features, linear classifier": "frozen features"}
    markers = "osD^vP"
    for i, (_, r) in enumerate(ladder.iterrows()):  # one colour and marker per rung, named in the legend (rungs
        # sit close together: labels beside the points would overlap)
        ax.errorbar([r["global %"]], [r["gain"]], yerr=[0 if pd.isna(r["ci95"]) else r["ci95"]],
                    fmt=markers[i % len(markers)], capsize=3, color=f"C{i}",
                    label=f"{short.get(r['global model'], r['global model'])}, "
                          f"{r['backbone'].replace('EfficientNet-', '')} ({int(r['folds'])} "
                          f"fold{'s' if int(r['folds']) != 1 else ''})")
    ax.axhline(0, color="k", lw=0.8)
    lo, hi = ladder["global %"].min(), ladder["global %"].max()
    ax.set_xlim(lo - 1.5, hi + 1.5)
    ax.legend(fontsize=MIN_FONT, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)  # below: off the bars
    ax.set_xlabel("accuracy of the global model alone (%)")
    ax.set_ylabel("gain of K = 1 region (points)")
    ax.set_title(title)
    fig.tight_layout()
    return fig


__all__ = ["MIN_FONT", "adjacency_heatmap", "method_ladder", "region_gain_ladder", "attention_panels", "k_curves", "lam_curve", "multilevel_regions", "pyramid_levels", "rcnngsr_fig5",
           "wheel_distribution", "wsidnet_maps"]


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


def multilevel_regions(image: np.ndarray, regions: dict, title: str, *, box=None, show: int = 5):
    """One image's four region sets (MultiLevelRCNN's emotional regions by S_emo, object regions by p_obj, random
    boxes, a grid), 2 × 2, each set's first ``show`` boxes numbered by rank; the emotional and object panels name
    the top region's p_emo, p_obj and S_emo. ``image``: (H, W, 3) in [0, 1] at the size the regions were found
    on; ``regions``: :func:`vsalib.methods.multilevel_regions.image_regions`'s dict; ``box``: the true box (dashed)."""
    import torch

    def top_scores(boxes):
        cand = regions["candidates"]
        if not len(cand):
            return None
        j = int(torch.cdist(cand.float(), boxes[:1].float()).argmin())
        return float(regions["p_emo"][j]), float(regions["p_obj"][j]), float(regions["s_emo"][j])

    names = {"emotional": "emotional regions (S_emo)", "object": "object regions (p_obj)",
             "random": "random boxes (control)", "grid": "3×3 grid (control)"}
    colours = {"emotional": "#2ca02c", "object": "#d62728", "random": "#ff7f0e", "grid": "#1f77b4"}
    fig, axes = plt.subplots(2, 2, figsize=(7.0, 7.0 * image.shape[0] / image.shape[1] + 1.2))
    for ax, (src, label) in zip(axes.ravel(), names.items()):
        ax.imshow(image)
        b, mask = regions[src]["boxes"], regions[src]["mask"]
        shown = [i for i in range(len(b)) if bool(mask[i])][:show]
        for rank, i in enumerate(shown, start=1):
            x0, y0, x1, y1 = (float(v) for v in b[i])
            ax.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec=colours[src], lw=2.2 if rank == 1 else 1.1))
            ax.text(x0 + 2, y0 + 2, str(rank), color="white", fontsize=MIN_FONT, va="top",
                    bbox=dict(fc=colours[src], ec="none", pad=1.0))
        if box is not None:
            x0, y0, x1, y1 = box
            ax.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="white", ls="--", lw=1.4))
        sub = label
        if src in ("emotional", "object") and shown:
            sc = top_scores(b[shown[0]:shown[0] + 1])
            if sc is not None:
                sub += f"\n#1: p_emo {sc[0]:.2f}, p_obj {sc[1]:.2f}, S_emo {sc[2]:.2f}"
        ax.set_title(sub, fontsize=10)
        ax.axis("off")
    fig.suptitle(title, wrap=True)
    fig.tight_layout()
    return fig


def pyramid_levels(levels: dict, title: str):
    """The feature pyramid's levels P2–P5 of one image: each level's mean absolute activation, its grid size in
    the title (strides 4, 8, 16, 32)."""
    fig, axes = plt.subplots(2, 2, figsize=(8.5, 7.0))
    for ax, (name, fmap) in zip(axes.ravel(), levels.items()):
        m = fmap[0].abs().mean(0).detach().cpu().numpy()
        ax.imshow(m, cmap="magma")
        ax.set_title(f"{name}: {m.shape[0]} × {m.shape[1]} cells", fontsize=10)
        ax.axis("off")
    fig.suptitle(title, wrap=True)
    fig.tight_layout()
    return fig


def wheel_distribution(dist: pd.Series, label: str, p_star: float, title: str, ax=None):
    """Eq. 4's distribution for one dominant emotion as bars in the wheel's order, the label's bar dark."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 3.4))
    colours = ["#1f4e79" if e == label else "#9ecae1" for e in dist.index]
    ax.bar(range(len(dist)), dist.values, color=colours)
    ax.set_xticks(range(len(dist)), list(dist.index), rotation=30, ha="right")
    ax.set_ylabel("f(i)")
    ax.set_ylim(0, 1)
    for i, v in enumerate(dist.values):
        ax.text(i, v + 0.02, f"{v:.2f}", ha="center", fontsize=9)
    ax.set_title(f"{title}: dominant {label}, p* = {p_star:g}", fontsize=10)
    return ax


def lam_curve(sweep: pd.DataFrame, title: str, paper_lam: float = 0.4):
    """Fig. 8 redrawn: test accuracy (mean ± 95 % CI over folds) and validation accuracy against λ, the paper's λ
    and the value validation chose most often marked."""
    t = sweep[sweep["λ"] != "chosen on validation"]
    lam = t["λ"].astype(float).to_numpy()
    fig, ax = plt.subplots(figsize=(7.0, 4.0))
    ax.errorbar(lam, t["test %"], yerr=t["ci95"].fillna(0), marker="o", capsize=3, label="test")
    ax.plot(lam, t["validation %"], marker="s", ls="--", label="validation")
    ax.axvline(paper_lam, color="grey", ls=":", label=f"paper's λ = {paper_lam:g}")
    if len(t) and t["chosen on (folds)"].max() > 0:
        best = float(t.loc[t["chosen on (folds)"].idxmax(), "λ"])
        ax.axvline(best, color="#2ca02c", ls="-.", label=f"chosen most often on validation: {best:g}")
    ax.set_xlabel("λ (Eq. 6)")
    ax.set_ylabel("accuracy %")
    ax.legend(fontsize=9)
    ax.set_title(title, fontsize=10, wrap=True)
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


def attention_panels(images: list, panels: list[list[tuple[str, np.ndarray]]], title: str):
    """AttrAttention's weights on a few images: one column per image, its picture on top, then one overlay per map
    (each ``(label, map (h, w))`` in the image's ``panels``: a map of the grid's cells scaled to its maximum and
    upsampled to the picture), so that the figure fits the book's column. ``images``: (H, W, 3) in [0, 1]."""
    import cv2

    from vsalib.explain import overlay

    rows = 1 + max(len(p) for p in panels)
    fig, axes = plt.subplots(rows, len(images), figsize=(2.3 * len(images), 2.45 * rows + 0.5), squeeze=False)
    for c, (image, column) in enumerate(zip(images, panels)):
        axes[0, c].imshow(image)
        axes[0, c].set_title(f"image {c + 1}", fontsize=MIN_FONT)
        for r, (label, m) in enumerate(column, start=1):
            m = np.asarray(m, dtype=np.float32)
            m = m / m.max() if m.max() > 0 else m
            up = cv2.resize(m, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST)
            axes[r, c].imshow(overlay(image, up))
            axes[r, c].set_title(label, fontsize=MIN_FONT)
        for ax in axes[:, c]:
            ax.axis("off")
    fig.suptitle(title, wrap=True, fontsize=MIN_FONT + 1)
    fig.tight_layout()
    return fig
