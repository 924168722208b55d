"""The whole-image CNN as region methods use it: images in, feature maps, a head on pooled features.

Shared by region scoring (:mod:`vsalib.regions.scoring`: crops, RoIAlign, masks) and the sentiment
grouping (:mod:`vsalib.regions.grouping`): a ``GlobalCNN``-like model (``backbone``, ``dropout``,
``classifier``, ``feature_map``) is checked (:func:`check_model`), fed images as ``(3, H, W)`` tensors
in [0, 1] (:func:`image_tensor`, :func:`warp`, :func:`normalize_input`), and its head applied to a
feature map (:func:`head_outputs`) or to pooled region vectors (:func:`model_sentiment_fns`).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Callable, NamedTuple, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn


# ---------------------------------------------------------------------------------------------
# model and image plumbing
# ---------------------------------------------------------------------------------------------
def check_model(model) -> None:
    for attr in ("backbone", "classifier", "dropout", "feature_map"):
        if not hasattr(model, attr):
            raise TypeError(f"region scoring needs a GlobalCNN-like model (backbone, dropout, classifier, "
                            f"feature_map); {type(model).__name__} has no {attr!r}")
    start = getattr(model, "start", 0)
    if start:
        raise ValueError(f"model.start={start}: this model expects cached activations of trunk stages "
                         f":{start}, not images. Score regions with a GlobalCNN built with start=0 holding "
                         f"the same weights (load_finetuned returns one)")


def model_device(model, device) -> torch.device:
    try:
        mdev = next(model.parameters()).device
    except StopIteration:  # pragma: no cover - a model without parameters
        mdev = torch.device("cpu")
    if device is None:
        return mdev
    d = torch.device(device)
    same = d.type == mdev.type and (d.index is None or mdev.index is None or d.index == mdev.index)
    if not same:
        raise ValueError(f"device={d} but the model is on {mdev}: move the model first (model.to({str(d)!r}))")
    return mdev


def n_classes(model) -> int:
    return int(model.classifier.out_features)


def feat_dim(model) -> int:
    return int(model.backbone.pooled_dim)


@contextmanager
def eval_mode(model):
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was)


def image_tensor(image, device) -> torch.Tensor:
    """(3, H, W) float in [0, 1] on ``device`` from a PIL image, a path, or a (3, H, W) tensor."""
    if isinstance(image, (str, os.PathLike)):
        from vsalib.data.images import open_image

        image = open_image(image)
    if isinstance(image, Image.Image):
        arr = np.array(image.convert("RGB"))  # a writable copy
        t = torch.from_numpy(arr).permute(2, 0, 1).to(device)
        return t.float().div_(255.0)
    if isinstance(image, torch.Tensor):
        if image.ndim != 3 or image.shape[0] != 3:
            raise ValueError(f"an image tensor must be (3, H, W), got shape {tuple(image.shape)}")
        t = image.to(device)
        return t.float().div_(255.0) if t.dtype == torch.uint8 else t.float()
    raise TypeError(f"image must be a PIL image, a path or a (3, H, W) tensor, got {type(image).__name__}")


def warp(img: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """(3, h, w) → (3, size, size), or (3, H, W) for ``size=(H, W)``: bilinear with antialiasing, aspect ratio
    not kept."""
    hw = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if tuple(img.shape[-2:]) == hw:
        return img
    return F.interpolate(img[None], size=hw, mode="bilinear", align_corners=False, antialias=True)[0]


def normalize_input(model, x01: torch.Tensor) -> torch.Tensor:
    """The backbone's mean/std normalisation of a (B, 3, H, W) batch or one (3, H, W) image."""
    return model.backbone.normalize(x01) if x01.ndim == 4 else model.backbone.normalize(x01[None])[0]


def head_outputs(model, fmap: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    feats = model.backbone.pool(fmap)
    return feats, model.classifier(model.dropout(feats))


def input_size(model, size) -> int:
    s = int(size or model.backbone.info.input_size)
    if s < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size}")
    return s


