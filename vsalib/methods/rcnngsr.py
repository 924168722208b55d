"""R-CNNGSR: region-based CNN with group sparse regularisation (Xiong, Liu, Song, Cai, 2019).

The method, step by step (each step a piece of :mod:`vsalib`):

1. **Train** the whole-image CNN with cross-entropy (Eq. 2 read as KL(label ‖ prediction)) plus
   ``R = ξ1 (R_l1 + R_l2,1) + ξ2 R_l2`` (Eq. 4–6) over its trainable layers, per-group learning
   rates (conv / fc / classifier): :func:`vsalib.methods.global_cnn.run_finetune` with a
   :class:`vsalib.losses.GroupSparseRegularizer`; records ``rcnngsr-train``, with the sparsity of
   the trained network (groups whose norm is under a threshold, the accuracy with those groups
   removed, parameter counts).
2. **Sentiment regions**: selective-search grouping of Felzenszwalb segments with colour, texture,
   size, fill **and** sentiment (cosine of the model's predictions) similarity, filtered
   (aspect ≤ 5, ≥ 200 px): :func:`vsalib.regions.grouping.sentiment_regions`.
3. **Fusion** (Eq. 3): ``Y = f(x) + Σ_r area(x_r)/area(x) · f(x_r)`` over all regions, argmax:
   :func:`vsalib.regions.fusion.area_weighted_fusion`; records ``rcnngsr-fusion``, one per grouping
   (with and without the sentiment term) and fusion reading.

Only whole images train the CNN; regions are used at inference. Each split's regions come from that
split's own trained model, so no test image trains anything.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

from vsalib.data.images import open_image
from vsalib.data.registry import ImageDataset
from vsalib.losses import GroupSparseRegularizer, remove_dead_groups, select_layers, sparsity_report
from vsalib.progress import tqdm
from vsalib.regions import fusion as F
from vsalib.regions import scoring as S
from vsalib.regions.grouping import GroupingConfig, sentiment_regions
from vsalib import provenance
from vsalib.methods.base import Claim, Fold, FoldId, FoldMismatchError, PaperCard, PaperRow, pair_by_identity
from vsalib.results import Record, ResultStore
from vsalib.train.features import cache_root, cached_per_image
from vsalib.train.loop import evaluate_model

#: Bump when a change here changes the numbers of ``rcnngsr-*`` records (say what changed).
VERSION = provenance.declare_method("rcnngsr", 1, depends=("global",), changes={
    1: "first published version: sentiment selective search from Felzenszwalb segments, regions as "
       "boxes scored by RoIAlign, Eq. 3 as printed and as a weighted average, subgradient training with R",
})

#: R-CNNGSR as data: citation, equations, our readings, Table 2's rows and what each part brings (claims).
CARD = PaperCard(
    key="rcnngsr",
    title="Region-based convolutional neural network using group sparse regularization for image sentiment "
          "classification",
    venue="EURASIP Journal on Image and Video Processing 2019",
    table=2,
    equations={"Eq. 3": "Y = f(x) + sum_r area(x_r)/area(x) f(x_r)",
               "Eq. 4": "R_gs = R_l1 + R_l2,1", "Eq. 5": "R_l2 = ||w||^2",
               "Eq. 6": "R = xi1 R_gs + xi2 R_l2"},
    readings={"loss": "KL(label || prediction) = cross-entropy (as printed, KL(pred || label) is infinite)",
              "groups": "columns W[:, j] of every trainable Linear / conv weight (input and hidden groups)",
              "R_l2": "squared norm (weight decay)", "optimisation": "subgradient (proximal step optional)",
              "fusion": "probabilities, the printed unnormalised sum (the 'weighted average' reading offered)",
              "regions": "filtered after merging; scored as boxes"},
    rows=(
        PaperRow("VGG16", "global-frozen"),
        PaperRow("VGG16 fine-tuned", "global-finetune"),
        PaperRow("f(x) trained with R", "rcnngsr-train"),
        PaperRow("f(x) with dead groups removed", "rcnngsr-train", metric="accuracy_compact"),
        PaperRow("R-CNNGSR", "rcnngsr-fusion", {"sentiment": "with"}),
        PaperRow("R-CNNGSR, grouping without sentiment", "rcnngsr-fusion", {"sentiment": "without"}),
    ),
    claims=(
        Claim("the regulariser R (f(x) against plain fine-tuning)", "f(x) trained with R", "VGG16 fine-tuned"),
        Claim("removing the dead groups (compact network against f(x))", "f(x) with dead groups removed",
              "f(x) trained with R"),
        Claim("the regions (Eq. 3 against f(x) alone)", "R-CNNGSR", "f(x) trained with R"),
        Claim("the sentiment similarity in the grouping", "R-CNNGSR", "R-CNNGSR, grouping without sentiment"),
        Claim("R-CNNGSR against plain fine-tuning", "R-CNNGSR", "VGG16 fine-tuned"),
    ),
    datasets={("emotion6", "binary"): "emotion6", ("iaps", "binary"): "iaps-subset",
              ("abstract", "binary"): "abstract", ("artphoto", "binary"): "artphoto"},
)


FUSION_READINGS = F.AREA_READINGS
SENTIMENT_VARIANTS = ("with", "without")  # the grouping's sentiment similarity on / off


@dataclass(frozen=True)
class RCNNGSRConfig:
    """Every choice of R-CNNGSR; defaults are the paper's values or our documented readings.

    ``xi1``/``xi2``: Eq. 6 (paper: 0.001, 0.0005; Fig. 5: ``xi1=0`` is L2 only, ``xi2=0`` GS only).
    ``proximal``: apply the sparse group lasso's proximal step after each SGD step instead of its
    subgradient (the paper does not say; subgradients barely zero any group). ``gs_scale``: a
    sqrt(group size) factor on the L2,1 groups (not stated). ``sparsity_threshold``: a group counts
    as dead when its norm is at most this. ``grouping``: the sentiment-region detection.
    ``fusion_readings``: Eq. 3 readings written as records (``sum`` as printed, ``average``).
    """

    xi1: float = 1e-3
    xi2: float = 5e-4
    proximal: bool = False
    gs_scale: str = "none"
    sparsity_threshold: float = 1e-3
    grouping: GroupingConfig = field(default_factory=GroupingConfig)
    fusion_readings: tuple[str, ...] = FUSION_READINGS

    def __post_init__(self):
        for name in ("xi1", "xi2", "sparsity_threshold"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        bad = [r for r in self.fusion_readings if r not in FUSION_READINGS]
        if bad or not self.fusion_readings:
            raise ValueError(f"fusion_readings must be a non-empty subset of {FUSION_READINGS}, got "
                             f"{self.fusion_readings}")

    def regularizer(self) -> GroupSparseRegularizer:
        return GroupSparseRegularizer(self.xi1, self.xi2, scale=self.gs_scale, proximal=self.proximal)


# -- step 1: training with the regulariser, and what it made sparse ------------------------------

def sparsity_metrics(threshold: float):
    """``on_trained`` callback of :func:`~vsalib.methods.global_cnn.run_finetune`: the trained
    network's group sparsity (its trainable layers) and the test accuracy with its dead groups removed."""

    def measure(model, test_loader, device) -> dict:
        rep = sparsity_report(model, threshold, layers=[m for _, m in select_layers(model, trainable_only=True)])
        compact = copy.deepcopy(model)
        removed = remove_dead_groups(compact, threshold)
        ev = evaluate_model(compact, test_loader, device)
        n_params = sum(p.numel() for p in model.parameters())
        return {"groups": int(rep["groups"].sum()), "dead_groups": int(rep["dead_groups"].sum()),
                "dead_fraction": float(rep["dead_groups"].sum() / max(rep["groups"].sum(), 1)),
                "zero_weights": int(rep["zero_weights"].sum()), "regularised_weights": int(rep["weights"].sum()),
                "params": int(n_params), "params_compact": int(n_params - removed),
                "accuracy_compact": float(ev["accuracy"]), "sparsity_threshold": float(threshold)}

    return measure


