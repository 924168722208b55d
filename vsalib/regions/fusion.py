"""Fusing the whole-image prediction with region predictions or features.

Late fusion (combining prediction responses):

- :func:`late_fusion` — Sun2016 Eq. 3: ``Y = Y_global + beta / K * sum_{j=1..K} Y_ARj`` (beta = 0.5);
- :func:`yang_fusion` — Yang et al. TMM 2018 preset: ``0.7 * Y_global + 0.3 * mean_j Y_ARj``;
- :func:`area_weighted_fusion` — R-CNNGSR Eq. 3: ``Y = f(x) + sum_r area(x_r)/area(x) * f(x_r)``.

Each takes one image's ``y_global`` ``(M,)`` and ``y_regions`` ``(K, M)`` and returns a
:class:`FusionResult` (fused ``scores``, ``used_regions``, ``fallback``, ``reason``); the predicted
class is ``result.prediction`` (argmax). With zero regions every fusion returns ``y_global``
unchanged with ``fallback=True`` and a reason, so an image whose proposals were all filtered out is
still classified (by the whole image). :func:`late_fusion_scores` is the plain-tensor variant of
:func:`late_fusion`; :func:`fuse_batch` (and :func:`late_fusion_batch`) applies a fusion to a batch
of images with different region counts.

What ``Y`` is — a reading. Sun2016 says ``Y`` has the structure ``(P_pos, P_neg)``, i.e. softmax
probabilities: ``on="probs"`` (default) checks that the inputs are probability rows (non-negative,
summing to 1). R-CNNGSR calls ``f`` the last layer's activations: ``on="logits"`` fuses logits (any
real values). Convert a classifier's logits with :func:`as_space`. Fused probability scores do
not sum to 1 (late fusion: ``1 + beta``); only their argmax is used.

Early ("former") fusion: :func:`early_fusion_features` concatenates the global feature with the
region features (``[global, region_1 .. region_K]``, padded to K) or with their mean, for a
classifier trained on the fused feature; :func:`early_fusion_batch` stacks a batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch

SPACES = ("probs", "logits")
PADS = ("zeros", "global")
EARLY_HOW = ("concat", "mean")


@dataclass
class FusionResult:
    """One image's fused scores ``(M,)``, how many regions entered, and whether it fell back to global."""

    scores: torch.Tensor
    used_regions: int
    fallback: bool
    reason: str = ""

    @property
    def prediction(self) -> int:
        return int(self.scores.argmax())


@dataclass
class BatchFusionResult:
    """A batch: ``scores`` ``(B, M)``, ``used_regions`` ``(B,)`` long, ``fallback`` ``(B,)`` bool, ``reasons``."""

    scores: torch.Tensor
    used_regions: torch.Tensor
    fallback: torch.Tensor
    reasons: list[str]

    @property
    def predictions(self) -> torch.Tensor:
        return self.scores.argmax(-1)


def as_space(logits: torch.Tensor, on: str = "probs") -> torch.Tensor:
    """A classifier's logits in the space a fusion works in: softmax for ``"probs"``, unchanged for ``"logits"``."""
    _check_space(on)
    t = torch.as_tensor(logits)
    return t.float().softmax(-1) if on == "probs" else t


def _check_space(on: str) -> None:
    if on not in SPACES:
        raise ValueError(f"unknown on={on!r}; valid: {', '.join(SPACES)}")


def _inputs(y_global, y_regions, on: str) -> tuple[torch.Tensor, torch.Tensor]:
    _check_space(on)
    g = torch.as_tensor(y_global)
    if not g.is_floating_point():
        g = g.to(torch.get_default_dtype())
    if g.ndim != 1:
        raise ValueError(f"y_global must be one image's scores (M,), got shape {tuple(g.shape)}")
    r = torch.as_tensor(y_regions) if y_regions is not None else g.new_zeros(0, g.shape[0])
    r = r.to(g.device, g.dtype)
    if r.numel() == 0:
        r = r.reshape(0, g.shape[0])
    if r.ndim != 2 or r.shape[1] != g.shape[0]:
        raise ValueError(f"y_regions must be (K, M) with M = {g.shape[0]} (the length of y_global), "
                         f"got shape {tuple(r.shape)}")
    if on == "probs":
        for name, t in (("y_global", g), ("y_regions", r)):
            if t.numel() and (bool((t < 0).any()) or not torch.allclose(t.sum(-1), torch.ones_like(t.sum(-1)),
                                                                        atol=1e-3)):
                raise ValueError(f"{name} must be probability rows (non-negative, summing to 1) with on='probs'; "
                                 f"pass on='logits' to fuse logits, or convert them with as_space()")
    return g, r


def _fallback(g: torch.Tensor, what: str) -> FusionResult:
    return FusionResult(g.clone(), 0, True, f"no regions: {what} is the whole-image prediction unchanged")


