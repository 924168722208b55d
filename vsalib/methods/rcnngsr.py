"""R-CNNGSR: region-based CNN with group sparse regularisation (Xiong, Liu, Song, Cai, 2019).

The method, step by step (each step a piece of :mod:`vsalib`):

1. **Train** the whole-image CNN with cross-entropy (Eq. 2 read as KL(label ‖ prediction)) plus
   ``R = ξ1 (R_l1 + R_l2,1) + ξ2 R_l2`` (Eq. 4–6) over its trainable layers, per-group learning
   rates (conv / fc / classifier): :class:`RCNNGSRTrain`, the global fine-tuning
   (:class:`~vsalib.methods.global_cnn.GlobalFinetune`) with R as one more named loss (``loss_gs``);
   records ``rcnngsr-train``, with the sparsity of the trained network (groups whose norm is under a
   threshold, the accuracy with those groups removed, parameter counts).
2. **Sentiment regions**: selective-search grouping of Felzenszwalb segments with colour, texture,
   size, fill **and** sentiment (cosine of the model's predictions) similarity, filtered
   (aspect ≤ 5, ≥ 200 px): :func:`vsalib.regions.grouping.sentiment_regions`.
3. **Fusion** (Eq. 3): ``Y = f(x) + Σ_r area(x_r)/area(x) · f(x_r)`` over all regions, argmax:
   :func:`vsalib.regions.fusion.area_weighted_fusion`; :class:`RCNNGSR` writes records
   ``rcnngsr-fusion``, one per grouping (with and without the sentiment term) and fusion reading.

Only whole images train the CNN; regions are used at inference. Each split's regions come from that
split's own trained model (paired by identity), so no test image trains anything.
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
from torch import nn

from vsalib import provenance
from vsalib.data.images import open_image
from vsalib.data.registry import ImageDataset
from vsalib.losses import (GroupSparseRegularizer, proximal_step, remove_dead_groups, select_layers,
                           sparsity_report)
from vsalib.methods.base import (Claim, Fold, FoldMismatchError, OnTrainedModel, PaperCard, PaperRow, Substitution,
                                 Trained,
                                 folds_of, make_config, register_method, run)
from vsalib.methods.global_cnn import FinetuneConfig, GlobalFinetune
from vsalib.regions import fusion as F
from vsalib.regions import scoring as S
from vsalib.regions.grouping import GroupingConfig, sentiment_regions
from vsalib.results import Record, ResultStore
from vsalib.train.features import cache_root, cached_per_image
from vsalib.train.loop import predict_model

#: Bump when a change here changes the numbers of ``rcnngsr-*`` records (say what changed).
VERSION = provenance.declare_method("rcnngsr", 1, depends=("global",), changes={
    1: "first published version: sentiment selective search from Felzenszwalb segments, regions as "
       "boxes scored by RoIAlign, Eq. 3 as printed and as a weighted average, subgradient training with R",
})

#: R-CNNGSR as data: citation, equations, our readings, Table 2's rows and what each part brings (claims).
CARD = PaperCard(
    key="rcnngsr",
    short="R-CNNGSR",
    title="Region-based convolutional neural network using group sparse regularization for image sentiment "
          "classification",
    venue="EURASIP Journal on Image and Video Processing 2019",
    table=2,
    equations={"Eq. 3": "Y = f(x) + sum_r area(x_r)/area(x) f(x_r)",
               "Eq. 4": "R_gs = R_l1 + R_l2,1", "Eq. 5": "R_l2 = ||w||^2",
               "Eq. 6": "R = xi1 R_gs + xi2 R_l2"},
    substitutions=(
        Substitution("backbone", "VGG16, ImageNet", "EfficientNet-Lite0, ImageNet (VGG16 with -p backbone vgg16 "
                     "where its weights are cached)", "VGG16's weights cannot be downloaded on the build machine",
                     "backbone"),
        Substitution("training", "the whole network, 20 epochs", "cpu profile: the last stages and the classifier "
                     "on cached activations (paper profile: the whole network)", "two CPU cores", ""),
        Substitution("loss (Eq. 2)", "KL(prediction ‖ label), infinite for a one-hot label",
                     "KL(label ‖ prediction) = cross-entropy", "the only finite reading", ""),
        Substitution("groups of R (Eq. 4)", "outgoing weights of each input and hidden neuron",
                     "columns W[:, j] of every trainable Linear and conv weight", "the same groups in PyTorch's "
                     "(out × in) layout", ""),
        Substitution("optimising R", "not given", "subgradient of R added to the loss (proximal step: "
                     "-p proximal True)", "the paper trains with SGD", "sparsity"),
        Substitution("regions", "selective search with a sentiment similarity; filters (aspect, size) before or "
                     "after merging: ambiguous; box or segment: not given",
                     "Felzenszwalb segments grouped with colour, texture, size, fill and sentiment similarity, "
                     "filtered after merging, each region scored as its box by RoIAlign",
                     "the text leaves these open; they are parameters", ""),
        Substitution("Eq. 3", "an unnormalised sum of area-weighted region predictions, called 'weighted "
                     "averaging'", "both readings, as printed (sum) and as an average", "the two readings change "
                     "predictions", "reading"),
        Substitution("split", "75 / 20 / 5 random split (repeats not reported)", "the same split over three seeds",
                     "one split cannot separate a gain from split noise", ""),
    ),
    rows=(
        PaperRow("VGG16", "global-frozen"),
        PaperRow("VGG16 fine-tuned", "global-finetune"),
        PaperRow("f(x) trained with R", "rcnngsr-train"),
        PaperRow("f(x) with dead groups removed", "rcnngsr-train", metric="accuracy_compact"),
        PaperRow("R-CNNGSR", "rcnngsr-fusion", {"sentiment": "with"}, uses_regions=True),
        PaperRow("R-CNNGSR, grouping without sentiment", "rcnngsr-fusion", {"sentiment": "without"}, uses_regions=True),
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
PAPER_XI = (1e-3, 5e-4)  # Eq. 6's ξ1, ξ2 as the paper gives them
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

@dataclass(frozen=True)
class RCNNGSRTrainConfig(FinetuneConfig):
    """Fine-tuning of the whole-image CNN (:class:`~vsalib.methods.global_cnn.FinetuneConfig`) with
    R of Eq. 6 in place of weight decay (its ``xi2`` term is the L2 penalty); the fields below are
    :class:`RCNNGSRConfig`'s."""

    xi1: float = 1e-3
    xi2: float = 5e-4
    proximal: bool = False
    gs_scale: str = "none"
    sparsity_threshold: float = 1e-3

    def regularizer(self) -> GroupSparseRegularizer:
        return GroupSparseRegularizer(self.xi1, self.xi2, scale=self.gs_scale, proximal=self.proximal)


