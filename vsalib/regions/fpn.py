"""MultiLevelRCNN's emotional-region proposer (Rao et al., Sec. 3.1), built from torchvision's detection parts.

The backbone's stride-4/8/16/32 maps feed a feature pyramid (``torchvision.ops.FeaturePyramidNetwork``:
P2–P5, no P6, as printed), and a Faster R-CNN (``torchvision.models.detection.FasterRCNN``) proposes and
classifies regions on it with one anchor size per level (32², 64², 128², 256²) and one aspect ratio (1:1).
Its RPN labels anchors by the paper's rule (torchvision's ``Matcher(0.7, 0.3, allow_low_quality_matches=
True)``, the same as :func:`vsalib.regions.emotional.label_anchors`); its box classifier has two classes,
background and *emotional region*, whose probability is the paper's p_emo.

The paper starts from ResNet-101 with COCO weights; those cannot be had offline, so the offline backbone's
levels feed a freshly initialised pyramid and heads (``-p backbone resnet101`` where its ImageNet weights
are cached: still no COCO detector).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn
from torchvision.models._utils import IntermediateLayerGetter
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.ops import FeaturePyramidNetwork, MultiScaleRoIAlign

from vsalib.regions.anchors import ANCHOR_SIZES

#: Per backbone: the trunk stages whose outputs are the stride-4, 8, 16 and 32 levels, and their channels.
LEVELS: dict[str, tuple[dict[str, str], list[int]]] = {
    "efficientnet_lite0": ({"3": "0", "5": "1", "11": "2", "16": "3"}, [24, 40, 112, 320]),
    "resnet101": ({"1": "0", "2": "1", "3": "2", "4": "3"}, [256, 512, 1024, 2048]),
}


class MultiLevelFeatures(nn.Module):
    """The backbone's four levels through a feature pyramid: ``{"0": P2, "1": P3, "2": P4, "3": P5}``, each
    with ``out_channels`` channels (what torchvision's detection models expect of a backbone)."""

    def __init__(self, backbone, out_channels: int = 256):
        super().__init__()
        if backbone.name not in LEVELS:
            raise ValueError(f"no multi-level layout for backbone {backbone.name!r}; known: {', '.join(LEVELS)}")
        return_layers, in_channels = LEVELS[backbone.name]
        self.body = IntermediateLayerGetter(backbone.trunk, return_layers)
        self.fpn = FeaturePyramidNetwork(in_channels, out_channels, extra_blocks=None)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        return self.fpn(self.body(x))


def emotional_region_detector(backbone, *, min_size: int = 224, max_size: int = 384,
                              anchor_sizes: tuple[int, ...] = ANCHOR_SIZES, detections_per_image: int = 100,
                              score_thresh: float = 0.0, nms_thresh: float = 0.5, fpn_channels: int = 256,
                              representation: int = 1024, rpn_pre_nms: int = 2000, rpn_post_nms: int = 2000,
                              rois_per_image: int = 512, frozen_stages: int = 0) -> FasterRCNN:
    """A Faster R-CNN on :class:`MultiLevelFeatures` with one anchor size per level and aspect 1:1, two classes
    (background, emotional region). In training mode ``model(images, targets)`` returns torchvision's named
    losses; in eval mode ``model(images)`` the regions with their p_emo (``scores``).

    The cost knobs (torchvision's defaults for a detector with a pyramid, which the paper used): the
    pyramid's width ``fpn_channels``, the box head's width ``representation`` (the size of X_local), the RPN's
    proposals kept before and after NMS in training (``rpn_pre_nms``, ``rpn_post_nms``; half of each at test
    time), the RoIs sampled per image for the box classifier (``rois_per_image``), and ``frozen_stages``: the
    first trunk stages kept as they are (the cpu profile's way to afford the proposer)."""
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead

    if len(anchor_sizes) != 4:
        raise ValueError(f"one anchor size per level P2..P5: 4 sizes, got {anchor_sizes}")
    for name, value in (("fpn_channels", fpn_channels), ("representation", representation),
                        ("rpn_pre_nms", rpn_pre_nms), ("rpn_post_nms", rpn_post_nms), ("rois_per_image", rois_per_image)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if not 0 <= frozen_stages <= len(backbone.trunk):
        raise ValueError(f"frozen_stages must lie in 0..{len(backbone.trunk)} (the trunk's stages), got {frozen_stages}")
    for p in backbone.trunk[:frozen_stages].parameters():
        p.requires_grad_(False)
    anchors = AnchorGenerator(tuple((s,) for s in anchor_sizes), ((1.0,),) * 4)
    pool = MultiScaleRoIAlign(["0", "1", "2", "3"], output_size=7, sampling_ratio=2)
    return FasterRCNN(MultiLevelFeatures(backbone, fpn_channels), num_classes=None, rpn_anchor_generator=anchors,
                      box_roi_pool=pool, box_head=TwoMLPHead(fpn_channels * 7 * 7, representation),
                      box_predictor=FastRCNNPredictor(representation, 2),
                      min_size=min_size, max_size=max_size, image_mean=list(backbone.info.mean),
                      image_std=list(backbone.info.std), box_detections_per_img=detections_per_image,
                      box_score_thresh=score_thresh, box_nms_thresh=nms_thresh,
                      rpn_pre_nms_top_n_train=rpn_pre_nms, rpn_post_nms_top_n_train=rpn_post_nms,
                      rpn_pre_nms_top_n_test=max(1, rpn_pre_nms // 2), rpn_post_nms_top_n_test=max(1, rpn_post_nms // 2),
                      box_batch_size_per_image=rois_per_image)


def _box_head(detector: FasterRCNN, feats, boxes: list[torch.Tensor], image_sizes, batch_sizes
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """The box head's features of ``boxes`` (each image's, in its own pixels: ``image_sizes`` (H, W)), scaled to
    the detector's resized batch (``batch_sizes``), and their p_emo (the probability of *emotional region*)."""
    scaled = [b.float() * torch.tensor([w1 / w0, h1 / h0, w1 / w0, h1 / h0])
              for b, (h0, w0), (h1, w1) in zip(boxes, image_sizes, batch_sizes)]
    x = detector.roi_heads.box_head(detector.roi_heads.box_roi_pool(feats, scaled, batch_sizes))
    return x, detector.roi_heads.box_predictor(x)[0].softmax(dim=1)[:, 1]


@torch.no_grad()
def region_features(detector: FasterRCNN, images: list[torch.Tensor], boxes: list[torch.Tensor]
                    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Per image, the RoI features of ``boxes`` (the box head's output, one row per box: the paper's X_local)
    and their p_emo (the box classifier's probability of *emotional region*). ``images``: tensors in [0, 1]
    (3, H, W); ``boxes``: (N_i, 4) in those images' pixels."""
    was_training = detector.training
    detector.eval()
    try:
        batch, _ = detector.transform(images)
        feats = detector.backbone(batch.tensors)
        x, p_emo = _box_head(detector, feats, boxes, [tuple(im.shape[-2:]) for im in images], batch.image_sizes)
    finally:
        detector.train(was_training)
    sizes = [len(b) for b in boxes]
    return list(x.split(sizes)), list(p_emo.split(sizes))


def training_seconds(history: list[dict], fallback: float = math.nan) -> float:
    """What a training took, summed over the epochs of its ``history`` (each epoch keeps its ``seconds``, so a run
    resumed from its checkpoint counts the epochs run before the stop too); ``fallback`` where an epoch lacks them
    (a checkpoint written before epochs kept their time)."""
    secs = [h.get("seconds") for h in history]
    return float(sum(secs)) if secs and all(isinstance(t, (int, float)) and math.isfinite(t) for t in secs) \
        else float(fallback)


def train_detector(detector: FasterRCNN, images, boxes: list[torch.Tensor], *, epochs: int = 10,
                   batch_size: int = 4, lr: float = 0.01, seed: int = 0, checkpoint_path=None,
                   progress: bool = True) -> list[dict]:
    """Train the proposer on images (tensors in [0, 1], or a sequence that yields them) and their emotional-region
    boxes (N_i, 4) with SGD (momentum 0.9, weight decay 1e-4): torchvision's four named losses summed. Returns each
    epoch's mean of every term, and its ``seconds`` (so that a resumed run can report what the whole training took).
    Images without a box train the RPN and the box classifier on background only.

    ``checkpoint_path``: the model, the optimiser, the history and the random state are saved there after every
    epoch (atomically), and a run that finds the file resumes after its last epoch as if it had not stopped; the
    file is removed at the end."""
    from vsalib.progress import tqdm
    from vsalib.train.loop import atomic_torch_save, safe_torch_load

    if len(images) != len(boxes):
        raise ValueError(f"{len(images)} images and {len(boxes)} box sets")
    g = torch.Generator().manual_seed(seed)
    params = [p for p in detector.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=1e-4)
    history: list[dict] = []
    if checkpoint_path is not None and Path(checkpoint_path).is_file():
        state = safe_torch_load(checkpoint_path)
        detector.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        history = list(state["history"])
        torch.set_rng_state(state["rng"])  # the samplers of anchors and RoIs draw from the global generator
    detector.train()
    for epoch in tqdm(range(epochs), desc="emotional-region proposer", disable=not progress, leave=False):
        order = torch.randperm(len(images), generator=g).tolist()  # drawn every epoch: a resumed run draws alike
        if epoch < len(history):
            continue
        sums: dict[str, float] = {}
        t0 = time.perf_counter()
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            targets = [{"boxes": boxes[i].float().reshape(-1, 4), "labels": torch.ones(len(boxes[i]), dtype=torch.long)}
                       for i in idx]
            losses = detector([images[i] for i in idx], targets)
            loss = sum(losses.values())
            opt.zero_grad()
            loss.backward()
            opt.step()
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach()) * len(idx)
        history.append({"epoch": epoch, **{k: v / len(images) for k, v in sums.items()},
                        "seconds": time.perf_counter() - t0})
        if checkpoint_path is not None:
            atomic_torch_save({"model": detector.state_dict(), "optimizer": opt.state_dict(), "history": history,
                               "rng": torch.get_rng_state()}, checkpoint_path)
    detector.eval()
    if checkpoint_path is not None:
        Path(checkpoint_path).unlink(missing_ok=True)
    return history


@torch.no_grad()
def detect(detector: FasterRCNN, image: torch.Tensor):
    """One pass of the proposer over one image (3, H, W) in [0, 1]: its regions ``(boxes (N, 4), p_emo (N,))`` in
    the image's pixels, and ``describe(boxes) -> (features (M, representation), p_emo (M,))`` for any boxes of the
    image from the same pass (the paper's X_local)."""
    detector.eval()
    batch, _ = detector.transform([image])
    feats = detector.backbone(batch.tensors)
    proposals, _ = detector.rpn(batch, feats)
    found, _ = detector.roi_heads(feats, proposals, batch.image_sizes)
    found = detector.transform.postprocess(found, batch.image_sizes, [tuple(image.shape[-2:])])[0]

    def describe(boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return _box_head(detector, feats, [boxes], [tuple(image.shape[-2:])], batch.image_sizes)

    return found["boxes"], found["scores"], describe


def box_recall(found: list[torch.Tensor], truth: list[torch.Tensor], iou: float = 0.5, top: int | None = None) -> float:
    """Share of the true boxes that one of the found boxes (each image's first ``top``) overlaps with IoU ≥ ``iou``."""
    from torchvision.ops import box_iou

    hits = total = 0
    for f, t in zip(found, truth):
        f = f[:top] if top is not None else f
        total += len(t)
        if len(t) and len(f):
            hits += int((box_iou(t.float(), f.float()).amax(dim=1) >= iou).sum())
    return hits / total if total else float("nan")


__all__ = ["ANCHOR_SIZES", "LEVELS", "MultiLevelFeatures", "box_recall", "detect", "emotional_region_detector",
           "region_features", "train_detector"]