def train(dataset: ImageDataset, splits, cfg: RCNNGSRConfig, **finetune_kw) -> list[Record]:
    """Step 1 on every split: the global CNN trained with R (records ``rcnngsr-train``)."""
    from vsalib.methods import global_cnn

    return global_cnn.run_finetune(dataset, splits, regularizer=cfg.regularizer(), method="rcnngsr-train",
                                   on_trained=sparsity_metrics(cfg.sparsity_threshold), **finetune_kw)


# -- steps 2-3 on one image ---------------------------------------------------------------------

@dataclass
class ImageRegions:
    """One image's whole-image prediction and its sentiment regions (Eq. 3's inputs)."""

    global_probs: torch.Tensor  # (M,)
    boxes: torch.Tensor  # (R, 4)
    areas: torch.Tensor  # (R,)
    probs: torch.Tensor  # (R, M)
    image_area: float
    seconds: float = 0.0

    def fuse(self, reading: str = "sum") -> F.FusionResult:
        """Eq. 3 (``reading="sum"``, as printed) or the area-weighted average of the regions plus f(x)."""
        return F.area_weighted_fusion(self.global_probs, self.probs, self.areas, self.image_area, reading=reading)


def analyse_image(model, image, grouping: GroupingConfig, size: int | None = None) -> ImageRegions:
    """Steps 2–3's inputs for one image: ``f(x)`` (the evaluation transform) and the scored regions."""
    if isinstance(image, (str, os.PathLike)):
        image = open_image(image)
    t0 = time.perf_counter()
    g = S.whole_image_probs(model, image, size=size, how="center")
    reg = sentiment_regions(image, replace(grouping, cnn_size=grouping.cnn_size or size), model)
    w, h = image.size
    return ImageRegions(g.float().cpu(), reg.boxes, reg.areas, reg.probs.float().cpu(), float(w * h),
                        time.perf_counter() - t0)


