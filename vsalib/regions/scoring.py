"""Sentiment scores of image regions and the affective-region ranking of Sun2016 (ICME 2016).

Two parts:

**Scoring regions with a whole-image classifier** (a :class:`~vsalib.methods.global_cnn.GlobalCNN`
with ``start=0``, or any module with ``backbone``, ``dropout``, ``classifier`` and ``feature_map``):

- ``method="crop"`` (the paper's way, Algorithm 1 step 3): each box is cut from the *original*
  image (optionally with ``context`` pixels of margin), warped (resized without keeping the aspect
  ratio) to ``size`` × ``size``, normalised with the backbone's mean/std and classified; N boxes cost
  N forward passes (batched by ``batch_size``).
- ``method="roialign"`` (a fast approximation, not in the paper): one trunk pass over the whole
  image warped to ``size`` × ``size``; every box is mapped to that resized image and cut from the
  feature map with ``torchvision.ops.roi_align`` (``spatial_scale = 1 / stride``, ``aligned=True``)
  to the feature-map size of a full image (7 × 7 at 224 px for stride 32), so the pooling head and
  the classifier see the shape they were trained on; then pool → dropout (eval) → classifier.

Both return softmax probabilities ``(N, M)`` (:func:`score_regions`), pooled features ``(N, D)`` for
early fusion (:func:`region_features`), or all three of features, logits and probabilities from
one pass (:func:`region_outputs`). Computations run on the model's device and the returned tensors
stay there; the model is put in eval mode for the call and its previous mode is restored.

Images are warped with ``torch.nn.functional.interpolate(mode="bilinear", antialias=True)`` on a
float tensor (x / 255), the same as ``torchvision.transforms.Resize`` on tensors. Training used
PIL's resize (``Backbone.preprocess``), which differs by about one grey level after quantisation.
:func:`whole_image_probs` with ``how="warp"`` uses the same warp as the crop mode, so the whole
image as a box scores exactly like the whole image.

**Ranking** (Sun2016 Eq. 1–2, and the Yang et al. TMM 2018 preset): :func:`senti_score`,
:func:`affective_rank`, :func:`top_k`, :func:`minmax`, :func:`normalize`, :func:`ar_linear`,
:func:`select_affective_regions`.
"""

from __future__ import annotations

import math
import os
import time
from typing import NamedTuple, Sequence

import cv2
import numpy as np
import torch
from PIL import Image
from torchvision.ops import roi_align

from vsalib.data.images import open_image
from vsalib.regions.boxes import jitter_boxes
from vsalib.regions.cnn import (  # noqa: F401  (the short private names read like the paper's steps)
    check_model as _check_model, eval_mode as _eval_mode, feat_dim as _feat_dim, head_outputs as _head,
    image_tensor as _image_tensor, input_size as _size, model_device as _model_device, n_classes as _n_classes,
    normalize_input as _normalize, warp as _warp,
)

METHODS = ("crop", "roialign")
AR_MODES = ("obj", "senti", "obj+senti")
WHOLE_IMAGE_HOW = ("warp", "center")


class RegionOutputs(NamedTuple):
    """Per-region outputs of one scoring pass: pooled ``features`` (N, D), ``logits`` and ``probs`` (N, M)."""

    features: torch.Tensor
    logits: torch.Tensor
    probs: torch.Tensor


# ---------------------------------------------------------------------------------------------
# Sentiment score, affective rank, top-K
# ---------------------------------------------------------------------------------------------
def senti_score(probs, log_base: float = 2.0) -> torch.Tensor:
    """Sun2016 Eq. 1: ``Senti_j = 1 + sum_{i=1..M} s_ij log s_ij`` for each region j.

    ``probs``: the classifier's softmax output, ``(N, M)`` (one row per region) or ``(M,)``; the sum
    runs over the last dimension (M = 2 classes in the paper). Returns ``(N,)`` (or a scalar).

    Reading: the paper does not give the log base. ``log_base=2`` (default) makes Senti one minus
    the entropy in bits: a 50/50 region scores 0 and a certain one 1, so Senti lies in [0, 1] like
    an objectness score (for M classes: [1 - log2 M, 1]). ``log_base=math.e`` (the Yang et al. TMM
    2018 code) gives [1 - ln 2, 1] = [0.307, 1] for M = 2. The base does not change a ranking by
    Senti alone but does change the ``obj+senti`` ranking (:func:`affective_rank`).
    ``torch.special.xlogy`` makes ``0 log 0 = 0``, so a certain region (1, 0) scores exactly 1.
    """
    p = torch.as_tensor(probs)
    if not torch.is_floating_point(p):
        p = p.to(torch.get_default_dtype())
    if p.ndim == 0 or p.shape[-1] < 1:
        raise ValueError(f"probs must be (N, M) or (M,) class probabilities, got shape {tuple(p.shape)}")
    if log_base is None or not (float(log_base) > 0 and float(log_base) != 1.0):
        raise ValueError(f"log_base must be a positive number other than 1, got {log_base!r}")
    if p.numel() and (bool((p < 0).any()) or bool((p > 1 + 1e-6).any())):
        raise ValueError("probs must lie in [0, 1] (softmax outputs, not logits)")
    return 1.0 + torch.special.xlogy(p, p).sum(-1) / math.log(float(log_base))


