"""MultiLevelRCNN (Rao, Li, Zhang, Xu: *Multi-level region-based convolutional neural network for image
emotion classification*, Neurocomputing 333, 2019) on the fold runner (issue 14).

Per fold, trained on that fold's training images only:

1. **The whole-image model** (:class:`~vsalib.methods.global_cnn.GlobalFinetune`, the trainer): its pooled
   feature is X_global, and its class-activation maps (Grad-CAM of each training image's own label) give the
   **pseudo emotional regions** (:func:`vsalib.regions.pseudo.cam_boxes`) — our stand-in for EmotionROI's
   human emotion-stimuli boxes, which we do not have. ``boxes="dataset"`` reads boxes from the dataset instead
   (the synthetic set's true boxes; a user's stimuli boxes in columns ``x0, y0, x1, y1``).
2. **The emotional-region proposer** (Sec. 3.1, 4.1): a Faster R-CNN on a feature pyramid (P2–P5, one anchor
   size per level, 1:1; :mod:`vsalib.regions.fpn`), its anchors labelled by the paper's IoU rule, two classes
   (background, emotional region): its box classifier gives p_emo, its box head X_local.
3. **p_obj** from a frozen object classifier (the backbone's own ImageNet classifier on each region,
   :class:`vsalib.regions.objects.ObjectClassifier`, where the paper has COCO's); ``S_emo = sqrt(p_emo² + p_obj²)``
   (Eq. 3), NMS, the top K = 10 (:func:`vsalib.regions.emotional.top_regions`, padded and masked).
4. **The classifier** on ``X = [X_global, X_local_1..K]`` (Eq. 5): :class:`MultiLevelHead`, trained on the cached
   features with ``L_cls``, ``L_p`` (Eq. 10) or ``L_multi`` (Eqs. 6–8) and Eq. 4's label distribution from each
   image's p* (:func:`vsalib.data.confidence.label_confidence`, :func:`vsalib.losses.label_distribution`).

``evaluate`` trains one head per row of the paper's Tables 1 and 2 (and their controls, random boxes and a
grid, and Fig. 8's λ sweep) on the same features, each with the fold's seed, the epoch kept by its validation
accuracy; λ is chosen on the validation part at report time. Test labels reach only :meth:`Fold.score`.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from vsalib import provenance
from vsalib.data.confidence import NEUTRAL_READINGS
from vsalib.losses import P_SCALED_ON
from vsalib.regions.anchors import ANCHOR_READINGS
from vsalib.methods.base import (Claim, Fold, OnTrainedModel, PaperCard, PaperRow, Substitution, Trained,
                                 model_identity, register_method)
from vsalib.methods.multilevel_regions import (BOX_COLUMNS, dataset_boxes, global_map, image_features, image_regions,
                                               load_image, pad_regions, pseudo_boxes, roi_features, train_proposer,
                                               val_recall)
from vsalib.results import Record, ResultStore

#: Bump when a change here changes the numbers of ``multilevel-rcnn`` records (say what changed).
VERSION = provenance.declare_method("multilevel", 1, depends=("global",), changes={
    1: "first version: CAM pseudo boxes of the fold's global model, FPN Faster R-CNN proposer (p_emo, X_local), "
       "p_obj from the backbone's ImageNet classifier on RoI-aligned regions, S_emo top-K, one head per table row",
})

REGIONS = ("none", "emotional", "object", "random", "grid")
LOSSES = ("cls", "p", "multi")
BOX_SOURCES = ("cam", "dataset")
P_OBJ = ("imagenet", "none")
LOCAL_FEATURES = ("global", "proposer")
PAPER_LAM = 0.4  # λ of Eq. 6 (chosen on FI's validation part in the paper)
LAMS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)  # Fig. 8 sweeps λ over [0, 1]


@dataclass(frozen=True)
class MultiLevelConfig:
    """MultiLevelRCNN's knobs. The whole-image model's are its trainer's (:class:`FinetuneConfig`)."""

    # the emotional regions the proposer learns from
    boxes: str = "cam"  # cam: pseudo boxes from the global model's CAMs; dataset: the dataset's x0..y1 columns
    cam_threshold: float = 0.5  # a CAM is cut at this share of its maximum
    cam_min_area: float = 0.01  # components smaller than this share of the image are dropped
    # the proposer (torchvision's defaults where they are the paper's; cost knobs for the cpu profile)
    fpn_channels: int = 256
    representation: int = 1024  # the box head's width: the size of each X_local
    detector_epochs: int = 10
    detector_lr: float = 0.01
    detector_batch: int = 4
    frozen_stages: int = 0  # the trunk's first stages kept frozen in the proposer
    rpn_pre_nms: int = 2000
    rpn_post_nms: int = 2000
    rois_per_image: int = 512
    candidates: int = 100  # regions the proposer returns per image, before S_emo ranks them
    max_size: int = 384  # the longer image side the proposer sees (the shorter is the image size)
    anchors: str = "fixed"  # fixed: 32-256 px | image: scaled by image size / 800, the paper's share of the image
    # the regions an image keeps
    p_obj: str = "imagenet"  # imagenet: the backbone's ImageNet classifier per region; none: S_emo = p_emo
    top_k: int = 10
    nms_iou: float = 0.5
    grid: int = 3
    local_features: str = "global"  # X_local: global (the whole-image model's map, RoI-aligned) | proposer (box head)
    # the classifier (Eq. 5) and its losses
    hidden: int = 512
    head_epochs: int = 100
    head_lr: float = 0.001
    head_batch: int = 128
    head_weight_decay: float = 5e-4
    dropout: float = 0.5
    patience: int | None = None  # early stopping on the validation part (the best epoch is kept either way)
    p_on: str = "logits"  # Eq. 10 scales the logits (ours) or the printed probabilities; or Eq. 11's approximation
    wheel_plus_one: bool = False  # Eq. 4's distances: wheel steps, or 1 + steps
    lam: float = PAPER_LAM
    neutral: str = "count"  # p*'s neutral votes: in the total (count) or left out (renormalise); not given

    def __post_init__(self):
        choices = {"boxes": BOX_SOURCES, "p_obj": P_OBJ, "p_on": P_SCALED_ON, "anchors": ANCHOR_READINGS,
                   "local_features": LOCAL_FEATURES, "neutral": NEUTRAL_READINGS}
        for name, valid in choices.items():
            if getattr(self, name) not in valid:
                raise ValueError(f"{name}={getattr(self, name)!r} is not valid; valid: {', '.join(valid)}")
        if not 0.0 < self.cam_threshold <= 1.0:
            raise ValueError(f"cam_threshold must lie in (0, 1], got {self.cam_threshold}")
        if not 0.0 <= self.lam <= 1.0:
            raise ValueError(f"lam must lie in [0, 1], got {self.lam}")
        for name in ("top_k", "grid", "hidden", "head_epochs", "head_batch", "detector_epochs", "detector_batch",
                     "candidates"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.top_k > self.candidates:  # the records would report K regions where at most N exist
            raise ValueError(f"top_k={self.top_k} (the regions kept per image) is larger than candidates="
                             f"{self.candidates} (the proposer's regions per image, N): expected top_k <= candidates "
                             f"(lower top_k, or raise candidates to at least {self.top_k})")

    def proposer_params(self) -> dict:
        """What the trained proposer depends on."""
        names = ("boxes", "cam_threshold", "cam_min_area", "fpn_channels", "representation", "detector_epochs",
                 "detector_lr", "detector_batch", "frozen_stages", "rpn_pre_nms", "rpn_post_nms", "rois_per_image",
                 "max_size")
        out = {n: getattr(self, n) for n in names}
        if self.anchors != "fixed":  # runs made before it existed keep their keys
            out["anchors"] = self.anchors
        return out

    def region_params(self) -> dict:
        """What the regions and their features depend on (the proposer, the ranking, the features)."""
        names = ("candidates", "p_obj", "top_k", "nms_iou", "grid", "local_features")
        return {**self.proposer_params(), **{n: getattr(self, n) for n in names}}

    def params(self) -> dict:
        """Every knob, ``neutral`` and ``anchors`` only where they are not the default (runs made before they
        existed keep their keys)."""
        out = asdict(self)
        for name, default in (("neutral", "count"), ("anchors", "fixed")):
            if out[name] == default:
                del out[name]
        return out


#: Per profile, the knobs that differ from the paper's (the proposer's cost; the quick profile's head).
PROFILE_SETTINGS: dict[str, dict] = {
    "quick": dict(fpn_channels=64, representation=256, detector_epochs=2, frozen_stages=12, rpn_pre_nms=300,
                  rpn_post_nms=100, rois_per_image=64, candidates=50, head_epochs=20, head_lr=0.01),
    "cpu": dict(fpn_channels=64, representation=256, detector_epochs=4, frozen_stages=12, rpn_pre_nms=1000,
                rpn_post_nms=500, rois_per_image=128),
    "paper": {},
}


def profile_settings(profile: str, dataset) -> dict:
    """The method's settings for a profile on a dataset: :data:`PROFILE_SETTINGS`, and ``boxes="dataset"`` where the dataset holds its
    emotional regions' boxes (the synthetic set), else the CAM pseudo boxes."""
    if profile not in PROFILE_SETTINGS:
        raise ValueError(f"unknown profile {profile!r}; valid: {', '.join(PROFILE_SETTINGS)}")
    has_boxes = all(c in dataset.table.columns for c in BOX_COLUMNS)
    return {**PROFILE_SETTINGS[profile], "boxes": "dataset" if has_boxes else "cam"}


@dataclass(frozen=True)
class Variant:
    """One head trained on a fold's features: a row of Table 1 or 2, a control, or a λ of Fig. 8."""

    regions: str  # none | emotional | object | random | grid
    use_global: bool
    loss: str  # cls | p | multi
    lam: float | None = None  # multi only

    def params(self) -> dict:
        out = {"regions": self.regions, "use_global": self.use_global, "loss": self.loss}
        return {**out, "lam": self.lam} if self.loss == "multi" else out

    @property
    def use_local(self) -> bool:
        return self.regions != "none"


def variants(lam: float = PAPER_LAM, lams: Sequence[float] = LAMS) -> list[Variant]:
    """Every head a fold trains: Table 1 (which regions), Table 2 (which loss), the controls and Fig. 8's λ."""
    out = [Variant("none", True, "cls"), Variant("none", True, "p"), Variant("none", True, "multi", lam),
           Variant("object", False, "multi", lam), Variant("emotional", False, "multi", lam),
           Variant("object", True, "multi", lam), Variant("emotional", True, "multi", lam),
           Variant("random", True, "multi", lam), Variant("grid", True, "multi", lam),
           Variant("emotional", True, "cls"), Variant("emotional", True, "p")]
    out += [Variant("emotional", True, "multi", float(v)) for v in lams if float(v) != float(lam)]
    return out


# -- step 4: the classifier and its losses ---------------------------------------------------------------------

class MultiLevelHead(nn.Module):
    """Eq. 5 and the layers after it: ``X = [X_global, X_local_1..K]`` → fully connected → ReLU → dropout →
    fully connected → class logits. Region slots whose ``mask`` is False (an image with fewer than K regions)
    are zeroed, so what is padded there never reaches the prediction. ``use_global`` / ``use_local`` give
    Table 1's rows: the whole image only, the regions only, or both."""

    def __init__(self, global_dim: int, local_dim: int, k: int = 10, hidden: int = 512, n_classes: int = 2,
                 use_global: bool = True, use_local: bool = True, dropout: float = 0.5):
        super().__init__()
        if not (use_global or use_local):
            raise ValueError("the classifier needs the global feature, the regions' features, or both")
        if k < 1 or hidden < 1:
            raise ValueError(f"k and hidden must be >= 1, got {k}, {hidden}")
        self.k, self.use_global, self.use_local = k, use_global, use_local
        in_dim = (global_dim if use_global else 0) + (k * local_dim if use_local else 0)
        self.fc1, self.fc2 = nn.Linear(in_dim, hidden), nn.Linear(hidden, n_classes)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x_global: torch.Tensor, x_local: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``x_global`` (B, Dg), ``x_local`` (B, K, Dl), ``mask`` (B, K) → logits (B, n_classes)."""
        parts = []
        if self.use_global:
            parts.append(x_global)
        if self.use_local:
            if x_local.shape[1] != self.k or mask.shape != x_local.shape[:2]:
                raise ValueError(f"expected {self.k} region slots and a mask of shape {tuple(x_local.shape[:2])}, "
                                 f"got features {tuple(x_local.shape)} and mask {tuple(mask.shape)}")
            parts.append((x_local * mask[..., None].to(x_local.dtype)).flatten(1))
        return self.fc2(self.dropout(torch.relu(self.fc1(torch.cat(parts, dim=1)))))



def head_inputs(features: Sequence[dict], regions: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(X_global (N, Dg), X_local (N, K, Dl), mask (N, K))`` of images' cached features for one region source
    (``none``: X_local of the emotional regions, unused)."""
    src = "emotional" if regions == "none" else regions
    return (torch.stack([f["x_global"] for f in features]).float(),
            torch.stack([f[src]["x"] for f in features]).float(),
            torch.stack([f[src]["mask"] for f in features]))


def head_loss(logits: torch.Tensor, y: torch.Tensor, p_star: torch.Tensor, target: torch.Tensor, loss: str,
              lam: float | None, p_on: str = "logits") -> torch.Tensor:
    """``L_cls``, ``L_p`` (Eq. 10) or ``L_multi`` (Eq. 6) of a batch; ``target``: Eq. 4's distributions."""
    from vsalib.losses import multi_loss, p_scaled_loss

    if loss == "cls":
        return F.cross_entropy(logits, y)
    if loss == "p":
        return p_scaled_loss(logits, y, p_star, on=p_on)
    if loss == "multi":
        return multi_loss(logits, y, target, lam)
    raise ValueError(f"loss={loss!r} is not valid; valid: {', '.join(LOSSES)}")


def train_head(variant: Variant, train: tuple, val: tuple, n_classes: int, cfg: MultiLevelConfig, seed: int
               ) -> tuple[MultiLevelHead, dict]:
    """The classifier of one variant, trained with SGD (momentum 0.9) on cached features; the epoch with the best
    validation accuracy is kept (ties: the earlier). ``train``: ``(X_global, X_local, mask, y, p*, target)``;
    ``val``: ``(X_global, X_local, mask, y)``. Returns the head and ``{val_accuracy, best_epoch, epochs_run}``."""
    torch.manual_seed(seed)
    xg, xl, mask, y, p_star, target = train
    head = MultiLevelHead(xg.shape[1], xl.shape[2], xl.shape[1], cfg.hidden, n_classes, variant.use_global,
                          variant.use_local, cfg.dropout)
    opt = torch.optim.SGD(head.parameters(), lr=cfg.head_lr, momentum=0.9, weight_decay=cfg.head_weight_decay)
    g = torch.Generator().manual_seed(seed)
    best = (-1.0, -1, None)
    since = 0
    for epoch in range(cfg.head_epochs):
        head.train()
        for idx in torch.randperm(len(y), generator=g).split(cfg.head_batch):
            loss = head_loss(head(xg[idx], xl[idx], mask[idx]), y[idx], p_star[idx], target[idx], variant.loss,
                             variant.lam, cfg.p_on)
            opt.zero_grad()
            loss.backward()
            opt.step()
        acc = float((predict_head(head, *val[:3]) == val[3]).float().mean()) if len(val[3]) else math.nan
        if len(val[3]) == 0 or acc > best[0]:
            best, since = (acc, epoch, {k: v.clone() for k, v in head.state_dict().items()}), 0
        else:
            since += 1
            if cfg.patience is not None and since >= cfg.patience:
                break
    head.load_state_dict(best[2])
    return head.eval(), {"val_accuracy": best[0], "best_epoch": best[1], "epochs_run": epoch + 1}


@torch.no_grad()
def predict_head(head: MultiLevelHead, xg: torch.Tensor, xl: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    was = head.training
    head.eval()
    out = head(xg, xl, mask).argmax(dim=1)
    head.train(was)
    return out


def fold_confidence(fold: Fold, part: str, neutral: str = "count") -> tuple[np.ndarray, str]:
    """p* of ``part``'s images (training or validation: a label) and its source; 1 where the dataset has none.
    ``neutral``: what the neutral votes do to it (:data:`~vsalib.data.confidence.NEUTRAL_READINGS`)."""
    import pandas as pd

    from vsalib.data.confidence import label_confidence
    from vsalib.data.labels import EKMAN_POLARITY

    cols = [c for c in ["agree", *(f"p_{e}" for e in EKMAN_POLARITY)] if fold.has_column(c)]
    table = pd.DataFrame({c: fold.annotations(c, part) for c in cols})
    table["label"] = fold.labels(part)
    got = label_confidence(table, fold.classes, neutral=neutral)
    return (np.ones(len(table)), "none (p* = 1)") if got is None else got


# -- the method ------------------------------------------------------------------------------------------------

_T1, _T2 = {"loss": "multi", "lam": PAPER_LAM}, {"regions": "emotional", "use_global": True}

CARD = PaperCard(
    key="rao",
    short="MultiLevelRCNN",
    title="Multi-level region-based convolutional neural network for image emotion classification",
    venue="Neurocomputing 333, 2019",
    table=1,
    equations={"Eq. 3": "S_emo = sqrt(p_emo^2 + p_obj^2)",
               "Eq. 4": "f(j) = p*_j; f(i) = (1/dis_ij)(1 - p*_j) / sum_{k != j} 1/dis_kj",
               "Eq. 5": "X = [X_global, X_local_1..10]",
               "Eqs. 6-8": "L_multi = (1 - lambda) L_cls + lambda L_ed, L_ed = -sum_i f(i) log p_i, lambda = 0.4",
               "Eq. 10": "L_p = -sum_i y_i log softmax(p*^2 a)_i"},
    substitutions=(
        Substitution("backbone", "ResNet-101 with an FPN, COCO detection weights", "EfficientNet-Lite0 (ImageNet) with "
                     "a freshly initialised FPN, RPN and heads", "neither COCO nor ResNet-101 weights can be had offline",
                     "backbone"),
        Substitution("emotional regions to train on", "EmotionROI's human emotion-stimuli boxes (how the boxes were "
                     "cut is not said)", "pseudo boxes: the Grad-CAM of each training image's own label from the "
                     "fold's whole-image model, cut at a share of its maximum, connected components → boxes "
                     "(synthetic data: the true boxes)", "the stimuli annotations are not available to us",
                     "cam_threshold"),
        Substitution("anchors", "one size per level, 32² to 256², on images of 800 px (Faster R-CNN's default)",
                     "the same sizes in pixels on 224-px images, about 3.6 times the paper's share of the image; "
                     "-p anchors image scales them with the image (9, 18, 36, 72 px at 224)", "the published runs were "
                     "made with the sizes in pixels; the scaled reading is to be rerun", "anchors"),
        Substitution("p_obj", "COCO's object classifier, frozen", "the backbone's ImageNet classifier, frozen, on each "
                     "region's RoI-aligned feature: the largest of its 1000 probabilities", "the nearest frozen object "
                     "classifier we have; it is trained on none of our labels", "p_obj"),
        Substitution("object regions (Table 1)", "the regions of a COCO detector with FPN", "the same candidates as the "
                     "emotional regions, ranked by p_obj alone", "one candidate set: the rows differ in the ranking only",
                     ""),
        Substitution("X_local", "the detector's RoI features (ResNet-101 FPN, COCO)", "the whole-image model's last "
                     "feature map RoI-aligned to each region and pooled like X_global (-p local_features proposer: the "
                     "proposer's box head)", "our proposer's box head learns from one class of pseudo boxes and knows "
                     "little of content; COCO's knew 80 classes", "local_features"),
        Substitution("NMS and fewer than 10 regions", "not said", "NMS at IoU 0.5 before the top 10; missing slots "
                     "hold the whole image and are masked out of the classifier", "the text leaves it open", ""),
        Substitution("p* (Eq. 4)", "not said", "Twitter I: agreement / 5 (five → 1.0, four → 0.8, three → 0.6); "
                     "EmotionROI / Emotion6: the share of votes for the label's polarity (6 classes: its emotion), "
                     "the neutral votes counted in the total (-p neutral renormalise leaves them out)",
                     "what the datasets hold; with p* = 1 the three losses coincide", "p_star"),
        Substitution("L_p (Eq. 10)", "softmax of p*²-scaled probabilities", "softmax of p*²-scaled logits (the printed "
                     "reading: -p p_on probabilities; the paper's Eq. 11 approximation p*² L_cls + ln(1/p*²): -p p_on "
                     "approximation)", "softmax of numbers in [0, 1] is nearly uniform", ""),
        Substitution("training", "SGD, batch 128, 100 epochs, lr 0.001 for the last two fc layers; proposer fine-tuned "
                     "on EmotionROI", "the same for the head on cached features, the epoch kept by validation accuracy; "
                     "cpu profile: a narrower pyramid and box head and fewer proposer epochs",
                     "two CPU cores", ""),
        Substitution("λ", "0.4, chosen on FI's validation part", "0.4 in Tables 1-2, and λ chosen on each fold's "
                     "validation part from the Fig. 8 sweep", "a choice on validation only", "lam"),
        Substitution("split", "5-fold CV per category (small sets); FI 80/5/15", "EmotionROI's fixed split with a "
                     "validation part carved from training, three seeds; Twitter I grouped 5-fold CV",
                     "hyper-parameters are chosen on validation data only", ""),
    ),
    rows=(
        PaperRow("ResNet101 global only", "multilevel-rcnn", {"regions": "none", "loss": "cls"}),
        PaperRow("object regions only", "multilevel-rcnn", {"regions": "object", "use_global": False, **_T1},
                 uses_regions=True),
        PaperRow("emotional regions only", "multilevel-rcnn", {"regions": "emotional", "use_global": False, **_T1},
                 uses_regions=True),
        PaperRow("global+object regions", "multilevel-rcnn", {"regions": "object", "use_global": True, **_T1},
                 uses_regions=True),
        PaperRow("global+emotional regions", "multilevel-rcnn", {**_T2, **_T1}, uses_regions=True),
        PaperRow("global+random boxes", "multilevel-rcnn", {"regions": "random", "use_global": True, **_T1},
                 uses_regions=True),
        PaperRow("global+3x3 grid", "multilevel-rcnn", {"regions": "grid", "use_global": True, **_T1},
                 uses_regions=True),
        PaperRow("ResNet101+Lcls", "multilevel-rcnn", {"regions": "none", "loss": "cls"}, table=2),
        PaperRow("ResNet101+Lp", "multilevel-rcnn", {"regions": "none", "loss": "p"}, table=2),
        PaperRow("ResNet101+Lmulti", "multilevel-rcnn", {"regions": "none", **_T1}, table=2),
        PaperRow("MultiLevelRCNN+Lcls", "multilevel-rcnn", {**_T2, "loss": "cls"}, table=2, uses_regions=True),
        PaperRow("MultiLevelRCNN+Lp", "multilevel-rcnn", {**_T2, "loss": "p"}, table=2, uses_regions=True),
        PaperRow("MultiLevelRCNN+Lmulti", "multilevel-rcnn", {**_T2, **_T1}, table=2, uses_regions=True),
        PaperRow("ResNet101", "multilevel-rcnn", {"regions": "none", "loss": "cls"}, table=3),
        PaperRow("MultiLevelRCNN", "multilevel-rcnn", {**_T2, **_T1}, table=3, uses_regions=True),
    ),
    derived=(PaperRow("MultiLevelRCNN, λ chosen on validation", "multilevel-rcnn", {**_T2, "loss": "multi"},
                      uses_regions=True),),
    claims=(
        Claim("emotional regions against object regions (Table 1)", "global+emotional regions", "global+object regions"),
        Claim("global+emotional regions against the global feature alone (Table 1, same loss)",
              "global+emotional regions", "ResNet101+Lmulti", regions=True),
        Claim("emotional regions against ten random boxes", "global+emotional regions", "global+random boxes", control=True),
        Claim("emotional regions against a 3x3 grid", "global+emotional regions", "global+3x3 grid", control=True),
        Claim("L_multi against L_cls (Table 2)", "MultiLevelRCNN+Lmulti", "MultiLevelRCNN+Lcls"),
        Claim("L_p against L_cls (Table 2)", "MultiLevelRCNN+Lp", "MultiLevelRCNN+Lcls"),
    ),
    datasets={("emotionroi", "binary"): "emotionroi"},
    stand_in={None: ("fi", 2), "emotion": ("fi", 8)},  # Tables 1-2 print FI only: marked as FI's beside ours
)


@register_method
class MultiLevelRCNN(OnTrainedModel):
    """MultiLevelRCNN on each fold, with the whole-image model fine-tuned on that fold (the trainer).

    ``train``: the fold's global model (read back or trained), its pseudo boxes on the training images, the
    proposer trained on them (checkpointed per epoch; its weights kept beside the cache), and every image's
    regions and features (cached per image, so a killed run resumes). ``evaluate``: one head per
    :func:`variants` entry, each a ``multilevel-rcnn`` record (regions, use_global, loss, λ), and one
    ``multilevel-rcnn-regions`` record of the proposer (pseudo boxes per image, recall of the dataset's boxes
    on the validation part where it has them, seconds per image), which marks the fold complete."""

    name = "multilevel-rcnn"
    version = VERSION
    Config = MultiLevelConfig
    card = CARD
    what = "fine-tuned model"
    cost_method = "multilevel-rcnn-regions"

    def __init__(self, config=None, *, trainer=None, models: Sequence[Record] | None = None,
                 lams: Sequence[float] = LAMS, cache_dir=None, device=None, progress: bool = True, **settings):
        if trainer is None and models is None:
            from vsalib.methods.global_cnn import GlobalFinetune

            trainer = GlobalFinetune(cache_dir=cache_dir, device=device, progress=progress)
        super().__init__(config, trainer=trainer, models=models, **settings)
        self.lams = tuple(sorted(set(float(v) for v in lams) | {float(self.config.lam)}))
        if any(not 0.0 <= v <= 1.0 for v in self.lams):
            raise ValueError(f"every λ must lie in [0, 1], got {self.lams}")
        self.cache_dir, self.device, self.progress = cache_dir, device, progress

    def params(self, model_record: Record) -> dict:
        """The records' shared parameters on the fold whose global model is ``model_record``."""
        return {**self.config.params(), "backbone": model_record.params["backbone"],
                "image_size": model_record.params["image_size"], "global": model_record.key}

    def variants(self) -> list[Variant]:
        return variants(self.config.lam, self.lams)

    def done(self, fold: Fold, store: ResultStore) -> list[Record] | None:
        ft = self.model_record(fold, store, train=False)
        if ft is None:
            return None
        shared = self.params(ft)
        out = [store.get(**fold.identity(self.name, {**shared, **v.params()})) for v in self.variants()]
        out.append(store.get(**fold.identity(self.cost_method, shared)))
        return None if any(r is None for r in out) else out

    def load(self, record: Record, fold: Fold):
        from vsalib.methods import global_cnn

        return global_cnn.load_finetuned(record, len(fold.classes), device="cpu")

    def _cache(self, fold: Fold, ft: Record, what: str) -> Path:
        """The cache file of the fold's ``proposer`` (its weights) or ``regions`` (every image's features)."""
        from vsalib.train.features import cache_root

        params = self.config.proposer_params() if what == "proposer" else self.config.region_params()
        key = hashlib.sha1(json.dumps([str(fold.id), model_identity(ft), params, len(fold.all_paths())],
                                      sort_keys=True, default=str).encode()).hexdigest()[:16]
        return cache_root(self.cache_dir) / "multilevel-rcnn" / key / f"{what}.pt"

    def proposer(self, fold: Fold, ft: Record, global_model) -> tuple[nn.Module, dict]:
        """The fold's emotional-region proposer (:func:`~vsalib.methods.multilevel_regions.train_proposer`), its
        weights kept in the cache."""
        return train_proposer(fold, ft, global_model, self.config, self._cache(fold, ft, "proposer"), self.progress)

    def features(self, fold: Fold, ft: Record, global_model, detector, progress: bool | None = None) -> list[dict]:
        """Every image's X_global and regions (:func:`image_regions`), in the dataset's order, cached per image."""
        from vsalib.regions.objects import ObjectClassifier
        from vsalib.train.features import cached_per_image

        cfg, size = self.config, int(ft.params["image_size"])
        # the pretrained backbone with its own ImageNet layer (the fine-tuned trunk no longer matches that layer)
        objects = ObjectClassifier(_pretrained(ft)) if cfg.p_obj == "imagenet" else None
        index = {p: i for i, p in enumerate(fold.all_paths())}

        def compute(path: str) -> dict:
            t0 = time.perf_counter()
            out = image_features(global_model, detector, objects, load_image(path, size, cfg.max_size), cfg,
                                 seed=fold.id.seed * 100003 + index[path])
            out["seconds"] = time.perf_counter() - t0  # kept in the cache: the cost survives a resumed run
            return out

        global_model.eval()
        return cached_per_image(fold.all_paths(), compute, self._cache(fold, ft, "regions"),
                                desc="regions and features", progress=self.progress if progress is None else progress)

    def train(self, fold: Fold, store: ResultStore) -> Trained:
        from vsalib.train.features import per_image_seconds

        t0 = time.perf_counter()
        trained = super().train(fold, store)  # the fold's global model, paired by identity
        det, info = self.proposer(fold, trained.record, trained.model)
        t1 = time.perf_counter()
        feats = self.features(fold, trained.record, trained.model, det)
        # what each image's regions and features took when computed (read from the cache after a resume)
        info = {**info, "seconds_per_image": per_image_seconds(feats, (time.perf_counter() - t1) / max(len(feats), 1)),
                "seconds_train": time.perf_counter() - t0}
        return Trained(fold.id, {"detector": det, "features": feats, "info": info}, trained.record)

    def evaluate(self, fold: Fold, trained: Trained) -> list[Record]:
        from sklearn.metrics import balanced_accuracy_score

        from vsalib.losses import label_distribution

        cfg, ft, feats = self.config, trained.record, trained.model["features"]
        shared, seed = self.params(ft), fold.id.seed * 1000 + fold.id.fold
        part = {p: [feats[i] for i in fold.index(p)] for p in ("train", "val", "test")}
        y_tr, y_val = (torch.as_tensor(fold.labels(p)).long() for p in ("train", "val"))
        p_star, p_source = fold_confidence(fold, "train", cfg.neutral)
        p_star = torch.as_tensor(p_star, dtype=torch.float32)
        target = label_distribution(y_tr, p_star, fold.classes, cfg.wheel_plus_one)
        records = []
        for v in self.variants():
            t0 = time.perf_counter()
            xg, xl, mask = head_inputs(part["train"], v.regions)
            head, fit = train_head(v, (xg, xl, mask, y_tr, p_star, target),
                                   (*head_inputs(part["val"], v.regions), y_val), len(fold.classes), cfg, seed)
            pred = predict_head(head, *head_inputs(part["test"], v.regions)).numpy()
            s = fold.score(pred)
            metrics = {"accuracy": s["accuracy"], "mean_recall": float(balanced_accuracy_score(s["y_true"], pred)),
                       **fit, "p_star_mean": float(p_star.mean())}
            records.append(fold.record(self.name, {**shared, **v.params()}, metrics, wall_time_s=time.perf_counter() - t0,
                                       extra={"y_true": s["y_true"], "y_pred": s["y_pred"],
                                              "test_index": fold.index("test"), "p_star_source": p_source}))
        info = trained.model["info"]
        metrics = {k: info[k] for k in ("boxes_per_image", "images_without_box", "box_area", "seconds_per_image",
                                        "seconds_boxes", "seconds_proposer", "seconds_train")}
        metrics["candidates_per_image"] = float(np.mean([len(f["candidates"]) for f in feats]))
        metrics["emotional_slots_filled"] = float(np.mean([f["emotional"]["mask"].float().mean() for f in feats]))
        if cfg.boxes == "dataset" or all(fold.has_column(c) for c in BOX_COLUMNS):
            metrics.update(val_recall(fold, part["val"]))
        records.append(fold.record(self.cost_method, shared, metrics,
                                   extra={"proposer_history": info["history"], "p_star_source": p_source}))
        return records

    @classmethod
    def paper_values(cls, runs, dataset: str, subset: str | None = None, *, lam: float = PAPER_LAM,
                     neutral: str = "count") -> dict:
        """The card's rows (their L_multi at ``lam``: a chapter run with another λ), and the derived row: λ chosen
        on each fold's validation part from the λ sweep; from the records of p*'s ``neutral`` reading."""
        from vsalib import report

        runs = select_neutral(runs, neutral)
        out = {}
        for r in CARD.rows:
            params = {**r.params, "lam": float(lam)} if "lam" in r.params else r.params
            out[r.name] = (report.row_accuracy(PaperRow(r.name, r.method, params), runs),
                           report.paper_figure(CARD, r.name, dataset, subset)[0])
        d = CARD.derived[0]
        lams = swept_lams(runs)
        per = {v: (report.row_accuracy(PaperRow(d.name, d.method, {**d.params, "lam": v}), runs),
                   report.row_accuracy(PaperRow(d.name, d.method, {**d.params, "lam": v}, metric="val_accuracy"),
                                       runs)) for v in lams}
        swept = sum(len(t) > 0 for t, _ in per.values()) >= 2
        out[d.name] = (report.validation_choice(per)[0] if swept else report.row_accuracy(None, runs.iloc[:0]),
                       math.nan)
        return out


    @classmethod
    def claim_runs(cls, runs):
        """The records of the default neutral reading (those ``paper_values`` reads)."""
        return select_neutral(runs)


def select_neutral(runs, neutral: str = "count"):
    """The records made with p*'s ``neutral`` reading (a record without the parameter predates it: "count")."""
    if not len(runs) or "params.neutral" not in runs:
        return runs if neutral == "count" else runs.iloc[:0]
    col = runs["params.neutral"]
    return runs[col.isna() | (col == neutral)] if neutral == "count" else runs[col == neutral]


def swept_lams(runs) -> list[float]:
    """The λ values of the L_multi heads in ``runs`` (the store's rows), ascending."""
    if not len(runs) or "params.lam" not in runs:
        return []
    multi = (runs["method"] == MultiLevelRCNN.name) & (runs.get("params.loss") == "multi")
    return sorted(set(runs.loc[multi, "params.lam"].dropna()))


def _pretrained(ft: Record):
    from vsalib.backbones import create_backbone

    return create_backbone(ft.params["backbone"])


__all__ = ["BOX_COLUMNS", "CARD", "LAMS", "LOCAL_FEATURES", "LOSSES", "NEUTRAL_READINGS", "MultiLevelConfig", "MultiLevelHead", "MultiLevelRCNN", "P_OBJ",
           "PAPER_LAM", "PROFILE_SETTINGS", "REGIONS", "Variant", "dataset_boxes", "fold_confidence", "head_inputs", "head_loss",
           "global_map", "image_features", "image_regions", "load_image", "pad_regions", "predict_head", "profile_settings", "pseudo_boxes", "roi_features", "select_neutral", "swept_lams", "train_head", "variants"]