def _regions_cache(grouping: GroupingConfig, model_key: str, cache_dir) -> Path:
    key = hashlib.sha1(json.dumps([asdict(grouping), model_key], sort_keys=True, default=str).encode()).hexdigest()[:16]
    return cache_root(cache_dir) / "rcnngsr_regions" / f"{key}.pt"


def dataset_regions(model, paths: Sequence[str], grouping: GroupingConfig, *, model_key: str, size=None,
                    cache_dir=None, progress: bool = True, save_every: int = 50) -> list[ImageRegions]:
    """:func:`analyse_image` of every path, cached on disk per (grouping, model) and saved every
    ``save_every`` images (atomic writes), so an interrupted run resumes where it stopped."""
    desc = f"sentiment regions ({'with' if grouping.sentiment > 0 else 'without'} sentiment)"
    return cached_per_image(paths, lambda p: analyse_image(model, p, grouping, size),
                            _regions_cache(grouping, model_key, cache_dir), desc=desc, progress=progress,
                            save_every=save_every)


def fusion_accuracy(regions: Sequence[ImageRegions], labels, reading: str = "sum") -> tuple[float, np.ndarray]:
    """Accuracy of Eq. 3 over images, and its predictions."""
    preds = np.asarray([r.fuse(reading).prediction for r in regions])
    return float((preds == np.asarray(labels)).mean()), preds


# -- the experiment: Table 2 and Fig. 5 -----------------------------------------------------------