def late_fusion(y_global, y_regions, beta: float = 0.5, k: int | None = None, on: str = "probs") -> FusionResult:
    """Sun2016 Eq. 3: ``Y = Y_global + beta / K * sum_{j=1..K} Y_ARj`` (beta = 0.5 in the paper).

    ``y_global``: ``(M,)``; ``y_regions``: ``(K, M)``, the predictions of the top-K affective regions.
    ``K`` is the number of rows given (K_eff = min(K, N) when an image has fewer proposals: the
    regions' mean enters with weight beta). Pass ``k`` to divide by a nominal K instead (the
    reading where missing regions count as zeros); more than ``k`` rows then raises. Zero regions:
    ``y_global`` unchanged, ``fallback=True``. ``on``: see the module docstring.
    """
    g, r = _inputs(y_global, y_regions, on)
    if k is not None:
        if int(k) != k or k < 1:
            raise ValueError(f"k must be a positive integer or None, got {k!r}")
        if len(r) > k:
            raise ValueError(f"{len(r)} regions given but k={k}: pass the top-k regions only")
    if len(r) == 0:
        return _fallback(g, "late fusion")
    kk = int(k) if k is not None else len(r)
    return FusionResult(g + beta / kk * r.sum(0), len(r), False, "")


def late_fusion_scores(y_global, y_regions, beta: float = 0.5, k: int | None = None,
                       on: str = "probs") -> torch.Tensor:
    """:func:`late_fusion` returning only the fused scores ``(M,)`` (``y_global`` when there are no regions)."""
    return late_fusion(y_global, y_regions, beta=beta, k=k, on=on).scores


def yang_fusion(y_global, y_regions, w_global: float = 0.7, on: str = "probs") -> FusionResult:
    """Yang et al. TMM 2018 preset: ``Y = w * Y_global + (1 - w) * mean_j Y_ARj`` (w = 0.7, top 8 regions).

    Zero regions: ``y_global`` unchanged (not scaled by w), ``fallback=True``.
    """
    g, r = _inputs(y_global, y_regions, on)
    if not 0.0 <= w_global <= 1.0:
        raise ValueError(f"w_global must lie in [0, 1], got {w_global}")
    if len(r) == 0:
        return _fallback(g, "yang fusion")
    return FusionResult(w_global * g + (1.0 - w_global) * r.mean(0), len(r), False, "")


def box_areas(boxes) -> torch.Tensor:
    """Areas ``(x1 - x0) * (y1 - y0)`` of (N, 4) boxes (negative sides count as 0)."""
    b = torch.as_tensor(boxes, dtype=torch.float64)
    if b.numel() == 0:
        return b.reshape(0)
    return (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)


AREA_READINGS = ("sum", "average")


def area_weighted_fusion(y_global, y_regions, region_areas, image_area: float, reading: str = "sum",
                         on: str = "probs") -> FusionResult:
    """R-CNNGSR Eq. 3: ``Y = f(x) + sum_r area(x_r) / area(x) * f(x_r)`` over all regions (no top-K).

    ``reading="sum"`` (default): the equation as printed, each region weighted by its share of the
    image, unnormalised (the regions of a whole hierarchy then outweigh the image many times over).
    ``reading="average"``: the text's "weighted averaging through the area ratio": the regions'
    area-weighted *average* ``sum_r a_r f(x_r) / sum_r a_r``, added to ``f(x)`` (image and regions
    weigh the same). The two can predict different classes. (Dividing the printed sum by a constant
    would not change any prediction, so that is not offered.) ``region_areas``: ``(R,)`` pixels
    (:func:`box_areas`); ``image_area``: W · H. ``on``: what ``f`` is (the paper says last-layer
    activations, the text probabilities): see the module docstring.
    """
    g, r = _inputs(y_global, y_regions, on)
    if reading not in AREA_READINGS:
        raise ValueError(f"reading must be one of {', '.join(AREA_READINGS)}, got {reading!r}")
    a = torch.as_tensor(region_areas, dtype=g.dtype).to(g.device).reshape(-1)
    if len(a) != len(r):
        raise ValueError(f"{len(a)} region areas for {len(r)} regions")
    if not image_area > 0:
        raise ValueError(f"image_area must be > 0, got {image_area}")
    if a.numel() and bool((a < 0).any()):
        raise ValueError("region areas must be >= 0")
    if len(r) == 0 or (reading == "average" and float(a.sum()) == 0):
        return _fallback(g, "area-weighted fusion")
    w = a / float(image_area) if reading == "sum" else a / a.sum()
    return FusionResult(g + (w[:, None] * r).sum(0), len(r), False, "")