# ---------------------------------------------------------------------------------------------
# the CNN as a feature provider and a head on pooled features
# ---------------------------------------------------------------------------------------------
class SentimentFns(NamedTuple):
    """What the sentiment term needs from a model.

    ``features(image)``: ``(3, H, W)`` float image in [0, 1] → feature map ``(C, h, w)``: called
    **once** per image. ``head(pooled)``: pooled region features ``(N, C)`` → softmax predictions
    ``(N, M)``: called once for the initial segments and once per merge.
    """

    features: Callable[[torch.Tensor], torch.Tensor]
    head: Callable[[torch.Tensor], torch.Tensor]


def constant_map_head(model) -> Callable[[torch.Tensor], torch.Tensor]:
    """Logits of pooled vectors ``(N, C)`` read as constant feature maps, through the model's head.

    ``pool(v[:, :, None, None])`` is exact for adaptive pooling (a 1 × 1 map is replicated); when
    the pooling head starts with ``AdaptiveAvgPool2d(k)`` → ``Flatten`` → ``Linear`` (VGG16's
    pool5 → fc6) the first linear layer is folded over the k × k positions, which gives the same
    result with one (C → out) product.
    """
    pooler = model.backbone.pooler
    mods = list(pooler.children()) if isinstance(pooler, nn.Sequential) else []
    if len(mods) >= 3 and isinstance(mods[0], nn.AdaptiveAvgPool2d) and isinstance(mods[1], nn.Flatten) \
            and isinstance(mods[2], nn.Linear):
        k = mods[0].output_size
        k = (k, k) if isinstance(k, int) else tuple(k)
        lin = mods[2]
        if all(isinstance(v, int) for v in k) and lin.in_features % (k[0] * k[1]) == 0:
            c = lin.in_features // (k[0] * k[1])
            w = lin.weight.detach().reshape(lin.out_features, c, k[0] * k[1]).sum(-1)
            b = None if lin.bias is None else lin.bias.detach()
            rest = nn.Sequential(*mods[3:])

            def folded(v: torch.Tensor) -> torch.Tensor:
                return model.classifier(model.dropout(rest(F.linear(v, w.to(v.dtype), b))))

            return folded
    return lambda v: head_outputs(model, v[:, :, None, None])[1]


@contextmanager
def eval_modules(modules: Sequence[nn.Module]):
    """Put ``modules`` (and their submodules) in eval mode, restoring each one's own flag after."""
    mods = [m for top in modules for m in top.modules()]
    was = [m.training for m in mods]
    for m in mods:
        m.training = False
    try:
        yield
    finally:
        for m, w in zip(mods, was):
            m.training = w


def model_sentiment_fns(model, size: int | None = None, device=None) -> SentimentFns:
    """:class:`SentimentFns` of a whole-image classifier (a ``GlobalCNN`` with ``start=0``).

    ``features``: the image warped to ``size`` × ``size`` (default: the backbone's input size),
    normalised, through the trunk (as :func:`vsalib.regions.scoring.whole_image_outputs` with
    ``how="warp"``). ``head``: pooling head → dropout (eval) → classifier → softmax on each pooled
    vector read as a constant map (:func:`constant_map_head`). Both run in eval mode without
    gradients (the model's mode is restored) on the model's device.
    """
    check_model(model)
    dev = model_device(model, device)
    size = input_size(model, size)
    logits_of = constant_map_head(model)

    def features(img01: torch.Tensor) -> torch.Tensor:
        with eval_mode(model):
            return model.feature_map(normalize_input(model, warp(img01.to(dev).float(), size))[None])[0]

    head_modules = (model.backbone.pooler, model.dropout, model.classifier)
    dtype = next(model.parameters()).dtype

    def head(pooled: torch.Tensor) -> torch.Tensor:
        # only the head's few modules switch to eval mode: model.eval() on a whole trunk costs ~1 ms
        with eval_modules(head_modules), torch.no_grad():
            return logits_of(pooled.to(dev, dtype)).float().softmax(-1)

    return SentimentFns(features, head)


__all__ = ["SentimentFns", "check_model", "constant_map_head", "eval_mode", "eval_modules", "feat_dim", "head_outputs",
           "image_tensor", "input_size", "model_device", "model_sentiment_fns", "n_classes", "normalize_input", "warp"]