@register_method
class RCNNGSRTrain(GlobalFinetune):
    """Step 1: the whole-image CNN trained with cross-entropy + R (records ``rcnngsr-train``), and the
    group sparsity of what it learned: groups whose norm is at most ``sparsity_threshold``, the test
    accuracy with those groups removed, parameter counts.

    R is a named loss term (``loss_gs``) over the trainable layers; with ``proximal=True`` the proximal
    step of ``xi1 R_gs`` follows every optimiser step, at each parameter group's (scheduled) learning rate.
    """

    name = "rcnngsr-train"
    Config = RCNNGSRTrainConfig
    regularizer_name = "loss_gs"

    def params(self) -> dict:
        c = self.config
        return {**super().params(), "weight_decay": 0.0, "xi1": c.xi1, "xi2": c.xi2, "gs_proximal": c.proximal,
                "gs_scale": c.gs_scale}

    def regularizer(self, model, optimizer):
        reg_fn = self.config.regularizer()
        reg = lambda m: reg_fn(model)["total"]  # noqa: E731  (the unwrapped model under DDP too)
        if not reg_fn.proximal:
            return reg, None
        layers = [m for _, m in select_layers(model, reg_fn.layers, trainable_only=True)]
        plan = []  # (parameter group, its regularised layers), found once
        for group in optimizer.param_groups:
            ids = {id(p) for p in group["params"]}
            mods = nn.ModuleList([m for m in layers if id(m.weight) in ids])
            if len(mods):
                plan.append((group, mods))

        def after(_, __):  # the proximal step of xi1 * R_gs at each parameter group's learning rate
            for group, mods in plan:
                proximal_step(mods, group["lr"], reg_fn.xi1, scale=reg_fn.scale)
        return reg, after

    def trained_metrics(self, model, fold: Fold, test_loader) -> dict:
        threshold = self.config.sparsity_threshold
        rep = sparsity_report(model, threshold, layers=[m for _, m in select_layers(model, trainable_only=True)])
        compact = copy.deepcopy(model)
        removed = remove_dead_groups(compact, threshold)
        compact_acc = fold.score(predict_model(compact, test_loader, self.device).argmax(1))["accuracy"]
        n_params = sum(p.numel() for p in model.parameters())
        return {"groups": int(rep["groups"].sum()), "dead_groups": int(rep["dead_groups"].sum()),
                "dead_fraction": float(rep["dead_groups"].sum() / max(rep["groups"].sum(), 1)),
                "zero_weights": int(rep["zero_weights"].sum()), "regularised_weights": int(rep["weights"].sum()),
                "params": int(n_params), "params_compact": int(n_params - removed),
                "accuracy_compact": float(compact_acc), "sparsity_threshold": float(threshold)}