def senti_order(logits, log_base: float = 2.0) -> torch.Tensor:
    """Eq. 1 without its constant 1, from logits in float64: ``sum_i s_ij log s_ij`` (the negative entropy), ``(N,)``.
    It orders regions exactly as Senti does, without saturation: a confident region's float32 softmax rounds to
    ``(1, 0)`` and its Senti to exactly 1, so that dozens of a fine-tuned model's proposals can tie at the top and
    "the first region by Senti" is whichever the sort puts first; ``log_softmax`` in float64 keeps them apart."""
    lp = torch.as_tensor(logits).double().log_softmax(-1)
    return (lp.exp() * lp).sum(-1) / math.log(log_base)


def minmax(x, dim: int = -1) -> torch.Tensor:
    """Min-max normalisation ``(x - min) / (max - min)`` along ``dim`` (over one image's regions).

    Used by the Yang et al. TMM 2018 preset for both Senti and Obj. A constant vector (max = min,
    including a single region) maps to **zeros**, not NaN: it carries no ranking information. An
    empty vector stays empty.
    """
    x = torch.as_tensor(x)
    if not torch.is_floating_point(x):
        x = x.to(torch.get_default_dtype())
    if x.numel() == 0:
        return x.clone()
    lo = x.amin(dim=dim, keepdim=True)
    span = x.amax(dim=dim, keepdim=True) - lo
    return torch.where(span > 0, (x - lo) / torch.where(span > 0, span, torch.ones_like(span)),
                       torch.zeros_like(x))


def normalize(x, how: str = "none", dim: int = -1) -> torch.Tensor:
    """Per-image normalisation of a score (e.g. Obj, whose scale the paper does not give).

    ``"none"``: unchanged; ``"max"``: divide by the image's maximum (a zero maximum leaves zeros);
    ``"minmax"``: :func:`minmax`.
    """
    x = torch.as_tensor(x)
    if not torch.is_floating_point(x):
        x = x.to(torch.get_default_dtype())
    if how == "none":
        return x.clone()
    if how == "minmax":
        return minmax(x, dim)
    if how == "max":
        if x.numel() == 0:
            return x.clone()
        m = x.amax(dim=dim, keepdim=True)
        return torch.where(m != 0, x / torch.where(m != 0, m, torch.ones_like(m)), torch.zeros_like(x))
    raise ValueError(f"unknown normalisation {how!r}; valid: 'none', 'max', 'minmax'")


def _pair(obj, senti) -> tuple[torch.Tensor, torch.Tensor]:
    o = torch.as_tensor(obj)
    s = torch.as_tensor(senti)
    dtype = torch.promote_types(o.dtype if o.is_floating_point() else torch.get_default_dtype(),
                                s.dtype if s.is_floating_point() else torch.get_default_dtype())
    o, s = o.to(dtype), s.to(dtype)
    if o.shape != s.shape:
        raise ValueError(f"obj and senti must have the same shape (one value per region), got "
                         f"{tuple(o.shape)} and {tuple(s.shape)}")
    return o, s


def affective_rank(obj, senti, alpha: float = 1.0, mode: str = "obj+senti") -> torch.Tensor:
    """Sun2016 Eq. 2: ``AR_j = sqrt(Obj_j^2 + alpha * Senti_j^2)`` (alpha = 1 in the paper).

    ``mode`` gives the paper's Table 1 ablations: ``"obj"`` ranks by Obj only (returns Obj),
    ``"senti"`` by Senti only (returns Senti), ``"obj+senti"`` by AR. Returns one score per region;
    pick regions with :func:`top_k`. ``alpha = 0`` reduces AR to Obj (for Obj >= 0).

    Eq. 2 squares its terms, so it only ranks sensibly for Obj, Senti >= 0 (a negative Senti, e.g.
    M > 2 classes with ``log_base=2``, would rank an uncertain region high): negative values raise.
    Obj and Senti should be on comparable scales: if Obj is much smaller than Senti, ``obj+senti``
    collapses to ``senti`` (see :func:`normalize`).
    """
    o, s = _pair(obj, senti)
    if mode not in AR_MODES:
        raise ValueError(f"unknown mode {mode!r}; valid: {', '.join(AR_MODES)}")
    if mode == "obj":
        return o.clone()
    if mode == "senti":
        return s.clone()
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    if o.numel() and (bool((o < 0).any()) or bool((s < 0).any())):
        raise ValueError("affective_rank('obj+senti') needs Obj >= 0 and Senti >= 0 (Eq. 2 squares them); "
                         "for M > 2 classes use senti_score(..., log_base=M) so that Senti lies in [0, 1]")
    return torch.sqrt(o * o + alpha * s * s)


