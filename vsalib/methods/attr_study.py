"""What the AttrAttention chapter reports from its records: the four variants beside the paper's 99 % and 70 %,
how far the attribute alone fixes the label, the shuffled-attribute check, augmentation before vs after the split,
and the attention maps of one image under several attributes beside Grad-CAM of the image-only model; its section on
the real benchmarks (:class:`AttrAttentionChapter`)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
from torch import nn

from vsalib import chapters, report, sections
from vsalib.methods import attr_attention as A

#: The chapter's rows: (our variant, what it is, the card row it gives, whether it reads a test image's attribute).
VARIANT_ROWS = (
    ("image", "image only (uniform weights, no attribute)", "Sentiment detector", False),
    ("true", "the true attribute at test time (as printed)", "AttrAttention", True),
    ("predicted", "a predicted attribute at test time", "AttrAttention, predicted attribute", False),
    ("only", "the attribute alone, no image", "the attribute alone", True),
)


def published_table() -> pd.DataFrame:
    """The paper's Table 1 (VSO, 2 classes) as printed."""
    t = report.paper_table("attr_attention", 1)
    return t


def variants_table(runs: pd.DataFrame, source: str | None = None) -> pd.DataFrame:
    """Per variant: the paper's % (VSO) where it prints one, ours (mean, 95 % CI, n) and whether it reads the test
    image's own attribute."""
    values = A.AttrAttention.paper_values(runs, "", None, source=source)
    rows = []
    for variant, what, card_row, reads in VARIANT_ROWS:
        per, paper = values[card_row]
        m, c, n = report.mean_ci_pct(per)
        rows.append({"variant": variant, "what": what, "paper (VSO) %": paper, "ours": m, "ci95": c, "runs": n,
                     "reads the test attribute": "yes" if reads else "no"})
    return pd.DataFrame(rows)


def formatted_variants(runs: pd.DataFrame, source: str | None = None) -> pd.DataFrame:
    """:func:`variants_table` as the chapter prints it."""
    t = variants_table(runs, source)
    return pd.DataFrame({"variant": t["what"], "paper (VSO) %": t["paper (VSO) %"].map(report.fmt_num),
                         "ours %": [report.fmt_acc(m, c, n) if n else report.DASH
                                    for m, c, n in zip(t["ours"], t["ci95"], t["runs"])],
                         "reads the test image's attribute": t["reads the test attribute"]})


def claims(runs: pd.DataFrame, source: str | None = None, *, run_only: bool = True) -> pd.DataFrame:
    """What held of the card's claims on the records of one attribute source (paired per-split gains);
    ``run_only``: without the claims whose two variants did not both run."""
    v = report.card_claims(A.CARD, A.AttrAttention.paper_values(runs, "", None, source=source),
                           A.select_source(runs, source))
    return v[v["verdict"] != "–"].reset_index(drop=True) if run_only else v


def attribute_purity(attributes, labels, classes) -> tuple[pd.DataFrame, dict]:
    """How far an attribute fixes the label, on images whose labels may be read (training and validation parts):
    per attribute its images and the share of each class; overall the accuracy of the lookup *attribute → its
    majority class* on those images and the share of the label's entropy the attribute explains (normalised mutual
    information I(A; Y) / H(Y))."""
    from sklearn.metrics import mutual_info_score

    a, y = np.asarray(attributes).astype(str), np.asarray(labels).astype(int)
    t = pd.crosstab(pd.Series(a, name="attribute"), pd.Series(y, name="label"))
    t.columns = [classes[int(c)] for c in t.columns]
    n = t.sum(axis=1)
    out = pd.DataFrame({"attribute": t.index, "images": n.to_numpy()})
    for c in t.columns:
        out[f"share {c}"] = (t[c] / n).to_numpy()
    out["majority"] = t.idxmax(axis=1).to_numpy()
    p = np.bincount(y) / len(y)
    h = float(-(p[p > 0] * np.log(p[p > 0])).sum())
    summary = {"lookup_accuracy": float(t.max(axis=1).sum() / len(y)),
               "majority_rate": float(p.max()),
               "nmi": float(mutual_info_score(a, y) / h) if h > 0 else math.nan}
    return out.sort_values("images", ascending=False).reset_index(drop=True), summary


