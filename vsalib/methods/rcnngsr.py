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
   ``rcnngsr-fusion``, one per grouping (with and without the sentiment term; the configured region
   set and, where asked, the distinct-mask one: ``region_sets``), fusion reading (``fusion_readings``)
   and what f is (``fusion_on``: probabilities, or the logits Eq. 3 calls "the last layer's activations").

Only whole images train the CNN; regions are used at inference. Each split's regions come from that
split's own trained model (paired by identity), so no test image trains anything.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import time
from dataclasses import dataclass, field, replace
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
                                 folds_of, make_config, model_identity, register_method, run)
from vsalib.methods.global_cnn import FinetuneConfig, GlobalFinetune
from vsalib.regions import fusion as F
from vsalib.regions import scoring as S
from vsalib.regions.grouping import GroupingConfig, sentiment_regions
from vsalib.results import Record, ResultStore
from vsalib.train.features import cache_root, cached_per_image, load_cache, per_image_seconds
from vsalib.train.loop import atomic_torch_save, predict_model

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
                     "filtered after merging, each region scored as its box by RoIAlign, every region of the "
                     "hierarchy kept (so boxes spanning the image repeat, and the root adds f(x) again); the "
                     "distinct-mask reading (masks, area = pixels, duplicates and the root dropped) with "
                     "region_sets",
                     "the text leaves these open; they are parameters", ""),
        Substitution("Eq. 3", "an unnormalised sum of area-weighted region predictions, called 'weighted "
                     "averaging'; f called the last layer's activations", "both readings, as printed (sum) and as an "
                     "average, on probabilities (the text's word); on logits (the equation's) with fusion_on",
                     "the readings change predictions", "reading"),
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
        Claim("the regions (Eq. 3 against f(x) alone)", "R-CNNGSR", "f(x) trained with R", regions=True),
        Claim("the sentiment similarity in the grouping", "R-CNNGSR", "R-CNNGSR, grouping without sentiment"),
        Claim("R-CNNGSR against plain fine-tuning", "R-CNNGSR", "VGG16 fine-tuned"),
    ),
    datasets={("emotion6", "binary"): "emotion6", ("iaps", "binary"): "iaps-subset",
              ("abstract", "binary"): "abstract", ("artphoto", "binary"): "artphoto"},
)