def run_rcnngsr(dataset: ImageDataset, train_records: Sequence[Record], splits, cfg: RCNNGSRConfig, *,
                sentiment: Iterable[str] = SENTIMENT_VARIANTS,
                store: ResultStore | None = None, cache_dir=None, progress: bool = True) -> list[Record]:
    """Steps 2–3 on each split with that split's trained model (``train_records``, from :func:`train`,
    paired with the splits by dataset, protocol, seed and fold; ``ValueError`` where a split has none):
    one ``rcnngsr-fusion`` record per (grouping with / without the sentiment term, fusion reading),
    with the accuracy of ``f(x)`` alone beside it, under the training record's dataset subset. A split
    whose records exist is not recomputed."""
    from vsalib.methods.global_cnn import load_finetuned

    store = ResultStore() if store is None else store
    y = dataset.labels
    records: list[Record] = []
    for split, tr in tqdm(_pair_by_identity(dataset, splits, train_records), desc="rcnngsr splits",
                          disable=not progress, leave=False):
        model = None
        for variant in sentiment:
            gcfg = cfg.grouping if variant == "with" else replace(cfg.grouping, sentiment=0.0)
            base = {"global": tr.key, "backbone": tr.params["backbone"], "image_size": tr.params["image_size"],
                    "xi1": tr.params.get("xi1"), "xi2": tr.params.get("xi2"), "sentiment": variant,
                    **{f"grouping.{k}": v for k, v in asdict(gcfg).items()}}
            ident = dict(dataset=dataset.name, subset=tr.subset, protocol=tr.protocol, method="rcnngsr-fusion",
                         seed=split.seed, fold=split.fold)
            done = [store.get(**ident, params={**base, "reading": r}) for r in cfg.fusion_readings]
            if all(d is not None for d in done):
                records += done
                continue
            if model is None:
                model = load_finetuned(tr, len(dataset.classes))
            t0 = time.perf_counter()
            paths = [dataset.paths[i] for i in split.test]
            regs = dataset_regions(model, paths, gcfg, model_key=tr.key, size=tr.params["image_size"],
                                   cache_dir=cache_dir, progress=progress)
            glob = np.asarray([int(r.global_probs.argmax()) for r in regs])
            n_regions = [len(r.areas) for r in regs]
            for reading in cfg.fusion_readings:
                acc, preds = fusion_accuracy(regs, y[split.test], reading)
                rec = Record(**ident, params={**base, "reading": reading},
                             metrics={"accuracy": acc, "global_accuracy": float((glob == y[split.test]).mean()),
                                      "mean_regions": float(np.mean(n_regions)),
                                      "images_without_regions": int(sum(n == 0 for n in n_regions)),
                                      "seconds_per_image": float(np.mean([r.seconds for r in regs]))},
                             wall_time_s=time.perf_counter() - t0,
                             extra={"y_pred": preds, "y_true": y[split.test], "test_index": split.test})
                store.add(rec)
                records.append(rec)
    return records


def _pair_by_identity(dataset: ImageDataset, splits, train_records: Sequence[Record]) -> list:
    """Each split with the one training record made for it (dataset, subset, protocol, seed, fold; never by
    position: another split's model was trained on most of this split's test images)."""
    subsets = {tr.subset for tr in train_records}
    if len(subsets) > 1:
        raise FoldMismatchError(f"train_records mix subsets {sorted(map(str, subsets))}: pass one run's records")
    folds = [Fold(dataset, s, next(iter(subsets), None)) for s in splits]
    if len({f.id for f in folds}) != len(folds) or len({FoldId.of(r) for r in train_records}) != len(train_records):
        raise FoldMismatchError("two splits (or two training records) share one identity: pass one record per split")
    return list(zip(splits, pair_by_identity(folds, train_records, "trained model")))


def select_runs(runs, dataset: str, subset: str | None, keys: Iterable[str]):
    """The store's rows of one run of this chapter: the records with ``keys`` (global and
    ``rcnngsr-train`` runs) and the ``rcnngsr-fusion`` records built on them."""
    keys = list(keys)
    df = runs[runs["dataset"] == dataset] if len(runs) else runs
    if subset is not None and len(df):
        df = df[df["subset"] == subset]
    if not len(df):
        return df
    keep = df["key"].isin(keys)
    if "params.global" in df:
        keep |= (df["method"] == "rcnngsr-fusion") & df["params.global"].isin(keys)
    return df[keep]


def _rows(runs, row: str, reading: str = "sum", xi: tuple[float, float] | None = None):
    """Test accuracy per (seed, fold) of one row of Table 2 / Fig. 5."""
    import pandas as pd

    if not len(runs) or "method" not in runs:
        return pd.Series(dtype=float)
    spec = CARD.row(row)  # which records, filtered how, give this row
    method, metric = spec.method, f"metrics.{spec.metric}"
    sel = runs[runs["method"] == method]
    for k, v in spec.params.items():
        sel = sel[sel[f"params.{k}"] == v] if f"params.{k}" in sel else sel.iloc[:0]
    if method == "rcnngsr-fusion" and len(sel):
        sel = sel[sel["params.reading"] == reading]
    if xi is not None and method.startswith("rcnngsr") and len(sel):
        sel = sel[(sel["params.xi1"] == xi[0]) & (sel["params.xi2"] == xi[1])]
    if not len(sel) or metric not in sel:
        return pd.Series(dtype=float)
    return 100 * sel.groupby(["seed", "fold"])[metric].mean()