def shuffled_table(runs: pd.DataFrame, source: str | None = None) -> pd.DataFrame:
    """Per split: the true-attribute model's accuracy, and the same model's when each test image is given another
    test image's attribute (shuffled among them)."""
    t = A.select_source(runs, source)
    t = t[(t["method"] == A.AttrAttention.name) & (t["params.variant"] == "true")] if len(t) else t
    if not len(t) or "metrics.accuracy_shuffled_attribute" not in t:
        return pd.DataFrame(columns=["seed", "fold", "true attribute %", "shuffled attribute %"])
    return pd.DataFrame({"seed": t["seed"].astype(int), "fold": t["fold"].astype(int),
                         "true attribute %": 100 * t["metrics.accuracy"],
                         "shuffled attribute %": 100 * t["metrics.accuracy_shuffled_attribute"]}
                        ).sort_values(["seed", "fold"]).reset_index(drop=True)


def augmentation_table(runs: pd.DataFrame, source: str | None = None) -> pd.DataFrame:
    """Per split: the accuracy on the inner split of its training part with the augmented copies split with their
    image (after) and as separate images (before, the paper's order), and the share of the inner test images whose
    copy was trained on."""
    t = runs[runs["method"] == "attr-attention-augment"] if len(runs) else runs
    t = A.select_source(t, source) if len(t) else t
    cols = ["seed", "fold", "after %", "before %", "gain from the order", "test images seen in training %"]
    if not len(t):
        return pd.DataFrame(columns=cols)
    after, before = 100 * t["metrics.accuracy_after"], 100 * t["metrics.accuracy_before"]
    return pd.DataFrame({"seed": t["seed"].astype(int), "fold": t["fold"].astype(int), "after %": after,
                         "before %": before, "gain from the order": before - after,
                         "test images seen in training %": 100 * t["metrics.test_images_seen_in_training"]},
                        columns=cols).sort_values(["seed", "fold"]).reset_index(drop=True)


@torch.no_grad()
def attention_maps(model: A.AttributeAttention, grids: torch.Tensor, attributes: torch.Tensor) -> np.ndarray:
    """The weights o_i (Eq. 5) of each image under the given attributes, as maps (B, h, w)."""
    _, o = model(grids, attributes)
    return o.reshape(len(grids), *grids.shape[-2:]).numpy()


class _OnGrid(nn.Module):
    """The image-only model as a network of the grid, with an identity layer on its input for Grad-CAM."""

    def __init__(self, model: A.AttributeAttention):
        super().__init__()
        self.cells, self.model = nn.Identity(), model

    def forward(self, grid):
        return self.model(self.cells(grid), None)[0]


def image_gradcam(model: A.AttributeAttention, grids: torch.Tensor, classes=None) -> np.ndarray:
    """Grad-CAM (pytorch-grad-cam) of the image-only model on the grid's cells (B, h, w) in [0, 1], for the
    predicted class unless ``classes``."""
    from vsalib.explain import gradcam

    wrapped = _OnGrid(model).eval()
    return gradcam(wrapped, grids.clone().requires_grad_(True), wrapped.cells, classes)


__all__ = ["VARIANT_ROWS", "view_image", "wrong_attribute", "attention_maps", "attribute_purity", "augmentation_table", "claims", "formatted_variants",
           "image_gradcam", "published_table", "shuffled_table", "variants_table"]


def view_image(path: str, size: int) -> np.ndarray:
    """The centre crop the grid of ``path`` was computed on (the backbone's eval transform without normalising),
    as (size, size, 3) in [0, 1]."""
    from torchvision import transforms as T

    from vsalib.data.images import open_image

    crop = T.Compose([T.Resize(int(round(size * 256 / 224))), T.CenterCrop(size)])
    return np.asarray(crop(open_image(path).convert("RGB")), dtype=np.float32) / 255.0