def ar_linear(obj, senti, w_obj: float = 0.6, normalize_scores: bool = True) -> torch.Tensor:
    """Yang et al. TMM 2018 preset (summary item 7): ``AR_j = (1 - w) * Senti_j + w * Obj_j``, w = 0.6.

    With ``normalize_scores=True`` (the preset) Senti and Obj are each min-max normalised over the
    image's candidates first (:func:`minmax`; a constant score becomes zeros). ``obj``/``senti``:
    ``(N,)`` for one image, or ``(B, N)`` normalised along the last dimension.
    """
    o, s = _pair(obj, senti)
    if not 0.0 <= w_obj <= 1.0:
        raise ValueError(f"w_obj must lie in [0, 1], got {w_obj}")
    if normalize_scores:
        o, s = minmax(o), minmax(s)
    return (1.0 - w_obj) * s + w_obj * o


def top_k(scores, k: int | None) -> torch.Tensor:
    """Indices of the ``K_eff = min(K, N)`` highest scores, in descending score order.

    Ties are broken by index (the lower index first: a stable sort). ``k=None`` orders all N.
    Returns a ``LongTensor`` on the scores' device; NaN scores raise.
    """
    s = torch.as_tensor(scores)
    if s.ndim != 1:
        raise ValueError(f"scores must be one score per region (N,), got shape {tuple(s.shape)}")
    if k is not None and (int(k) != k or k < 0):
        raise ValueError(f"k must be a non-negative integer or None, got {k!r}")
    if s.is_floating_point() and bool(torch.isnan(s).any()):
        raise ValueError("scores contain NaN")
    order = torch.sort(s, descending=True, stable=True).indices
    return order if k is None else order[: min(int(k), s.numel())]


def select_affective_regions(obj, senti, k: int | None, *, alpha: float = 1.0, mode: str = "obj+senti",
                             obj_norm: str = "none") -> torch.Tensor:
    """Sun2016 Algorithm 1 steps 6–8: normalise Obj (``obj_norm``), rank by AR, keep the top ``K_eff``."""
    return top_k(affective_rank(normalize(obj, obj_norm), senti, alpha=alpha, mode=mode), k)


# ---------------------------------------------------------------------------------------------
# Box plumbing (the model and image plumbing is vsalib.regions.cnn)
# ---------------------------------------------------------------------------------------------
def _prep_boxes(boxes, width: int, height: int, context: float = 0.0) -> torch.Tensor:
    """(N, 4) float64 boxes grown by ``context`` px, clipped to the image, at least 1 px wide/high."""
    b = torch.as_tensor(np.asarray(boxes, dtype=np.float64) if not isinstance(boxes, torch.Tensor)
                        else boxes.detach().cpu().to(torch.float64))
    if b.numel() == 0:
        return b.reshape(0, 4)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"boxes must be (N, 4) x0, y0, x1, y1, got shape {tuple(b.shape)}")
    if not bool(torch.isfinite(b).all()):
        raise ValueError("boxes contain NaN or infinite coordinates")
    if context < 0:
        raise ValueError(f"context must be >= 0 pixels, got {context}")
    b = b.clone()
    b[:, :2] -= context
    b[:, 2:] += context
    b[:, 0::2] = b[:, 0::2].clamp(0, width)
    b[:, 1::2] = b[:, 1::2].clamp(0, height)
    # degenerate (or outside-the-image) boxes become 1-pixel boxes inside the image
    b[:, 0] = torch.minimum(b[:, 0], torch.tensor(float(width - 1), dtype=b.dtype))
    b[:, 1] = torch.minimum(b[:, 1], torch.tensor(float(height - 1), dtype=b.dtype))
    b[:, 2] = torch.maximum(b[:, 2], b[:, 0] + 1)
    b[:, 3] = torch.maximum(b[:, 3], b[:, 1] + 1)
    return b


def _empty(model, device) -> RegionOutputs:
    m, d = _n_classes(model), _feat_dim(model)
    z = torch.zeros
    return RegionOutputs(z(0, d, device=device), z(0, m, device=device), z(0, m, device=device))