def training_method(cfg: RCNNGSRConfig, **settings) -> RCNNGSRTrain:
    """Step 1's method for ``cfg``'s regulariser; ``settings``: the fine-tuning's
    (:class:`~vsalib.methods.global_cnn.FinetuneConfig` fields, ``cache_dir``, ``checkpoint_dir``,
    ``device``, ``num_workers``, ``progress``)."""
    return RCNNGSRTrain(xi1=cfg.xi1, xi2=cfg.xi2, proximal=cfg.proximal, gs_scale=cfg.gs_scale,
                        sparsity_threshold=cfg.sparsity_threshold, **settings)


def train(dataset: ImageDataset, splits, cfg: RCNNGSRConfig, *, subset: str | None = None,
          store: ResultStore | None = None, progress: bool = True, **settings) -> list[Record]:
    """Step 1 on every split: the global CNN trained with R (records ``rcnngsr-train``; see :func:`training_method`)."""
    return run(training_method(cfg, progress=progress, **settings), dataset, splits, subset=subset, store=store,
               progress=progress)


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


def fusion_predictions(regions: Sequence[ImageRegions], reading: str = "sum") -> np.ndarray:
    """Eq. 3's class for every image."""
    return np.asarray([r.fuse(reading).prediction for r in regions])


def fusion_accuracy(regions: Sequence[ImageRegions], labels, reading: str = "sum") -> tuple[float, np.ndarray]:
    """Accuracy of Eq. 3 over images, and its predictions."""
    preds = fusion_predictions(regions, reading)
    return float((preds == np.asarray(labels)).mean()), preds


# -- the experiment: Table 2 and Fig. 5 -----------------------------------------------------------