TABLE2_ROWS = tuple(r.name for r in CARD.rows)
_DATASET_COLUMN = {ds: col for (ds, _), col in CARD.datasets.items()}


def table2(runs, dataset: str, *, reading: str = "sum", xi: tuple[float, float] | None = None):
    """R-CNNGSR Table 2 for one dataset: the paper's accuracy beside ours (mean ± 95 % CI over splits).

    ``runs``: the rows of one run (:func:`select_runs`). Rows: VGG16 (frozen features + linear
    classifier), fine-tuned, our model trained with R alone (``f(x)``) and with its dead groups removed,
    R-CNNGSR (Eq. 3, ``reading``) with the grouping's sentiment term and without it. ``xi``: keep the
    R-CNNGSR runs of these (ξ1, ξ2) only."""
    import pandas as pd

    from vsalib import targets
    from vsalib.evaluate import mean_ci

    pub = targets.published(paper="rcnngsr", table=2)
    col = _DATASET_COLUMN.get(dataset)
    rows = []
    for name in TABLE2_ROWS:
        p = pub[(pub["method"] == name) & (pub["dataset"] == col)] if col else pub.iloc[:0]
        vals = list(_rows(runs, name, reading, xi))
        m, c = mean_ci([v / 100 for v in vals]) if vals else (float("nan"), float("nan"))
        rows.append({"row": name, "paper": float(p["accuracy"].iloc[0]) if len(p) else float("nan"),
                     "ours": 100 * m, "ci95": 100 * c, "runs": len(vals)})
    return pd.DataFrame(rows)


CONTRIBUTIONS = [(c.text, c.better, c.worse) for c in CARD.claims]  # (what, better row, the row it is compared with)


def contributions(runs, dataset: str, *, reading: str = "sum", xi: tuple[float, float] | None = None):
    """What each part brings: paired per-split differences of accuracy (points) with their 95 % CI,
    beside the paper's where its Table 2 has both rows; verdict of :func:`vsalib.evaluate.paired_gain`."""
    import pandas as pd

    from vsalib.evaluate import paired_gain

    t2 = table2(runs, dataset, reading=reading, xi=xi).set_index("row")["paper"]
    rows = []
    for what, better, worse in CONTRIBUTIONS:
        m, c, n, verdict = paired_gain((_rows(runs, better, reading, xi) - _rows(runs, worse, reading, xi)).dropna())
        rows.append({"contribution": what, "paper gain": t2.get(better, np.nan) - t2.get(worse, np.nan),
                     "our gain": m, "ci95": c, "splits": n, "verdict": verdict})
    return pd.DataFrame(rows)


def ablation(runs, variants: dict[str, tuple[float, float]], *, reading: str = "sum"):
    """Fig. 5: per regulariser variant (name → (ξ1, ξ2)), the accuracy of f(x) and of R-CNNGSR
    (mean ± 95 % CI over splits), and the fraction of dead groups."""
    import pandas as pd

    from vsalib.evaluate import mean_ci

    rows = []
    for name, xi in variants.items():
        row = {"variant": name, "xi1": xi[0], "xi2": xi[1]}
        for label, r in (("f(x)", "f(x) trained with R"), ("R-CNNGSR", "R-CNNGSR")):
            vals = list(_rows(runs, r, reading, xi))
            m, c = mean_ci([v / 100 for v in vals]) if vals else (float("nan"), float("nan"))
            row.update({label: 100 * m, f"{label} ci95": 100 * c})
        tr = runs[(runs["method"] == "rcnngsr-train") & (runs["params.xi1"] == xi[0]) & (runs["params.xi2"] == xi[1])] \
            if len(runs) and "params.xi1" in runs else runs.iloc[:0]
        row["dead groups %"] = 100 * float(tr["metrics.dead_fraction"].mean()) if len(tr) else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


__all__ = ["CONTRIBUTIONS", "FUSION_READINGS", "CARD", "RCNNGSRConfig", "SENTIMENT_VARIANTS", "TABLE2_ROWS",
           "ImageRegions", "ablation", "analyse_image", "contributions", "dataset_regions", "fusion_accuracy",
           "run_rcnngsr", "select_runs", "sparsity_metrics", "table2", "train"]