def wrong_attribute(purity: pd.DataFrame, name: str) -> str:
    """For an image with attribute ``name``, the most frequent attribute whose majority class (on the training and
    validation images of :func:`attribute_purity`) differs from ``name``'s: a wrong attribute chosen without the
    test image's label."""
    major = dict(zip(purity["attribute"], purity["majority"]))
    own = major.get(name)
    other = purity[purity["majority"] != own] if own is not None else purity[purity["attribute"] != name]
    return str(other["attribute"].iloc[0]) if len(other) else str(purity["attribute"].iloc[0])


#: The attribute sources as the captions name them.
SOURCE_NAMES = {"adjective": "the adjective", "dominant": "the dominant emotion of the votes",
                "folder": "the folder emotion"}


@chapters.register
class AttrAttentionChapter(chapters.Chapter):
    """AttrAttention on Emotion6: the four variants beside the paper's VSO figures, the shuffled-attribute check,
    augmentation before vs after the split, the degenerate folder attribute where it ran, and the verdicts."""

    name, order, method, notebook = "attr-attention", 6, A.AttrAttention, "attr_attention"
    datasets = (("emotion6", "binary"),)
    runs = (chapters.RunGroup("attr-attention", "Emotion6 (folder polarity, three random 80/10/10 splits): "
                              "AttrAttention's four variants (image only, true, predicted and attribute alone) with the "
                              "dominant emotion as the attribute, augmentation before vs after the split, and the "
                              "degenerate folder-emotion attribute",
                              ({"dataset": "emotion6", "subset": "binary", "seeds": [0, 1, 2]},)),
            chapters.RunGroup("attr-attention-seeds", "seeds 3 and 4 of Emotion6's 80/10/10 split, for the claims "
                              "three seeds leave undecided",
                              ({"dataset": "emotion6", "subset": "binary", "seeds": [3, 4]},), main=False))
    record_methods = ("attr-attention", "attr-attention-augment")  # every attribute source, and the augmentation check

    @classmethod
    def section(cls, runs, ds, sub, bb, prof):
        main = A.select_source(runs[runs["method"] == "attr-attention"])
        source = str(main["params.attribute"].iloc[0]) if len(main) else None
        sections.show(formatted_variants(runs), report.caption(
            f"AttrAttention's four variants (attribute: {SOURCE_NAMES.get(source, source)}), paper (VSO) beside ours",
            ds, sub, bb, prof))
        sections.under(runs)
        sh = shuffled_table(runs)
        if len(sh):
            sections.md(f"With each test image given another test image's attribute, the same model scores "
                        f"{report.fmt_num(sh['shuffled attribute %'].mean())} % instead of "
                        f"{report.fmt_num(sh['true attribute %'].mean())} % (mean over {len(sh)} splits). Always "
                        f"guessing the larger class would score {report.fmt_num(sections.majority_rate(main))} % on "
                        f"these test images.")
        aug = augmentation_table(runs, source)
        with sections.folded():  # the augmentation order and the degenerate attribute: the long tail
            if len(aug):
                sections.show(pd.DataFrame({"seed": aug["seed"], "after %": aug["after %"].map(report.fmt_num),
                                            "before %": aug["before %"].map(report.fmt_num),
                                            "gain from the order": aug["gain from the order"].map(report.fmt_gain),
                                            "test images seen in training %":
                                                aug["test images seen in training %"].map(report.fmt_num)}),
                              report.caption("Augmented copies split with their image (after) or as images of their "
                                             "own (before, the paper's order), on an inner split of each training "
                                             "part", ds, sub, bb, prof))
            if len(A.select_source(runs, "folder")):
                sections.show(formatted_variants(runs, "folder"), report.caption(
                    "The degenerate attribute: the folder emotion, which fixes the label", ds, sub, bb, prof))
        sections.verdicts("AttrAttention", claims(runs, source), ds, sub, bb, prof)