# ---------------------------------------------------------------------------------------------
# Crop mode (the paper's)
# ---------------------------------------------------------------------------------------------
#: Crops per forward pass when none is given: small batches in channels-last memory are what a CPU runs
#: fastest (EfficientNet-Lite0, 100 crops on 2 cores: 1.17 s at 4 channels-last, 4.92 s at 32 contiguous;
#: ``benchmarks/run.py --only crop_batch``); a GPU wants large ones.
CROP_BATCH = {"cpu": 4, "cuda": 64}
#: Boxes per trunk pass of RoIAlign with ``mask_surroundings`` (one masked copy of the image per box).
MASKED_BATCH = 25


def _crop_batch(batch_size: int | None, dev) -> int:
    b = CROP_BATCH.get(torch.device(dev).type, 32) if batch_size is None else int(batch_size)
    if b < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return b


def _forward_crops(model, crops: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Pooled features and logits of warped crops (each (3, size, size) in [0, 1]), channels-last."""
    x = _normalize(model, torch.stack(crops)).contiguous(memory_format=torch.channels_last)
    return _head(model, model.feature_map(x))


def _crop_outputs(model, image, boxes, *, size=None, context: float = 0, batch_size: int | None = None,
                  device=None) -> RegionOutputs:
    _check_model(model)
    dev = _model_device(model, device)
    size = _size(model, size)
    batch_size = _crop_batch(batch_size, dev)
    img = _image_tensor(image, dev)
    h, w = img.shape[-2:]
    b = _prep_boxes(boxes, w, h, context)
    if len(b) == 0:
        return _empty(model, dev)
    # the smallest pixel-aligned box holding each (float) box
    x0 = b[:, 0].floor().long().tolist()
    y0 = b[:, 1].floor().long().tolist()
    x1 = b[:, 2].ceil().long().tolist()
    y1 = b[:, 3].ceil().long().tolist()
    feats, logits = [], []
    with _eval_mode(model):
        for i in range(0, len(b), batch_size):
            crops = [_warp(img[:, y0[j]:y1[j], x0[j]:x1[j]], size) for j in range(i, min(i + batch_size, len(b)))]
            f, lg = _forward_crops(model, crops)
            feats.append(f)
            logits.append(lg)
    logits = torch.cat(logits)
    return RegionOutputs(torch.cat(feats), logits, logits.float().softmax(-1))


# ---------------------------------------------------------------------------------------------
# RoIAlign mode (one trunk pass)
# ---------------------------------------------------------------------------------------------
def shared_map_size(h: int, w: int, shorter_side: int, longer_max: int = 1000) -> tuple[int, int]:
    """Fast R-CNN's input scale: the image resized, aspect kept, so that its shorter side is ``shorter_side``
    unless the longer side would pass ``longer_max`` (then the longer side is ``longer_max``): ``(H', W')``."""
    if shorter_side < 1:
        raise ValueError(f"shorter_side must be >= 1, got {shorter_side}")
    s = min(shorter_side / min(h, w), longer_max / max(h, w))
    return max(1, round(h * s)), max(1, round(w * s))


def _roialign_outputs(model, image, boxes, *, size=None, output_size=None, context: float = 0,
                      sampling_ratio: int = -1, batch_size: int = 256, shorter_side: int | None = None,
                      mask_surroundings: bool = False, device=None) -> RegionOutputs:
    _check_model(model)
    dev = _model_device(model, device)
    size = _size(model, size)
    img = _image_tensor(image, dev)
    h, w = img.shape[-2:]
    b = _prep_boxes(boxes, w, h, context)
    if len(b) == 0:
        return _empty(model, dev)
    # the shared map's input: the image warped to size x size, or (shorter_side) resized with its aspect kept
    hh, ww = (size, size) if shorter_side is None else shared_map_size(h, w, shorter_side)
    scale = torch.tensor([ww / w, hh / h, ww / w, hh / h], dtype=torch.float64)
    rb = b * scale
    feats, logits = [], []
    with _eval_mode(model):
        x = _normalize(model, _warp(img, (hh, ww)))
        full = (size // model.backbone.stride,) * 2  # the map of a whole size x size image: what the head expects
        fixed = None if output_size is None else (
            (int(output_size), int(output_size)) if isinstance(output_size, (int, np.integer)) else
            tuple(int(v) for v in output_size))
        # one shared map, or (mask_surroundings) one map per box of its own copy of the image with every pixel
        # outside the box at the mean colour (0 once normalised): the region without its context, at the map's scale
        step = MASKED_BATCH if mask_surroundings else len(rb)
        cy = torch.arange(hh, dtype=torch.float64, device=dev) + 0.5
        cx = torch.arange(ww, dtype=torch.float64, device=dev) + 0.5
        for i in range(0, len(rb), step):
            part = rb[i:i + step].to(dev)
            if mask_surroundings:
                inside = (((cy[None, :, None] >= part[:, 1, None, None]) & (cy[None, :, None] <= part[:, 3, None, None]))
                          & ((cx[None, None, :] >= part[:, 0, None, None]) & (cx[None, None, :] <= part[:, 2, None, None])))
                fmap = model.feature_map(x[None] * inside[:, None].to(x.dtype))
                index = torch.arange(len(part), dtype=torch.float64, device=dev)[:, None]
            else:
                fmap = model.feature_map(x[None])
                index = torch.zeros(len(part), 1, dtype=torch.float64, device=dev)
            out = fixed or (tuple(fmap.shape[-2:]) if shorter_side is None else full)
            pooled = roi_align(fmap, torch.cat([index, part], 1).to(fmap.dtype), output_size=out,
                               spatial_scale=1.0 / model.backbone.stride, sampling_ratio=sampling_ratio, aligned=True)
            for j in range(0, len(pooled), batch_size):
                f, lg = _head(model, pooled[j:j + batch_size])
                feats.append(f)
                logits.append(lg)
    logits = torch.cat(logits)
    return RegionOutputs(torch.cat(feats), logits, logits.float().softmax(-1))


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------
def region_outputs(model, image, boxes, method: str = "crop", **kw) -> RegionOutputs:
    """Features ``(N, D)``, logits and softmax probabilities ``(N, M)`` of each box from one pass.

    ``method="crop"``: keyword arguments of :func:`score_regions_crop`; ``"roialign"``: of
    :func:`score_regions_roialign`. Zero boxes give empty ``(0, D)`` / ``(0, M)`` tensors without
    running the CNN.
    """
    if method == "crop":
        return _crop_outputs(model, image, boxes, **kw)
    if method == "roialign":
        return _roialign_outputs(model, image, boxes, **kw)
    raise ValueError(f"unknown region scoring method {method!r}; valid: {', '.join(METHODS)}")


def score_regions_crop(model, image, boxes, *, size: int | None = None, context: float = 0,
                       batch_size: int | None = None, device=None) -> torch.Tensor:
    """Softmax probabilities ``(N, M)`` of each box, the paper's way: crop, warp, classify.

    Each box ``(x0, y0, x1, y1)`` (pixels of the original image, x1/y1 exclusive) is grown by
    ``context`` pixels on every side (original-image pixels; clipped to the image), rounded out to
    whole pixels, cut from the original image, warped to ``size`` × ``size`` (default: the backbone's
    ``info.input_size``), normalised with the backbone's mean/std and classified by ``model``
    (``start`` must be 0), ``batch_size`` crops at a time (default :data:`CROP_BATCH` of the device). Boxes are clipped to the image; an empty
    box becomes a 1-pixel box. ``image``: PIL image, path, or (3, H, W) tensor (uint8, or float in
    [0, 1]). ``device``: defaults to (and must match) the model's device; results stay there.

    Note: the TMM 2018 preset's "16 px context" is read here as 16 pixels of the original image;
    R-CNN's variant measures the margin in warped pixels instead.
    """
    return _crop_outputs(model, image, boxes, size=size, context=context, batch_size=batch_size,
                         device=device).probs


def score_regions_roialign(model, image, boxes, *, size: int | None = None, output_size=None,
                           context: float = 0, sampling_ratio: int = -1, shorter_side: int | None = None,
                           mask_surroundings: bool = False, device=None) -> torch.Tensor:
    """Softmax probabilities ``(N, M)`` of each box from one trunk pass over the whole image.

    The image is warped (no crop) to ``size`` × ``size``; boxes are mapped to that image
    (x · size/W, y · size/H) and pooled from the feature map by ``roi_align`` with
    ``spatial_scale = 1/stride``, ``aligned=True`` (pixel-continuous coordinates) and
    ``sampling_ratio`` (default -1: ``ceil(bin size)`` samples per bin, i.e. one sample at each cell
    centre when a bin is one cell, which makes the full-image box reproduce the feature map
    exactly). ``output_size`` defaults to the feature-map size of the full image (7 × 7 at 224 px,
    stride 32), so ``backbone.pool`` (for VGG16: pool5 → fc6 → fc7) and the classifier see the shape
    they were trained on. Then pool → dropout (eval: identity) → classifier → softmax.

    ``shorter_side`` (e.g. 600, Fast R-CNN's scale): the shared map is computed on the image resized with its
    aspect kept (:func:`shared_map_size`) instead of warped to ``size``, so that a small box spans several cells
    of the map instead of a fraction of one; the pooled output stays the map size of a whole ``size`` image.

    ``mask_surroundings`` (a diagnostic, not a scoring to use: one trunk pass per box, as crop scoring costs):
    each box is pooled from the map of its own copy of the image, every pixel outside the box set to the
    backbone's mean colour. Crop scoring sees a region alone at full resolution, RoIAlign among its context (the
    trunk's receptive field spans most of the image) at the map's resolution; this sees it alone at the map's
    resolution, which separates the two causes of their disagreement.

    A stand-in for the paper's crop scoring (the region's receptive field includes its surroundings), ≥ 20×
    faster for 100 boxes, but not an approximation of its rankings: on fine-tuned models it puts crop's first region
    first on a few per cent of images (:mod:`vsalib.methods.scale_check`). Other arguments as
    :func:`score_regions_crop`.
    """
    return _roialign_outputs(model, image, boxes, size=size, output_size=output_size, context=context,
                             sampling_ratio=sampling_ratio, shorter_side=shorter_side,
                             mask_surroundings=mask_surroundings, device=device).probs


def region_features_crop(model, image, boxes, **kw) -> torch.Tensor:
    """Pooled features ``(N, D)`` (the classifier's input) of each box, crop mode (for early fusion)."""
    return _crop_outputs(model, image, boxes, **kw).features


def region_features_roialign(model, image, boxes, **kw) -> torch.Tensor:
    """Pooled features ``(N, D)`` (the classifier's input) of each box, RoIAlign mode."""
    return _roialign_outputs(model, image, boxes, **kw).features


def score_regions(model, image, boxes, method: str = "crop", **kw) -> torch.Tensor:
    """Softmax probabilities ``(N, M)`` of each box; ``method`` is ``"crop"`` or ``"roialign"``."""
    return region_outputs(model, image, boxes, method, **kw).probs


def region_features(model, image, boxes, method: str = "crop", **kw) -> torch.Tensor:
    """Pooled features ``(N, D)`` of each box; ``method`` is ``"crop"`` or ``"roialign"``."""
    return region_outputs(model, image, boxes, method, **kw).features


def mask_outputs(model, image, labels: np.ndarray, boxes, leaves: Sequence, *, size: int | None = None,
                 batch_size: int | None = None, device=None) -> RegionOutputs:
    """Regions scored as masks (R-CNNGSR, ``region_as="mask"``): each region's box crop with the pixels
    outside its segments set to the backbone's mean colour, warped to ``size``, through the CNN: pooled
    features, logits and softmax ``(R, M)``.

    ``labels``: the segmentation (ids per pixel; resized to the image by nearest neighbour if needed);
    ``boxes``: ``(R, 4)`` input-image pixels; ``leaves[r]``: the segment ids that make region ``r``.
    """
    dev = _model_device(model, device)
    size = _size(model, size)
    batch_size = _crop_batch(batch_size, dev)
    img = _image_tensor(image, dev)
    H, W = img.shape[-2:]
    if labels.shape != (H, W):
        labels = cv2.resize(labels, (W, H), interpolation=cv2.INTER_NEAREST)
    mean = torch.tensor(model.backbone.info.mean, device=dev, dtype=img.dtype).view(3, 1, 1)
    boxes = np.asarray(boxes)
    if not len(boxes):
        return _empty(model, dev)
    feats, logits = [], []
    with _eval_mode(model):
        for start in range(0, len(boxes), batch_size):
            crops = []
            for b, leaf in zip(boxes[start:start + batch_size], leaves[start:start + batch_size]):
                x0, y0, x1, y1 = (int(v) for v in b)
                m = torch.from_numpy(np.isin(labels[y0:y1, x0:x1], leaf)).to(dev)
                crops.append(_warp(torch.where(m[None], img[:, y0:y1, x0:x1], mean), size))
            f, lg = _forward_crops(model, crops)
            feats.append(f)
            logits.append(lg)
    lg = torch.cat(logits)
    return RegionOutputs(torch.cat(feats), lg, lg.float().softmax(-1))


def score_masks_crop(model, image, labels: np.ndarray, boxes, leaves: Sequence, *, size: int | None = None,
                     batch_size: int | None = None, device=None) -> torch.Tensor:
    """The softmax ``(R, M)`` of :func:`mask_outputs`."""
    return mask_outputs(model, image, labels, boxes, leaves, size=size, batch_size=batch_size, device=device).probs


def whole_image_outputs(model, image, size: int | None = None, how: str = "warp", device=None) -> RegionOutputs:
    """Features, logits and probabilities (each with a leading dimension of 1) of the whole image.

    ``how="warp"``: resize to ``size`` × ``size`` without keeping the aspect ratio, exactly as a
    full-image box in crop mode. ``how="center"``: the evaluation transform the model was trained
    with (``Backbone.preprocess``: resize the shorter side, centre crop; PIL resize).
    """
    _check_model(model)
    dev = _model_device(model, device)
    size = _size(model, size)
    if how == "warp":
        x = _normalize(model, _warp(_image_tensor(image, dev), size))[None]
    elif how == "center":
        if isinstance(image, (str, os.PathLike)):
            image = open_image(image)
        if not isinstance(image, Image.Image):
            raise TypeError("how='center' needs a PIL image or a path (the training transform works on PIL)")
        x = model.backbone.preprocess(False, size)(image.convert("RGB"))[None].to(dev)
    else:
        raise ValueError(f"unknown how={how!r}; valid: {', '.join(WHOLE_IMAGE_HOW)}")
    with _eval_mode(model):
        f, lg = _head(model, model.feature_map(x))
    return RegionOutputs(f, lg, lg.float().softmax(-1))


def whole_image_probs(model, image, size: int | None = None, how: str = "warp", device=None) -> torch.Tensor:
    """Softmax probabilities ``(M,)`` of the whole image (``Y_Global`` of Eq. 3); see :func:`whole_image_outputs`."""
    return whole_image_outputs(model, image, size, how, device).probs[0]


def ranking_agreement(reference, other, objectness=None, *, top: int = 10, log_base: float = 2.0,
                      boxes=None, other_boxes=None, from_logits: bool = False) -> dict[str, float]:
    """How far ``other`` (e.g. RoIAlign) scores one image's regions as ``reference`` (crop scoring) does: both
    ``(N, M)`` softmax probabilities of the same N boxes.

    Rankings by Senti (Eq. 1 of Sun2016) alone (``senti_``), and by Eq. 2's affective rank AR (``ar_``, α = 1)
    where ``objectness`` (the proposals' normalised Obj) is given: ``top1`` is 1.0 when both put the same region
    first; ``top10_overlap``
    the share of the reference's ``top`` regions among ``other``'s; ``senti_spearman`` Spearman's rank
    correlation of the two Senti vectors; ``p_positive_pearson`` Pearson's correlation of the probability of
    the last class (positive, for a binary task). Correlations are NaN when either vector is constant or there
    are fewer than two regions. With ``boxes`` (the N boxes, ``(N, 4)``; ``other_boxes`` where ``other`` scored
    moved copies of them, default the same), ``senti_top1_iou`` is the IoU of the two top-1 boxes under Senti: a
    softer agreement than ``senti_top1``, since near-duplicate proposals of one region count as the same place;
    ``senti_top1_iou50`` is 1.0 when that IoU is at least 0.5. ``from_logits``: ``reference`` and ``other`` are
    logits, and the rankings by Senti use :func:`senti_order` (no ties from saturation); ``senti_ties`` and
    ``other_senti_ties`` count the regions that share each one's largest float32 Senti either way."""
    from scipy import stats

    x_ref, x_oth = (torch.as_tensor(p).cpu() for p in (reference, other))
    p_ref, p_oth = (x.float().softmax(-1) if from_logits else x.float() for x in (x_ref, x_oth))
    n = len(p_ref)
    if len(p_oth) != n:
        raise ValueError(f"the two scorings hold {n} and {len(p_oth)} regions; they must score the same boxes")
    out: dict[str, float] = {}
    if n == 0:
        return out
    s_ref, s_oth = senti_score(p_ref, log_base), senti_score(p_oth, log_base)
    out["senti_ties"], out["other_senti_ties"] = (float((s == s.max()).sum()) for s in (s_ref, s_oth))
    if from_logits:
        s_ref, s_oth = senti_order(x_ref, log_base), senti_order(x_oth, log_base)

    def agree(a: torch.Tensor, b: torch.Tensor, name: str) -> None:
        ra, rb = a.argsort(descending=True), b.argsort(descending=True)
        out[f"{name}top1"] = float(ra[0] == rb[0])
        k = min(top, n)
        out[f"{name}top{top}_overlap"] = len(set(ra[:k].tolist()) & set(rb[:k].tolist())) / k

    agree(s_ref, s_oth, "senti_")
    if boxes is not None:
        from torchvision.ops import box_iou

        b_ref = torch.as_tensor(np.asarray(boxes, dtype=np.float64)).reshape(-1, 4)
        b_oth = b_ref if other_boxes is None else torch.as_tensor(np.asarray(other_boxes, dtype=np.float64)).reshape(-1, 4)
        if len(b_ref) != n or len(b_oth) != n:
            raise ValueError(f"boxes: expected {n} boxes (one per scored region), got {len(b_ref)} and {len(b_oth)}")
        i, j = (int(s.argsort(descending=True)[0]) for s in (s_ref, s_oth))  # the top1 rule's own first regions
        out["senti_top1_iou"] = float(box_iou(b_ref[i:i + 1], b_oth[j:j + 1])[0, 0])
        out["senti_top1_iou50"] = float(out["senti_top1_iou"] >= 0.5)  # the same place (PASCAL's IoU rule)
    if objectness is not None:
        obj = torch.as_tensor(objectness, dtype=torch.float32)
        agree(affective_rank(obj, s_ref), affective_rank(obj, s_oth), "ar_")

    def corr(fn, a, b) -> float:
        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        return float(fn(a, b)[0]) if n > 1 and a.std() > 0 and b.std() > 0 else float("nan")

    out["senti_spearman"] = corr(stats.spearmanr, s_ref.numpy(), s_oth.numpy())
    out["p_positive_pearson"] = corr(stats.pearsonr, p_ref[:, -1].numpy(), p_oth[:, -1].numpy())
    return out


# -- how far two scorings agree on the same proposals (Sun2016's crop runs, the scale check) ------------------
#: The scorings a crop-scored run is compared with: ``region_outputs``' keyword arguments, and ``jitter``.
AGREEMENT_SCORINGS = {"roialign224": {"method": "roialign"}, "roialign600": {"method": "roialign", "shorter_side": 600},
                      "crop_jitter2": {"method": "crop", "jitter": 2}}


def score_as(model, image, boxes: np.ndarray, spec: dict, *, size: int | None = None,
             seed: int = 0) -> tuple[RegionOutputs, np.ndarray, float]:
    """One image's ``boxes`` scored as ``spec`` says (a scoring of :data:`AGREEMENT_SCORINGS`' form: keyword
    arguments of :func:`region_outputs`, and ``jitter``, the boxes moved first by up to that
    many pixels, :func:`~vsalib.regions.boxes.jitter_boxes` with ``seed``): the outputs, the boxes scored, and the
    seconds the scoring took."""
    kw = dict(spec)
    jitter = int(kw.pop("jitter", 0))
    moved = jitter_boxes(boxes, jitter, image.width, image.height, seed=seed) if jitter else boxes
    t0 = time.perf_counter()
    out = region_outputs(model, image, moved, size=size, **kw)
    return out, moved, time.perf_counter() - t0


def scoring_agreement(model, paths: Sequence[str], crop: Sequence, *, versus: dict[str, dict],
                      size: int | None = None, log_base: float = 2.0) -> dict[str, dict[str, float]]:
    """Per scoring of ``versus`` (name → keyword arguments of :func:`region_outputs`, and
    ``jitter``: score the boxes moved by up to that many pixels, :func:`~vsalib.regions.boxes.jitter_boxes`, seeded
    by the image's position): the mean :func:`ranking_agreement` with the crop scores of
    ``crop`` (per image: its ``boxes``, crop-scored ``probs`` and ``obj``, e.g. Sun2016's ``ImageRegions``) on the
    same proposals, over the images that have at least one, and the seconds per image that scoring
    alone takes (decoding the image, which either needs, and its forward pass). Each image is decoded once for all
    the scorings."""
    rows: dict[str, list[dict]] = {name: [] for name in versus}
    seconds = dict.fromkeys(versus, 0.0)
    n = 0
    for path, r in zip(paths, crop):
        if len(r.boxes) == 0:
            continue
        t0 = time.perf_counter()
        image = open_image(path)
        decode = time.perf_counter() - t0
        n += 1
        boxes = np.asarray(r.boxes, dtype=np.float64)
        for name, spec in versus.items():
            other, moved, secs = score_as(model, image, boxes, spec, size=size, seed=n)
            seconds[name] += decode + secs
            rows[name].append(ranking_agreement(r.probs, other.probs, r.obj, log_base=log_base, boxes=boxes,
                                                  other_boxes=moved))
    out = {}
    for name, rs in rows.items():
        mean = {k: float(np.nanmean([row[k] for row in rs])) for k in (rs[0] if rs else {})}
        out[name] = {**mean, "images": n, "seconds_per_image": seconds[name] / max(n, 1)}
    return out



__all__: Sequence[str] = (
    "AGREEMENT_SCORINGS", "score_as", "scoring_agreement",
    "mask_outputs", "ranking_agreement", "senti_order", "METHODS", "AR_MODES", "RegionOutputs", "score_masks_crop", "senti_score", "minmax", "normalize", "affective_rank",
    "ar_linear", "top_k", "select_affective_regions", "region_outputs", "score_regions_crop",
    "score_regions_roialign", "region_features_crop", "region_features_roialign", "score_regions",
    "region_features", "shared_map_size", "whole_image_outputs", "whole_image_probs",
)
