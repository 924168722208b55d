"""MultiLevelRCNN's regions (Rao et al. 2019, Secs. 3.1-3.2), steps 1-3 of :mod:`vsalib.methods.multilevel_rcnn`:
each image loaded at the method's size, its pseudo emotional regions (or the dataset's own boxes), and per image
the proposer's candidates scored by S_emo (Eq. 3) with the region sets the classifier reads (emotional, object,
random boxes, a grid) and their features X_local, beside X_global from the same pass of the whole-image model.
``cfg`` is the method's :class:`~vsalib.methods.multilevel_rcnn.MultiLevelConfig` throughout."""

from __future__ import annotations

import math
import time
from typing import Sequence

import numpy as np
import torch

from vsalib.methods.base import Fold
from vsalib.regions.anchors import anchor_sizes

#: The columns of a dataset's own emotional-region box (the file's pixels): ``boxes="dataset"`` reads them.
BOX_COLUMNS = ("x0", "y0", "x1", "y1")


# -- step 1: images and the pseudo emotional regions ---------------------------------------------------------

def load_image(path: str, size: int, max_size: int) -> torch.Tensor:
    """One image as a uint8 tensor (3, H, W), its shorter side ``size`` and its longer at most ``max_size``."""
    from torchvision.transforms import functional as TF

    from vsalib.data.images import open_image

    im = open_image(path)
    w, h = im.size
    scale = min(size / min(w, h), max_size / max(w, h))
    im = im.resize((max(1, round(w * scale)), max(1, round(h * scale))))
    return TF.pil_to_tensor(im)


class _Floats:
    """A list of uint8 images seen as floats in [0, 1], converted when read (what the proposer trains on)."""

    def __init__(self, images: Sequence[torch.Tensor]):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i].float() / 255.0


def pseudo_boxes(model, images: Sequence[torch.Tensor], labels: Sequence[int], threshold: float = 0.5,
                 min_area: float = 0.01, progress: bool = False) -> list[torch.Tensor]:
    """Per training image, the boxes of its Grad-CAM for its own label (:func:`vsalib.regions.pseudo.cam_boxes`):
    the stand-in for EmotionROI's emotion-stimuli boxes. ``model``: the fold's whole-image network."""
    from vsalib import explain
    from vsalib.progress import tqdm
    from vsalib.regions.pseudo import cam_boxes

    out = []
    for im, y in tqdm(list(zip(images, labels)), desc="pseudo emotional regions", disable=not progress, leave=False):
        x = model.backbone.normalize(im[None].float() / 255.0)
        cam = explain.gradcam(model, x, model.backbone.trunk[-1], classes=[int(y)])[0]
        out.append(cam_boxes(cam, threshold, min_area))
    return out