@register_method
class RCNNGSR(OnTrainedModel):
    """Steps 2–3 on each fold with the fold's own step-1 model: one ``rcnngsr-fusion`` record per
    (grouping with / without the sentiment term, fusion reading), with the accuracy of ``f(x)`` alone
    beside it. ``trainer``: step 1 (default: :func:`training_method` of the config); ``models``: its records instead.
    Only whole images train the CNN; the regions are used at inference, on the test part only."""

    name = "rcnngsr"
    Config = RCNNGSRConfig
    card = CARD
    cost_method = "rcnngsr-fusion"  # its seconds_per_image: f(x), sentiment regions and their scores

    def __init__(self, config=None, *, trainer: RCNNGSRTrain | None = None, models: Sequence[Record] | None = None,
                 sentiment: Iterable[str] = SENTIMENT_VARIANTS, cache_dir=None, progress: bool = True, **settings):
        cfg = config if config is not None else make_config(RCNNGSRConfig, settings, self.name)
        if trainer is None and models is None:
            trainer = training_method(cfg, cache_dir=cache_dir, progress=progress)
        super().__init__(cfg, trainer=trainer, models=models)
        bad = [v for v in sentiment if v not in SENTIMENT_VARIANTS]
        if bad:
            raise ValueError(f"sentiment variants {bad} are not valid; valid: {', '.join(SENTIMENT_VARIANTS)}")
        self.sentiment, self.cache_dir, self.progress = tuple(sentiment), cache_dir, progress

    def _variants(self, model_record: Record):
        """(grouping config, the records' params without the reading) per sentiment variant."""
        tr = model_record
        for variant in self.sentiment:
            gcfg = self.config.grouping if variant == "with" else replace(self.config.grouping, sentiment=0.0)
            yield gcfg, {"global": tr.key, "backbone": tr.params["backbone"], "image_size": tr.params["image_size"],
                         "xi1": tr.params.get("xi1"), "xi2": tr.params.get("xi2"), "sentiment": variant,
                         **{f"grouping.{k}": v for k, v in asdict(gcfg).items()}}

    def done(self, fold: Fold, store: ResultStore) -> list[Record] | None:
        tr = self.model_record(fold, store, train=False)
        if tr is None:
            return None
        out = [store.get(**fold.identity("rcnngsr-fusion", {**params, "reading": r}))
               for _, params in self._variants(tr) for r in self.config.fusion_readings]
        return out if all(r is not None for r in out) else None

    def load(self, record: Record, fold: Fold):
        from vsalib.methods import global_cnn

        return global_cnn.load_finetuned(record, len(fold.classes))

    @classmethod
    def paper_values(cls, runs, dataset: str, subset: str | None = None, *, reading: str = "sum",
                     xi: tuple[float, float] | None = PAPER_XI) -> dict:
        """The card's rows of the runs with Eq. 3 read as ``reading`` (default: as printed) and the
        regulariser at ``xi`` (default: the paper's ξ1, ξ2)."""
        from vsalib import report

        return report.row_values(CARD, runs, dataset, subset, where=_where(reading, xi))

    def evaluate(self, fold: Fold, trained: Trained) -> list[Record]:
        tr, test, out = trained.record, fold.index("test"), []
        for gcfg, params in self._variants(tr):
            t0 = time.perf_counter()
            regs = dataset_regions(trained.model, fold.paths("test"), gcfg, model_key=tr.key,
                                   size=tr.params["image_size"], cache_dir=self.cache_dir, progress=self.progress)
            glob = fold.score([int(r.global_probs.argmax()) for r in regs])["accuracy"]
            n_regions = [len(r.areas) for r in regs]
            for reading in self.config.fusion_readings:
                s = fold.score(fusion_predictions(regs, reading))
                out.append(fold.record("rcnngsr-fusion", {**params, "reading": reading},
                                       {"accuracy": s["accuracy"], "global_accuracy": glob,
                                        "mean_regions": float(np.mean(n_regions)),
                                        "images_without_regions": int(sum(n == 0 for n in n_regions)),
                                        "seconds_per_image": float(np.mean([r.seconds for r in regs]))},
                                       wall_time_s=time.perf_counter() - t0,
                                       extra={"y_pred": s["y_pred"], "y_true": s["y_true"], "test_index": test}))
        return out


def run_rcnngsr(dataset: ImageDataset, train_records: Sequence[Record], splits, cfg: RCNNGSRConfig, *,
                sentiment: Iterable[str] = SENTIMENT_VARIANTS,
                store: ResultStore | None = None, cache_dir=None, progress: bool = True) -> list[Record]:
    """:class:`RCNNGSR` on each split with that split's trained model (``train_records``, from
    :func:`train`, paired with the splits by dataset, subset, protocol, seed and fold, never by position;
    :class:`~vsalib.methods.base.FoldMismatchError` where a split has none, checked before any work),
    under the training records' dataset subset. A split whose records exist is not recomputed."""
    subsets = {tr.subset for tr in train_records}
    if len(subsets) > 1:
        raise FoldMismatchError(f"train_records mix subsets {sorted(map(str, subsets))}: pass one run's records")
    subset = next(iter(subsets), None)
    method = RCNNGSR(cfg, models=train_records, sentiment=sentiment, cache_dir=cache_dir, progress=progress)
    folds = folds_of(dataset, splits, subset)
    if len({f.id for f in folds}) != len(folds):
        raise FoldMismatchError("two splits share one identity: pass one split per (seed, fold)")
    method.check_models(folds)
    return run(method, dataset, splits, subset=subset, store=store, progress=progress)


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


def _where(reading: str = "sum", xi: tuple[float, float] | None = None) -> dict[str, dict]:
    """The parameter filters of one run's rows: the fusion reading, and (ξ1, ξ2) where given."""
    x = {} if xi is None else {"xi1": xi[0], "xi2": xi[1]}
    return {"rcnngsr-fusion": {"reading": reading, **x}, "rcnngsr-train": x}