FUSION_READINGS = F.AREA_READINGS
FUSION_ON = F.SPACES  # what f of Eq. 3 is: softmax probabilities (the text) or logits (the equation's activations)
#: Eq. 3's region sets: ``"box"`` the configured grouping (by default regions scored as boxes, duplicates and
#: the root kept), ``"distinct-masks"`` its :meth:`~vsalib.regions.grouping.GroupingConfig.distinct_masks`.
REGION_SETS = ("box", "distinct-masks")
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
    ``fusion_on``: what f of Eq. 3 is in the records (``probs``, the text's reading; ``logits``, the
    equation's "last layer's activations"). ``region_sets``: Eq. 3's regions (:data:`REGION_SETS`):
    ``box``, ``grouping`` as configured; ``distinct-masks``, ``grouping.distinct_masks()`` (each region
    of the hierarchy once, as its mask, without the root) beside it.
    """

    xi1: float = 1e-3
    xi2: float = 5e-4
    proximal: bool = False
    gs_scale: str = "none"
    sparsity_threshold: float = 1e-3
    grouping: GroupingConfig = field(default_factory=GroupingConfig)
    fusion_readings: tuple[str, ...] = FUSION_READINGS
    fusion_on: tuple[str, ...] = ("probs",)
    region_sets: tuple[str, ...] = ("box",)

    def __post_init__(self):
        for name in ("xi1", "xi2", "sparsity_threshold"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name, valid in (("fusion_readings", FUSION_READINGS), ("fusion_on", FUSION_ON),
                            ("region_sets", REGION_SETS)):
            v = getattr(self, name)
            if isinstance(v, str) or not v or any(r not in valid for r in v):
                raise ValueError(f"{name} must be a non-empty subset of {valid}, got {v}")

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
    version = VERSION
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
          store: ResultStore | None = None, progress: bool = True, need_weights: bool = False,
          **settings) -> list[Record]:
    """Step 1 on every split: the global CNN trained with R (records ``rcnngsr-train``; see :func:`training_method`).
    ``need_weights``: the models will be loaded (regions scored with them), so a stored split whose weights are
    gone is trained again (:func:`~vsalib.methods.base.run_fold`)."""
    return run(training_method(cfg, progress=progress, **settings), dataset, splits, subset=subset, store=store,
               progress=progress, need_weights=need_weights)


# -- steps 2-3 on one image ---------------------------------------------------------------------

@dataclass
class ImageRegions:
    """One image's whole-image prediction and its sentiment regions (Eq. 3's inputs), as probabilities and,
    where computed, logits (``global_logits`` ``(M,)``, ``logits`` ``(R, M)``; None in caches written before
    they were kept: read them with :attr:`has_logits`)."""

    global_probs: torch.Tensor  # (M,)
    boxes: torch.Tensor  # (R, 4)
    areas: torch.Tensor  # (R,)
    probs: torch.Tensor  # (R, M)
    image_area: float
    seconds: float = 0.0
    global_logits: torch.Tensor | None = None  # (M,)
    logits: torch.Tensor | None = None  # (R, M)

    @property
    def has_logits(self) -> bool:
        """Whether f(x) and every region hold logits (older caches do not)."""
        return getattr(self, "global_logits", None) is not None and getattr(self, "logits", None) is not None

    def fuse(self, reading: str = "sum", on: str = "probs") -> F.FusionResult:
        """Eq. 3 (``reading="sum"``, as printed) or the area-weighted average of the regions plus f(x), with f the
        softmax probabilities (``on="probs"``) or the logits (``on="logits"``, Eq. 3's last-layer activations)."""
        if on == "logits":
            if not self.has_logits:
                raise ValueError("these ImageRegions hold no logits (computed before logits were kept): recompute "
                                 "them (dataset_regions(..., need_logits=True) does) to fuse on='logits'")
            return F.area_weighted_fusion(self.global_logits, self.logits, self.areas, self.image_area,
                                          reading=reading, on="logits")
        return F.area_weighted_fusion(self.global_probs, self.probs, self.areas, self.image_area, reading=reading,
                                      on=on)


def analyse_image(model, image, grouping: GroupingConfig, size: int | None = None) -> ImageRegions:
    """Steps 2–3's inputs for one image: ``f(x)`` (the evaluation transform) and the scored regions, with
    their probabilities and logits (Eq. 3 on either)."""
    if isinstance(image, (str, os.PathLike)):
        image = open_image(image)
    t0 = time.perf_counter()
    g = S.whole_image_outputs(model, image, size=size, how="center")  # whole_image_probs is its probs[0]
    reg = sentiment_regions(image, replace(grouping, cnn_size=grouping.cnn_size or size), model)
    w, h = image.size
    return ImageRegions(g.probs[0].float().cpu(), reg.boxes, reg.areas, reg.probs.float().cpu(), float(w * h),
                        time.perf_counter() - t0, global_logits=g.logits[0].float().cpu(),
                        logits=None if reg.logits is None else reg.logits.float().cpu())


def _regions_cache(grouping: GroupingConfig, model_key: str, cache_dir) -> Path:
    # record_params(): the grouping without the flags added later where they are off, so that a cache made
    # before them keeps its key (its regions are the same)
    key = hashlib.sha1(json.dumps([grouping.record_params(), model_key], sort_keys=True,
                                  default=str).encode()).hexdigest()[:16]
    return cache_root(cache_dir) / "rcnngsr_regions" / f"{key}.pt"


def dataset_regions(model, paths: Sequence[str], grouping: GroupingConfig, *, model_key: str, size=None,
                    cache_dir=None, progress: bool = True, save_every: int = 50,
                    need_logits: bool = False) -> list[ImageRegions]:
    """:func:`analyse_image` of every path, cached on disk per (grouping, model) and saved every
    ``save_every`` images (atomic writes), so an interrupted run resumes where it stopped.

    New entries always hold logits; ``need_logits``: entries of an older cache that hold none are recomputed
    (and the cache rewritten), the others are kept."""
    desc = f"sentiment regions ({'with' if grouping.sentiment > 0 else 'without'} sentiment)"
    file = _regions_cache(grouping, model_key, cache_dir)
    if need_logits:
        cache = load_cache(file)
        stale = [k for k, r in cache.items() if not getattr(r, "has_logits", False)]
        if stale:
            for k in stale:
                del cache[k]
            atomic_torch_save(cache, file)
    return cached_per_image(paths, lambda p: analyse_image(model, p, grouping, size), file, desc=desc,
                            progress=progress, save_every=save_every)


def fusion_predictions(regions: Sequence[ImageRegions], reading: str = "sum", on: str = "probs") -> np.ndarray:
    """Eq. 3's class for every image (f on ``on``: ``"probs"`` or ``"logits"``)."""
    return np.asarray([r.fuse(reading, on).prediction for r in regions])


def fusion_accuracy(regions: Sequence[ImageRegions], labels, reading: str = "sum",
                    on: str = "probs") -> tuple[float, np.ndarray]:
    """Accuracy of Eq. 3 over images, and its predictions."""
    preds = fusion_predictions(regions, reading, on)
    return float((preds == np.asarray(labels)).mean()), preds


# -- the experiment: Table 2 and Fig. 5 -----------------------------------------------------------

@register_method
class RCNNGSR(OnTrainedModel):
    """Steps 2–3 on each fold with the fold's own step-1 model: one ``rcnngsr-fusion`` record per
    (grouping with / without the sentiment term, region set, fusion reading, f on probabilities / logits),
    with the accuracy of ``f(x)`` alone beside it. ``trainer``: step 1 (default: :func:`training_method` of the
    config); ``models``: its records instead.
    Only whole images train the CNN; the regions are used at inference, on the test part only."""

    name = "rcnngsr"
    version = VERSION
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
        """(grouping config, the records' params without the reading and ``on``) per sentiment variant and
        region set. The region sets are told apart by their ``grouping.*`` params (``region_as``,
        ``drop_duplicates``, ``drop_root``); a set equal to one already given is not repeated."""
        tr = model_record
        seen = []
        for variant in self.sentiment:
            base = self.config.grouping if variant == "with" else replace(self.config.grouping, sentiment=0.0)
            for region_set in self.config.region_sets:
                gcfg = base if region_set == "box" else base.distinct_masks()
                if gcfg in seen:
                    continue
                seen.append(gcfg)
                # record_params(): drop_duplicates / drop_root only where True, so that the records written
                # before those flags existed (which meant False) keep their identity
                yield gcfg, {"global": tr.key, "backbone": tr.params["backbone"], "image_size": tr.params["image_size"],
                             "xi1": tr.params.get("xi1"), "xi2": tr.params.get("xi2"), "sentiment": variant,
                             **{f"grouping.{k}": v for k, v in gcfg.record_params().items()}}

    def _fusions(self):
        """The (reading, extra params) of each record of one grouping: every fusion reading × f on probs / logits."""
        for reading in self.config.fusion_readings:
            for on in self.config.fusion_on:
                # "on" is a param only where f is not the probabilities: the records written before Eq. 3 could
                # be read on logits have no "on" and mean probs, and keep their identity this way
                yield reading, {"reading": reading, **({} if on == "probs" else {"on": on})}, on

    def done(self, fold: Fold, store: ResultStore) -> list[Record] | None:
        tr = self.model_record(fold, store, train=False)
        if tr is None:
            return None
        out = [store.get(**fold.identity("rcnngsr-fusion", {**params, **extra}))
               for _, params in self._variants(tr) for _, extra, _ in self._fusions()]
        return out if all(r is not None for r in out) else None

    def load(self, record: Record, fold: Fold):
        from vsalib.methods import global_cnn

        return global_cnn.load_finetuned(record, len(fold.classes))

    @classmethod
    def paper_values(cls, runs, dataset: str, subset: str | None = None, *, reading: str = "sum",
                     xi: tuple[float, float] | None = PAPER_XI, on: str = "probs", regions: str = "box") -> dict:
        """The card's rows of the runs with Eq. 3 read as ``reading`` (default: as printed) on ``on`` (default:
        probabilities) over the region set ``regions`` (default: ``"box"``, :func:`fusion_rows`) and the
        regulariser at ``xi`` (default: the paper's ξ1, ξ2)."""
        from vsalib import report

        return report.row_values(CARD, fusion_rows(runs, on, regions), dataset, subset, where=run_filters(reading, xi))

    def evaluate(self, fold: Fold, trained: Trained) -> list[Record]:
        tr, test, out = trained.record, fold.index("test"), []
        for gcfg, params in self._variants(tr):
            t0 = time.perf_counter()
            regs = dataset_regions(trained.model, fold.paths("test"), gcfg, model_key=model_identity(tr),
                                   size=tr.params["image_size"], cache_dir=self.cache_dir, progress=self.progress,
                                   need_logits="logits" in self.config.fusion_on)
            glob = fold.score([int(r.global_probs.argmax()) for r in regs])["accuracy"]
            n_regions = [len(r.areas) for r in regs]
            for reading, extra, on in self._fusions():
                s = fold.score(fusion_predictions(regs, reading, on))
                out.append(fold.record("rcnngsr-fusion", {**params, **extra},
                                       {"accuracy": s["accuracy"], "global_accuracy": glob,
                                        "mean_regions": float(np.mean(n_regions)),
                                        "images_without_regions": int(sum(n == 0 for n in n_regions)),
                                        "seconds_per_image": per_image_seconds(regs)},
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


def fusion_rows(runs, on: str = "probs", regions: str = "box"):
    """``runs`` with only the ``rcnngsr-fusion`` records of one Eq. 3 input kept (other methods' rows unchanged):
    f on ``on`` (a record without ``params.on`` means ``"probs"``) over the region set ``regions``
    (``"distinct-masks"``: ``grouping.region_as`` = mask with ``drop_duplicates`` and ``drop_root``; ``"box"``:
    every other grouping, a record without those flags meaning False). Table 2 and the claims average a row's
    records of one fold, so the other inputs' records must not enter them."""
    if on not in FUSION_ON:
        raise ValueError(f"on must be one of {', '.join(FUSION_ON)}, got {on!r}")
    if regions not in REGION_SETS:
        raise ValueError(f"regions must be one of {', '.join(REGION_SETS)}, got {regions!r}")
    if not len(runs) or "method" not in runs:
        return runs

    def col(name: str, missing):
        return runs[name].where(runs[name].notna(), missing) if name in runs else \
            runs["method"].map(lambda _: missing)

    distinct = (col("params.grouping.region_as", "box") == "mask") & \
        col("params.grouping.drop_duplicates", False).astype(bool) & \
        col("params.grouping.drop_root", False).astype(bool)
    keep = (col("params.on", "probs") == on) & (distinct if regions == "distinct-masks" else ~distinct)
    return runs[(runs["method"] != "rcnngsr-fusion") | keep]


def run_filters(reading: str = "sum", xi: tuple[float, float] | None = None) -> dict[str, dict]:
    """The parameter filters of one run's rows: the fusion reading, and (ξ1, ξ2) where given."""
    x = {} if xi is None else {"xi1": xi[0], "xi2": xi[1]}
    return {"rcnngsr-fusion": {"reading": reading, **x}, "rcnngsr-train": x}


__all__ = ["CARD", "FUSION_ON", "FUSION_READINGS", "PAPER_XI", "REGION_SETS",
           "RCNNGSR", "RCNNGSRConfig", "RCNNGSRTrain", "RCNNGSRTrainConfig",
           "SENTIMENT_VARIANTS", "ImageRegions", "analyse_image",
           "dataset_regions", "fusion_accuracy", "fusion_predictions", "fusion_rows",
           "run_rcnngsr", "train", "training_method"]