def dataset_boxes(fold: Fold, part: str, images: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """The dataset's own emotional-region boxes (columns x0, y0, x1, y1 in the file's pixels) of ``part``'s
    images, scaled to ``images``: the faithful path where a dataset has them (the synthetic set's true boxes)."""
    from vsalib.data.images import open_image

    missing = [c for c in BOX_COLUMNS if not fold.has_column(c)]
    if missing:
        raise KeyError(f"boxes='dataset' needs the columns {', '.join(BOX_COLUMNS)} in {fold.dataset_name}'s table; "
                       f"missing {', '.join(missing)} (use boxes='cam' for pseudo boxes)")
    raw = np.stack([fold.annotations(c, part).astype(float) for c in BOX_COLUMNS], axis=1)
    out = []
    for box, im, path in zip(raw, images, fold.paths(part)):
        w, h = open_image(path).size
        sx, sy = im.shape[-1] / w, im.shape[-2] / h
        out.append(torch.tensor([[box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy]], dtype=torch.float32))
    return out


# -- step 2-3: the proposer and each image's regions -------------------------------------------------------

def pad_regions(boxes: torch.Tensor, k: int, image_size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``k`` of ``boxes``, padded with the whole image (``image_size`` = width, height) to ``k`` slots,
    and the mask of the real ones."""
    n = min(len(boxes), k)
    out = torch.tensor([[0.0, 0.0, float(image_size[0]), float(image_size[1])]]).repeat(k, 1)
    out[:n] = boxes[:n].float()
    return out, torch.arange(k) < n


def image_regions(detector, objects, image: torch.Tensor, cfg, seed: int, local=None) -> dict:
    """One image's regions and features: the proposer's candidates with p_emo, p_obj and S_emo (Eq. 3), and per
    region source (emotional: top K by S_emo; object: top K by p_obj; random boxes; a grid) the K boxes, their
    mask, their p_emo and X_local (K, D): the proposer's box-head features from the same pass, or ``local(boxes)``
    where given (the whole-image model's RoI-aligned features, :func:`roi_features`)."""
    from vsalib.regions.controls import grid_boxes, random_boxes
    from vsalib.regions.emotional import s_emo, top_regions
    from vsalib.regions.fpn import detect

    x01 = image.float() / 255.0
    h, w = image.shape[-2:]
    boxes, p_emo, describe = detect(detector, x01)
    if cfg.p_obj == "imagenet":
        p_obj, obj_class = objects(x01, boxes)
    else:
        p_obj, obj_class = torch.zeros(len(boxes)), torch.zeros(len(boxes), dtype=torch.long)
    score = s_emo(p_emo, p_obj)
    sets = {"emotional": top_regions(boxes, score, (w, h), cfg.top_k, cfg.nms_iou)[::2],
            "object": top_regions(boxes, p_obj, (w, h), cfg.top_k, cfg.nms_iou)[::2],
            "random": pad_regions(random_boxes(w, h, cfg.top_k, seed=seed), cfg.top_k, (w, h)),
            "grid": pad_regions(grid_boxes(w, h, cfg.grid), cfg.top_k, (w, h))}
    every = torch.cat([b for b, _ in sets.values()])
    feats, p_emo_of = describe(every)
    if local is not None:
        feats = local(every)
    out = {"candidates": boxes, "p_emo": p_emo, "p_obj": p_obj, "obj_class": obj_class, "s_emo": score,
           "size": (w, h)}
    for i, (name, (b, mask)) in enumerate(sets.items()):
        sl = slice(i * cfg.top_k, (i + 1) * cfg.top_k)
        out[name] = {"boxes": b, "mask": mask, "x": feats[sl].half(), "p_emo": p_emo_of[sl]}
    return out


@torch.no_grad()
def roi_features(model, image: torch.Tensor, boxes: torch.Tensor, output_size: int = 7,
                 fmap: torch.Tensor | None = None) -> torch.Tensor:
    """X_local from the whole-image model: its last feature map RoI-aligned to each box and pooled as it pools
    the whole image (K, pooled_dim), so a region's feature speaks the same language as X_global. ``fmap``: that
    map where the caller already has it (:func:`global_map`), else computed here."""
    from torchvision.ops import roi_align

    fmap = global_map(model, image) if fmap is None else fmap
    rois = roi_align(fmap, [boxes.float()], output_size=output_size, spatial_scale=fmap.shape[-1] / image.shape[-1],
                     sampling_ratio=2, aligned=True)
    return model.backbone.pool(rois)


@torch.no_grad()
def global_map(model, image: torch.Tensor) -> torch.Tensor:
    """The whole-image model's last feature map of a uint8 ``(3, H, W)`` image, ``(1, C, h, w)``: pooled, it is
    X_global; RoI-aligned, X_local (:func:`roi_features`)."""
    return model.backbone(model.backbone.normalize(image[None].float() / 255.0))


@torch.no_grad()
def image_features(global_model, detector, objects, image: torch.Tensor, cfg, seed: int) -> dict:
    """One uint8 image's regions (:func:`image_regions`) and X_global, from one pass of the whole-image model
    (its map pooled is X_global; RoI-aligned, X_local where ``cfg.local_features`` is ``global``)."""
    fmap = global_map(global_model, image)
    local = (lambda b: roi_features(global_model, image, b, fmap=fmap)) if cfg.local_features == "global" else None
    out = image_regions(detector, objects, image, cfg, seed=seed, local=local)
    out["x_global"] = global_model.backbone.pool(fmap)[0]
    return out


def train_proposer(fold: Fold, ft, global_model, cfg, weights, progress: bool = False):
    """The fold's emotional-region proposer, trained on its training images (read back when its weights are
    in the cache), and what its training measured."""
    import copy

    from vsalib.backbones import create_backbone
    from vsalib.regions.fpn import emotional_region_detector, train_detector, training_seconds
    from vsalib.train.loop import atomic_torch_save, safe_torch_load

    size = int(ft.params["image_size"])
    torch.manual_seed(fold.id.seed * 1000 + fold.id.fold)
    det = emotional_region_detector(copy.deepcopy(create_backbone(ft.params["backbone"])), min_size=size,
                                    max_size=cfg.max_size, detections_per_image=cfg.candidates,
                                    fpn_channels=cfg.fpn_channels, representation=cfg.representation,
                                    rpn_pre_nms=cfg.rpn_pre_nms, rpn_post_nms=cfg.rpn_post_nms,
                                    rois_per_image=cfg.rois_per_image, frozen_stages=cfg.frozen_stages,
                                    anchor_sizes=anchor_sizes(cfg.anchors, size))
    if weights.is_file():
        state = safe_torch_load(weights)
        det.load_state_dict(state["model"])
        return det.eval(), state["info"]
    t0 = time.perf_counter()
    images = [load_image(p, size, cfg.max_size) for p in fold.paths("train")]
    if cfg.boxes == "dataset":
        boxes = dataset_boxes(fold, "train", images)
    else:
        boxes = pseudo_boxes(global_model, images, fold.labels("train"), cfg.cam_threshold, cfg.cam_min_area,
                             progress)
    t_boxes = time.perf_counter() - t0
    history = train_detector(det, _Floats(images), boxes, epochs=cfg.detector_epochs, batch_size=cfg.detector_batch,
                             lr=cfg.detector_lr, seed=fold.id.seed * 1000 + fold.id.fold,
                             checkpoint_path=weights.with_name("proposer-training.pt"), progress=progress)
    info = {"boxes_per_image": float(np.mean([len(b) for b in boxes])),
            "images_without_box": int(sum(len(b) == 0 for b in boxes)),
            "box_area": float(np.mean([((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])).sum().item() /
                                        (im.shape[-1] * im.shape[-2]) for b, im in zip(boxes, images) if len(b)]
                                       or [math.nan])),
            "seconds_boxes": t_boxes, "seconds_proposer": training_seconds(history, time.perf_counter() - t0 - t_boxes),
            "history": history}
    atomic_torch_save({"model": det.state_dict(), "info": info}, weights)
    return det.eval(), info


def val_recall(fold: Fold, val: Sequence[dict]) -> dict:
    """Recall (IoU ≥ 0.5) of the dataset's box among each source's K regions, on the validation part."""
    from vsalib.data.images import open_image
    from vsalib.regions.fpn import box_recall

    if not len(val):
        return {}
    raw = np.stack([fold.annotations(c, "val").astype(float) for c in BOX_COLUMNS], axis=1)
    truth = []
    for box, f, path in zip(raw, val, fold.paths("val")):
        w, h = open_image(path).size
        sx, sy = f["size"][0] / w, f["size"][1] / h
        truth.append(torch.tensor([[box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy]]))
    return {f"recall_{src}": box_recall([f[src]["boxes"][f[src]["mask"]] for f in val], truth)
            for src in ("emotional", "object", "random", "grid")}