def fuse_batch(fusion: Callable[..., FusionResult], y_global, y_regions: Sequence,
               per_image: dict[str, Sequence] | None = None, **shared) -> BatchFusionResult:
    """Apply ``fusion`` to each image of a batch whose images have different region counts.

    ``y_global``: ``(B, M)``; ``y_regions``: a sequence of B ``(K_b, M)`` tensors (``K_b`` may be 0);
    ``per_image``: arguments with one value per image (e.g. ``{"region_areas": [...], "image_area":
    [...]}`` for :func:`area_weighted_fusion`); ``shared``: arguments for every image (``beta``, ``on``).
    """
    g = torch.as_tensor(y_global)
    if g.ndim != 2:
        raise ValueError(f"y_global must be (B, M), got shape {tuple(g.shape)}")
    if len(y_regions) != len(g):
        raise ValueError(f"{len(y_regions)} region tensors for {len(g)} images")
    per_image = per_image or {}
    for name, vals in per_image.items():
        if len(vals) != len(g):
            raise ValueError(f"per_image[{name!r}] has {len(vals)} values for {len(g)} images")
    results = [fusion(g[i], y_regions[i], **{n: v[i] for n, v in per_image.items()}, **shared)
               for i in range(len(g))]
    if not results:
        return BatchFusionResult(g.clone(), torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.bool), [])
    return BatchFusionResult(torch.stack([r.scores for r in results]),
                             torch.tensor([r.used_regions for r in results], dtype=torch.long),
                             torch.tensor([r.fallback for r in results], dtype=torch.bool),
                             [r.reason for r in results])


def late_fusion_batch(y_global, y_regions: Sequence, beta: float = 0.5, k: int | None = None,
                      on: str = "probs") -> BatchFusionResult:
    """:func:`late_fusion` over a batch: ``y_global`` ``(B, M)``, ``y_regions`` a list of ``(K_b, M)``."""
    return fuse_batch(late_fusion, y_global, y_regions, beta=beta, k=k, on=on)


def early_fusion_features(global_feat, region_feats, k: int = 1, how: str = "concat",
                          pad: str = "zeros") -> torch.Tensor:
    """Sun2016's former fusion: one feature vector from the global and the region features.

    ``global_feat``: ``(D,)``; ``region_feats``: ``(R, D)``, the top regions in AR order.

    - ``how="concat"``: ``[global, region_1, ..., region_k]``, shape ``((1 + k) * D,)``; with
      ``R < k`` regions the missing slots are filled with zeros (``pad="zeros"``: a fixed-length
      input; for post-ReLU features a zero vector is "nothing seen") or with the global feature
      (``pad="global"``: the image stands in for a missing region, as late fusion falls back to
      it). ``R > k`` raises (pass the top k). The paper ran former fusion at K = 1 only.
    - ``how="mean"``: ``[global, mean_j region_j]``, shape ``(2 * D,)`` for any R >= 1 (``k``
      unused); R = 0 uses the ``pad`` vector as the mean.
    """
    if how not in EARLY_HOW:
        raise ValueError(f"unknown how={how!r}; valid: {', '.join(EARLY_HOW)}")
    if pad not in PADS:
        raise ValueError(f"unknown pad={pad!r}; valid: {', '.join(PADS)}")
    g = torch.as_tensor(global_feat)
    if not g.is_floating_point():
        g = g.to(torch.get_default_dtype())
    if g.ndim != 1:
        raise ValueError(f"global_feat must be (D,), got shape {tuple(g.shape)}")
    r = torch.as_tensor(region_feats).to(g.device, g.dtype)
    if r.numel() == 0:
        r = r.reshape(0, g.shape[0])
    if r.ndim != 2 or r.shape[1] != g.shape[0]:
        raise ValueError(f"region_feats must be (R, D) with D = {g.shape[0]}, got shape {tuple(r.shape)}")
    filler = torch.zeros_like(g) if pad == "zeros" else g
    if how == "mean":
        return torch.cat([g, r.mean(0) if len(r) else filler])
    if int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if len(r) > k:
        raise ValueError(f"{len(r)} region features given but k={k}: pass the top-k regions only")
    parts = [g, *r, *([filler] * (int(k) - len(r)))]
    return torch.cat(parts)


def early_fusion_batch(global_feats, region_feats: Sequence, k: int = 1, how: str = "concat",
                       pad: str = "zeros") -> torch.Tensor:
    """:func:`early_fusion_features` for a batch: ``(B, D)`` and B ``(R_b, D)`` tensors → ``(B, F)``."""
    g = torch.as_tensor(global_feats)
    if g.ndim != 2:
        raise ValueError(f"global_feats must be (B, D), got shape {tuple(g.shape)}")
    if len(region_feats) != len(g):
        raise ValueError(f"{len(region_feats)} region tensors for {len(g)} images")
    dim = (1 + k) * g.shape[1] if how == "concat" else 2 * g.shape[1]
    if len(g) == 0:
        return g.new_zeros(0, dim)
    return torch.stack([early_fusion_features(g[i], region_feats[i], k, how, pad) for i in range(len(g))])


__all__: Sequence[str] = (
    "FusionResult", "BatchFusionResult", "as_space", "late_fusion", "late_fusion_scores", "late_fusion_batch",
    "yang_fusion", "box_areas", "area_weighted_fusion", "fuse_batch", "early_fusion_features",
    "early_fusion_batch",
)