def _rows(runs, row: str, reading: str = "sum", xi: tuple[float, float] | None = None):
    """Test accuracy (%) per (seed, fold) of one row of Table 2 / Fig. 5."""
    from vsalib import report

    return report.row_accuracy(CARD.row(row), runs, _where(reading, xi))


TABLE2_ROWS = tuple(r.name for r in CARD.rows)


def table2(runs, dataset: str, *, reading: str = "sum", xi: tuple[float, float] | None = None):
    """R-CNNGSR Table 2 for one dataset: the paper's accuracy beside ours (mean ± 95 % CI over splits;
    :func:`vsalib.report.card_table`).

    ``runs``: the rows of one run (:func:`select_runs`). Rows: VGG16 (frozen features + linear
    classifier), fine-tuned, our model trained with R alone (``f(x)``) and with its dead groups removed,
    R-CNNGSR (Eq. 3, ``reading``) with the grouping's sentiment term and without it. ``xi``: keep the
    R-CNNGSR runs of these (ξ1, ξ2) only."""
    from vsalib import report

    return report.card_table(CARD, runs, dataset, where=_where(reading, xi)).drop(columns="note")


CONTRIBUTIONS = [(c.text, c.better, c.worse) for c in CARD.claims]  # (what, better row, the row it is compared with)


def contributions(runs, dataset: str, *, reading: str = "sum", xi: tuple[float, float] | None = None):
    """What each part brings: paired per-split differences of accuracy (points) with their 95 % CI,
    beside the paper's where its Table 2 has both rows (:func:`vsalib.report.card_claims`)."""
    from vsalib import report

    return report.card_claims(CARD, RCNNGSR.paper_values(runs, dataset, reading=reading, xi=xi), runs, what="contribution",
                              n="splits")


def ablation(runs, variants: dict[str, tuple[float, float]], *, reading: str = "sum"):
    """Fig. 5: per regulariser variant (name → (ξ1, ξ2)), the accuracy of f(x) and of R-CNNGSR
    (mean ± 95 % CI over splits), and the fraction of dead groups."""
    import pandas as pd

    from vsalib.report import mean_ci_pct

    rows = []
    for name, xi in variants.items():
        row = {"variant": name, "xi1": xi[0], "xi2": xi[1]}
        for label, r in (("f(x)", "f(x) trained with R"), ("R-CNNGSR", "R-CNNGSR")):
            m, c, _ = mean_ci_pct(_rows(runs, r, reading, xi))
            row.update({label: m, f"{label} ci95": c})
        tr = runs[(runs["method"] == "rcnngsr-train") & (runs["params.xi1"] == xi[0]) & (runs["params.xi2"] == xi[1])] \
            if len(runs) and "params.xi1" in runs else runs.iloc[:0]
        row["dead groups %"] = 100 * float(tr["metrics.dead_fraction"].mean()) if len(tr) else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def measured_effects(real: dict) -> dict[str, str]:
    """What the published runs measured of the card's substitutions (their ``measured`` names), per
    dataset of ``real`` (``(dataset, subset)`` → the snapshot's runs of this chapter): text with numbers."""
    from vsalib import report

    reading = []
    for (ds, sub), runs in real.items():
        t = {r: table2(runs, ds, reading=r, xi=PAPER_XI).set_index("row").loc["R-CNNGSR", "ours"] for r in FUSION_READINGS}
        reading.append(f"{report.dataset_name(ds, sub)}: R-CNNGSR " + ", ".join(f"{r} {v:.2f} %" for r, v in t.items()))
    return {"reading": "; ".join(reading)}


__all__ = ["CARD", "CONTRIBUTIONS", "FUSION_READINGS", "PAPER_XI", "RCNNGSR", "RCNNGSRConfig", "RCNNGSRTrain", "RCNNGSRTrainConfig",
           "SENTIMENT_VARIANTS", "TABLE2_ROWS", "ImageRegions", "ablation", "analyse_image", "contributions",
           "dataset_regions", "fusion_accuracy", "fusion_predictions", "measured_effects", "run_rcnngsr", "select_runs", "table2", "train",
           "training_method"]
