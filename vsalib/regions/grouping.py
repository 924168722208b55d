"""Sentiment regions of R-CNNGSR: selective-search grouping with a sentiment similarity.

R-CNNGSR (Sec. 4.1, Fig. 2) detects "sentiment regions" in the manner of selective search
(Uijlings et al., IJCV 2013):

1. initial regions from Felzenszwalb & Huttenlocher's graph segmentation
   (``skimage.segmentation.felzenszwalb``; ``scale``/``sigma``/``min_size`` are not given by the
   paper: the defaults are Uijlings' single-strategy values k = 100, sigma = 0.8, min size = k);
2. greedy hierarchical grouping: the two *adjacent* regions with the highest similarity are merged,
   the similarities of the merged region to its neighbours are computed, until one region is left.
   The similarity is a weighted sum (weights not given: parameters, 0 = off)

   ``s(r_i, r_j) = a_c s_colour + a_t s_texture + a_s s_size + a_f s_fill + a_e s_sentiment``

   with Uijlings' four terms (:func:`histogram_intersection` of colour and texture histograms,
   :func:`size_similarity`, :func:`fill_similarity`) **plus** the paper's sentiment similarity, the
   :func:`cosine_similarity` of the CNN's softmax predictions of the two regions;
3. filters: drop regions whose aspect ratio ``max(w/h, h/w)`` exceeds 5 or that have fewer than
   200 pixels (Sec. 5.1); the text also names an "area too large" filter without a threshold
   (``max_area_frac``, off by default).

Reading — when the filters apply (``filter_stage``). The text lists filtering as step 2, *before*
the similarity loop (step 3), while the method's purpose (and Fig. 4, showing filtered *merged*
regions) suggests filtering the final candidate set. ``"after"`` (default): group all initial
segments into one hierarchy, then drop the hierarchy's regions (initial and merged) that fail the
filters. ``"before"``: drop the initial segments that fail the filters, group only the remaining
ones (segments adjacent only through a dropped one are not neighbours, so the hierarchy can be a
forest, one tree per connected group) and keep every region of that forest unfiltered.

Sentiment similarity without one CNN pass per pair: the CNN's trunk runs **once** per image (the
image warped to ``cnn_size`` × ``cnn_size``, as :mod:`vsalib.regions.scoring` does); each initial
segment keeps the *sum* of the feature-map vectors under it and its pixel count (masked average
pooling with the segment mask resized to the map by area: every pixel adds the feature vector of
the cell it falls in, :func:`pool_segment_features`). A merged region's pooled feature is
``(sum_i + sum_j) / (n_i + n_j)``, exactly the masked average over the union, and its prediction
is the model's head (pooling head → dropout (eval) → classifier → softmax) applied to that pooled
vector, read as a constant feature map. For a global-average-pooling backbone this *is* the
classifier applied to the region's average feature; for VGG16 (pool5 → fc6 → fc7) the region is
seen as a uniform 7 × 7 pool5 map (an approximation; fc6 is folded over the 49 positions so that
this costs one 512 → 4096 product). The head runs once for the initial segments and once per
merge, never per candidate pair.

Scoring the final regions (``region_as``, not given by the paper): ``"box"`` (default) scores a
region's bounding box like any proposal (``score_method="crop"``: the paper's crop-and-warp, or
``"roialign"``); ``"mask"`` scores the segment itself (``"crop"``: the box crop with the pixels
outside the segment set to the backbone's mean colour, i.e. zero after normalisation; or
``"pooled"``: the masked-average-pooled feature of the grouping pass, no extra CNN run). The
region's area in Eq. 3 is its box area for ``"box"`` and its pixel count for ``"mask"``.

Which regions enter Eq. 3 — a reading. The paper sums over "all regions" of the hierarchy and
does not say whether a region is scored as its box or its mask. Scored as boxes, every merged
region whose bounding box spans the image enters Eq. 3 *as the whole image* (often several times,
at area weight 1.0), and the hierarchy's root (all segments merged) adds ``f(x)`` once more.
Our default keeps that (``region_as="box"``, duplicates kept): it is what R-CNN-style scoring of
region proposals does. ``drop_duplicates`` keeps only the first of regions that are identical as
scored (same box; same mask) and ``drop_root`` drops the root; :meth:`GroupingConfig.distinct_masks`
gives the "distinct regions of a hierarchy" reading (each region scored as its own mask, area =
its pixels, no duplicates, no root), which is what "regions of a hierarchy" most plausibly means.
Both are offered.

Logits. Eq. 3 calls ``f`` the last layer's activations while the text speaks of probabilities:
:class:`SentimentRegions` carries both (``logits`` where the scoring path has them).

Boxes are ``(x1, y1, x2, y2)`` pixels of the input image, x2/y2 exclusive, as in
:mod:`vsalib.regions.proposals`. Images whose longer side exceeds ``max_side`` are grouped at a
reduced size (area interpolation); boxes are mapped back (rounded outward) and pixel counts are
divided by the squared scale, so the filters' thresholds stay in input-image pixels.
"""

from __future__ import annotations

import heapq
import math
import os
from dataclasses import asdict, dataclass, field, replace
from typing import NamedTuple, Sequence

import cv2
import numpy as np
import torch
from scipy import ndimage

from vsalib.regions.boxes import boxes_to_input
from vsalib.regions.proposals import _downscale, to_rgb_array
from vsalib.regions import cnn as C
from vsalib.regions.cnn import SentimentFns, model_sentiment_fns
from vsalib.regions.scoring import mask_outputs, region_outputs

COLOUR_SPACES = ("hsv", "rgb", "lab")
FILTER_STAGES = ("after", "before")
REGION_AS = ("box", "mask")
SCORE_METHODS = {"box": ("crop", "roialign"), "mask": ("crop", "pooled")}
SIMILARITIES = ("colour", "texture", "size", "fill", "sentiment")
#: Flags added after the first published runs, left out of :meth:`GroupingConfig.record_params` when False.
LATER_FLAGS = ("drop_duplicates", "drop_root")
#: Uijlings et al.: 25 colour bins per channel; 8 orientations x 10 bins per channel for texture.
COLOUR_BINS = 25
TEXTURE_ORIENTATIONS = 8
TEXTURE_BINS = 10
#: Uijlings et al.: Gaussian derivatives with sigma = 1 for the texture histograms.
TEXTURE_SIGMA = 1.0


# ---------------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GroupingConfig:
    """Settings of the sentiment-region detection; the paper gives only ``max_aspect`` and ``min_pixels``.

    Segmentation: ``scale`` (Felzenszwalb's k, on 0–255 intensities), ``sigma`` (pre-smoothing),
    ``min_size`` (pixels), run in ``colour_space`` (``"hsv"``, ``"rgb"`` or ``"lab"``; the colour and
    texture histograms use the same space, as in Uijlings' strategies).
    Similarity weights ``colour``, ``texture``, ``size``, ``fill``, ``sentiment`` (>= 0, 0 = off,
    at least one > 0; ``sentiment > 0`` needs a model).
    Filters: ``max_aspect`` (keep ``max(w/h, h/w) <= max_aspect``), ``min_pixels`` (keep at least
    that many pixels of the region's mask), ``max_area_frac`` (keep ``area / image area <=`` it; the
    area is the one Eq. 3 uses, see ``region_as``); ``None`` switches a filter off.
    ``filter_stage``: ``"after"`` or ``"before"`` merging (see the module docstring).
    ``drop_duplicates``: of regions identical *as scored* keep only the first (lowest id): the same
    box for ``region_as="box"``, the same mask (set of initial segments) for ``"mask"`` (in one
    hierarchy every merge joins two disjoint sets, so masks never repeat and this only matters for
    boxes). ``drop_root``: drop the hierarchy's root, the region made of every initial segment that
    took part in merging (with ``filter_stage="before"``: the last region, if it holds every segment
    the filters kept; a forest has no root). For box scoring a merged region whose box spans the
    image is *not* the root unless it is that region: ``drop_root`` alone keeps such boxes, both
    flags together keep the first of them. Both default to False (today's Eq. 3 inputs: every
    filtered region, duplicates and root included).
    ``region_as``/``score_method``: how a final region is scored (``box``: ``crop``/``roialign``;
    ``mask``: ``crop``/``pooled``). ``cnn_size``: the CNN's input size (None: the backbone's).
    ``max_side``: group at most at this longer side (None: the input size). ``batch_size``: crops
    per forward pass when scoring. :meth:`distinct_masks`: the distinct-mask reading of Eq. 3's regions.
    """

    scale: float = 100.0
    sigma: float = 0.8
    min_size: int = 100
    colour_space: str = "hsv"
    colour: float = 1.0
    texture: float = 1.0
    size: float = 1.0
    fill: float = 1.0
    sentiment: float = 1.0
    max_aspect: float | None = 5.0
    min_pixels: float | None = 200
    max_area_frac: float | None = None
    filter_stage: str = "after"
    drop_duplicates: bool = False
    drop_root: bool = False
    region_as: str = "box"
    score_method: str = "crop"
    cnn_size: int | None = None
    max_side: int | None = 500
    batch_size: int = 32

    def __post_init__(self) -> None:
        def bad(name: str, why: str) -> ValueError:
            return ValueError(f"GroupingConfig.{name} {why}, got {getattr(self, name)!r}")

        def number(name: str) -> float:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                    or not math.isfinite(float(v)):
                raise bad(name, "must be a finite number")
            return float(v)

        if number("scale") <= 0:
            raise bad("scale", "must be > 0")
        if number("sigma") < 0:
            raise bad("sigma", "must be >= 0")
        if number("min_size") < 0 or float(self.min_size) != int(self.min_size):
            raise bad("min_size", "must be a non-negative integer")
        for name in SIMILARITIES:
            if number(name) < 0:
                raise bad(name, "(a similarity weight) must be >= 0")
        if not any(float(getattr(self, n)) > 0 for n in SIMILARITIES):
            raise ValueError("GroupingConfig: at least one similarity weight (colour, texture, size, fill, "
                             "sentiment) must be > 0")
        if self.colour_space not in COLOUR_SPACES:
            raise bad("colour_space", f"must be one of {', '.join(COLOUR_SPACES)}")
        if self.max_aspect is not None and number("max_aspect") < 1:
            raise bad("max_aspect", "must be >= 1 (an aspect ratio max(w/h, h/w)) or None")
        if self.min_pixels is not None and number("min_pixels") < 0:
            raise bad("min_pixels", "must be >= 0 or None")
        if self.max_area_frac is not None and number("max_area_frac") <= 0:
            raise bad("max_area_frac", "must be > 0 (a fraction of the image area) or None")
        if self.filter_stage not in FILTER_STAGES:
            raise bad("filter_stage", f"must be one of {', '.join(FILTER_STAGES)}")
        for name in LATER_FLAGS:
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise bad(name, "must be True or False")
            object.__setattr__(self, name, bool(getattr(self, name)))  # a numpy bool as a plain one (JSON)
        if self.region_as not in REGION_AS:
            raise bad("region_as", f"must be one of {', '.join(REGION_AS)}")
        if self.score_method not in SCORE_METHODS[self.region_as]:
            raise bad("score_method", f"must be one of {', '.join(SCORE_METHODS[self.region_as])} "
                                      f"for region_as={self.region_as!r}")
        for name in ("cnn_size", "max_side"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or int(number(name)) != v or v < 1):
                raise bad(name, "must be a positive integer (pixels) or None")
        if isinstance(self.batch_size, bool) or int(number("batch_size")) != self.batch_size or self.batch_size < 1:
            raise bad("batch_size", "must be a positive integer")

    @property
    def weights(self) -> dict[str, float]:
        """The similarity weights by name (``colour``, ``texture``, ``size``, ``fill``, ``sentiment``)."""
        return {n: float(getattr(self, n)) for n in SIMILARITIES}

    def distinct_masks(self) -> GroupingConfig:
        """This grouping with Eq. 3's regions read as the hierarchy's *distinct* regions: each scored as its
        own mask (``region_as="mask"``; its area is then its pixel count), without
        duplicates and without the root (``drop_duplicates``, ``drop_root``). The paper does not say whether
        a region is scored as its box or its mask; the default (boxes, duplicates kept) is what R-CNN region
        scoring does, this is what "regions of a hierarchy" most plausibly means: both are offered.

        The scoring keeps this config's family: boxes cropped and forwarded (``crop``, the paper's R-CNN
        scoring) give masks cropped and forwarded; boxes pooled from the shared map (``roialign``, the ``cpu``
        profile's) give masks average-pooled from it (``pooled``: the same mask mean of the map that the
        sentiment similarity uses; crop-forwarding every mask costs about 10 s per image on one CPU core)."""
        score = "crop" if self.score_method == "crop" else "pooled"
        return replace(self, region_as="mask", score_method=score, drop_duplicates=True, drop_root=True)

    def record_params(self) -> dict:
        """``asdict(self)`` without the flags added after the first published runs (:data:`LATER_FLAGS`) where
        they are False: records' ``grouping.*`` params and region caches made before those flags existed
        meant False, so leaving them out at False keeps those records' identities and caches valid."""
        return {k: v for k, v in asdict(self).items() if not (k in LATER_FLAGS and not v)}


# ---------------------------------------------------------------------------------------------
# similarities (Uijlings et al. 2013, Sec. 3.2) and the sentiment term
# ---------------------------------------------------------------------------------------------
def histogram_intersection(h_i, h_j) -> np.ndarray | float:
    """``sum_k min(h_i^k, h_j^k)`` over the last axis (L1-normalised histograms give [0, 1])."""
    return np.minimum(np.asarray(h_i, dtype=np.float64), np.asarray(h_j, dtype=np.float64)).sum(-1)


def size_similarity(size_i, size_j, image_size: float) -> np.ndarray | float:
    """``s_size = 1 - (size(r_i) + size(r_j)) / size(im)`` (pixels): small regions merge first."""
    return 1.0 - (np.asarray(size_i, dtype=np.float64) + np.asarray(size_j, dtype=np.float64)) / float(image_size)


def _box_area(b) -> np.ndarray:
    b = np.asarray(b, dtype=np.float64)
    return (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])


def union_box(box_i, box_j) -> np.ndarray:
    """The tight box ``BB_ij`` around two ``(x1, y1, x2, y2)`` boxes (broadcasts over rows)."""
    a, b = np.asarray(box_i), np.asarray(box_j)
    return np.concatenate([np.minimum(a[..., :2], b[..., :2]), np.maximum(a[..., 2:], b[..., 2:])], -1)


def fill_similarity(box_i, box_j, size_i, size_j, image_size: float) -> np.ndarray | float:
    """``s_fill = 1 - (size(BB_ij) - size(r_i) - size(r_j)) / size(im)``: regions that fill each other's gaps.

    Boxes ``(x1, y1, x2, y2)`` with exclusive x2/y2, so a box's size is ``(x2 - x1)(y2 - y1)`` pixels.
    """
    bb = _box_area(union_box(box_i, box_j))
    return 1.0 - (bb - np.asarray(size_i, dtype=np.float64) - np.asarray(size_j, dtype=np.float64)) / float(image_size)


def cosine_similarity(p, q, eps: float = 1e-12) -> np.ndarray | float:
    """R-CNNGSR's sentiment similarity: ``p · q / (|p| |q|)`` of two prediction vectors (last axis).

    For softmax vectors it lies in [0, 1]. A zero vector gives 0.
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    den = np.linalg.norm(p, axis=-1) * np.linalg.norm(q, axis=-1)
    return (p * q).sum(-1) / np.maximum(den, eps)


def merge_histograms(h_i, n_i, h_j, n_j) -> np.ndarray:
    """Uijlings' incremental update ``h_t = (n_i h_i + n_j h_j) / (n_i + n_j)`` (sizes in pixels)."""
    n_i, n_j = float(n_i), float(n_j)
    return (n_i * np.asarray(h_i, dtype=np.float64) + n_j * np.asarray(h_j, dtype=np.float64)) / (n_i + n_j)


# ---------------------------------------------------------------------------------------------
# region descriptors
# ---------------------------------------------------------------------------------------------
def convert_colour(rgb: np.ndarray, space: str = "hsv") -> np.ndarray:
    """``H x W x 3`` uint8 RGB → float32 channels scaled to [0, 1] in ``space``.

    ``"rgb"``: / 255. ``"hsv"``: hue / 360, saturation, value. ``"lab"``: L / 100, (a + 128) / 256,
    (b + 128) / 256 (OpenCV's float conversion, D65).
    """
    if space not in COLOUR_SPACES:
        raise ValueError(f"unknown colour_space {space!r}; valid: {', '.join(COLOUR_SPACES)}")
    x = np.ascontiguousarray(rgb, dtype=np.float32) / 255.0
    if space == "rgb":
        out = x
    elif space == "hsv":
        out = cv2.cvtColor(x, cv2.COLOR_RGB2HSV)
        out[..., 0] /= 360.0
    else:
        out = cv2.cvtColor(x, cv2.COLOR_RGB2Lab)
        out[..., 0] /= 100.0
        out[..., 1:] = (out[..., 1:] + 128.0) / 256.0
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


def _n_labels(labels: np.ndarray, n: int | None) -> int:
    return int(labels.max()) + 1 if n is None else int(n)


def _segment_histograms(bins: np.ndarray, labels: np.ndarray, n: int, dim: int) -> np.ndarray:
    """Per-segment counts of per-pixel bin indices ``bins`` (H, W, K) in [0, dim), L1-normalised."""
    idx = (labels.astype(np.int64)[..., None] * dim + bins).ravel()
    h = np.bincount(idx, minlength=n * dim).reshape(n, dim).astype(np.float64)
    s = h.sum(1, keepdims=True)
    return h / np.where(s > 0, s, 1.0)


def colour_histograms(img01: np.ndarray, labels: np.ndarray, n: int | None = None,
                      bins: int = COLOUR_BINS) -> np.ndarray:
    """Colour histogram of each segment: ``bins`` per channel, L1-normalised → ``(n, C * bins)``.

    ``img01``: ``H x W x C`` float in [0, 1] (:func:`convert_colour`); ``labels``: ``H x W`` segment
    ids in ``[0, n)``. Value v falls in bin ``min(floor(v * bins), bins - 1)``.
    """
    img01 = np.asarray(img01, dtype=np.float32)
    if img01.ndim == 2:
        img01 = img01[..., None]
    c = img01.shape[-1]
    b = np.minimum((img01 * bins).astype(np.int64), bins - 1) + np.arange(c) * bins
    return _segment_histograms(b, labels, _n_labels(labels, n), c * bins)


def texture_bins(img01: np.ndarray, orientations: int = TEXTURE_ORIENTATIONS, bins: int = TEXTURE_BINS,
                 sigma: float = TEXTURE_SIGMA) -> np.ndarray:
    """Per-pixel texture bin indices ``(H, W, C * orientations)`` into a ``C * orientations * bins`` histogram.

    Uijlings' SIFT-like texture: Gaussian derivatives (``sigma`` = 1) of each channel, the
    directional derivative along ``orientations`` equally spaced directions ``theta_k = 2 pi k / 8``
    (so 8 directions are 4 axes with both signs), half-wave rectified; each response is binned in
    ``bins`` bins over ``[0, max]``, ``max`` the channel's largest response in the image.
    """
    img01 = np.asarray(img01, dtype=np.float32)
    if img01.ndim == 2:
        img01 = img01[..., None]
    h, w, c = img01.shape
    theta = 2.0 * np.pi * np.arange(orientations) / orientations
    cos, sin = np.cos(theta).astype(np.float32), np.sin(theta).astype(np.float32)
    out = np.empty((h, w, c * orientations), dtype=np.int64)
    for ch in range(c):
        x = img01[..., ch]
        gx = ndimage.gaussian_filter(x, sigma, order=(0, 1), mode="nearest")
        gy = ndimage.gaussian_filter(x, sigma, order=(1, 0), mode="nearest")
        r = np.maximum(cos[:, None, None] * gx + sin[:, None, None] * gy, 0.0)  # (O, H, W)
        top = float(r.max())
        q = np.zeros(r.shape, dtype=np.int64) if top <= 0 else np.minimum((r * (bins / top)).astype(np.int64), bins - 1)
        out[..., ch * orientations:(ch + 1) * orientations] = np.moveaxis(q, 0, -1) + \
            (ch * orientations + np.arange(orientations)) * bins
    return out


def texture_histograms(img01: np.ndarray, labels: np.ndarray, n: int | None = None) -> np.ndarray:
    """Texture histogram of each segment, ``(n, C * 8 * 10)``, L1-normalised (:func:`texture_bins`)."""
    b = texture_bins(img01)
    c = 1 if np.ndim(img01) == 2 else np.shape(img01)[-1]
    return _segment_histograms(b, labels, _n_labels(labels, n), c * TEXTURE_ORIENTATIONS * TEXTURE_BINS)


def segment_boxes(labels: np.ndarray, n: int | None = None) -> np.ndarray:
    """Tight ``(x1, y1, x2, y2)`` box (exclusive x2/y2) of each segment, ``(n, 4)`` int64."""
    n = _n_labels(labels, n)
    out = np.zeros((n, 4), dtype=np.int64)
    for i, sl in enumerate(ndimage.find_objects(labels.astype(np.int64) + 1, max_label=n)):
        if sl is not None:
            out[i] = (sl[1].start, sl[0].start, sl[1].stop, sl[0].stop)
    return out


def cell_index(shape: tuple[int, int], map_shape: tuple[int, int]) -> np.ndarray:
    """Feature-map cell ``cy * w + cx`` of every pixel of an ``H x W`` image seen as an ``h x w`` map.

    The pixel centre ``(y + 0.5, x + 0.5)`` is mapped proportionally (the image is warped to the CNN's
    square input, so each axis scales on its own).
    """
    H, W = shape
    h, w = map_shape
    cy = np.minimum(((np.arange(H) + 0.5) * h / H).astype(np.int64), h - 1)
    cx = np.minimum(((np.arange(W) + 0.5) * w / W).astype(np.int64), w - 1)
    return cy[:, None] * w + cx[None, :]


def pool_segment_features(fmap, labels: np.ndarray, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Masked average pooling on a feature map, kept as *sums*: ``(sums (n, C), counts (n,))``.

    ``fmap``: ``(C, h, w)`` (tensor or array); ``labels``: ``H x W`` segment ids. Each pixel adds
    the feature vector of its cell (:func:`cell_index`), i.e. the segment mask is resized to the
    map by area and ``sums[i] = sum_cells area_i(cell) f(cell)``, ``counts[i]`` = the segment's
    pixel count. The pooled feature is ``sums / counts``; a union of segments pools to
    ``(sum_i + sum_j) / (n_i + n_j)``, exactly what the union's mask would give.
    """
    f = fmap.detach().cpu().double().numpy() if isinstance(fmap, torch.Tensor) else np.asarray(fmap, np.float64)
    if f.ndim != 3:
        raise ValueError(f"fmap must be (C, h, w), got shape {f.shape}")
    c, h, w = f.shape
    n = _n_labels(labels, n)
    idx = labels.astype(np.int64) * (h * w) + cell_index(labels.shape, (h, w))
    weights = np.bincount(idx.ravel(), minlength=n * h * w).reshape(n, h * w).astype(np.float64)
    return weights @ f.reshape(c, h * w).T, weights.sum(1)


def region_adjacency(labels: np.ndarray) -> np.ndarray:
    """Unique pairs ``(i, j)``, i < j, of segments that touch (4-neighbourhood), ``(P, 2)`` int64."""
    lab = labels.astype(np.int64)
    n = int(lab.max()) + 1 if lab.size else 0
    pairs = []
    for a, b in ((lab[:, :-1], lab[:, 1:]), (lab[:-1, :], lab[1:, :])):
        d = a != b
        lo, hi = np.minimum(a[d], b[d]), np.maximum(a[d], b[d])
        pairs.append(lo * n + hi)
    keys = np.unique(np.concatenate(pairs)) if pairs else np.zeros(0, np.int64)
    return np.stack([keys // max(n, 1), keys % max(n, 1)], 1) if len(keys) else np.zeros((0, 2), np.int64)


# ---------------------------------------------------------------------------------------------
# result type
# ---------------------------------------------------------------------------------------------
@dataclass(eq=False)
class GroupingResult:
    """Every region of one image's hierarchy; regions ``0 .. n_initial-1`` are the initial segments and
    region ``n_initial + t`` is made by the ``(t+1)``-th merge.

    ``labels``: ``h x w`` int32 initial segment ids at the working resolution (``scale`` × the
    input; with the merge list, enough to rebuild any mask: :func:`region_mask`). ``boxes``:
    ``(N, 4)`` float32 ``(x1, y1, x2, y2)`` in input-image pixels, x2/y2 exclusive. ``pixels``:
    ``(N,)`` pixel counts at the working resolution. ``level``: 0 for an initial segment, else
    ``1 + max(level of its children)``. ``parent``: ``(N,)`` (-1 for a root). ``children``:
    ``(N, 2)`` (-1 for an initial segment). ``similarity``: the similarity at which the region was
    merged (NaN for initial segments). ``excluded``: initial segments dropped by the filters before
    merging (``filter_stage="before"``; never merged). ``probs``/``features``: the sentiment
    predictions ``(N, M)`` and pooled features ``(N, C)`` of every region when a model was used.
    ``image_size``: ``(W, H)`` of the input image.
    """

    labels: np.ndarray
    boxes: np.ndarray
    pixels: np.ndarray
    level: np.ndarray
    parent: np.ndarray
    children: np.ndarray
    similarity: np.ndarray
    excluded: np.ndarray
    image_size: tuple[int, int]
    scale: float = 1.0
    probs: np.ndarray | None = None
    features: np.ndarray | None = None
    params: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(len(self.pixels))

    @property
    def n_initial(self) -> int:
        return int(np.count_nonzero(self.children[:, 0] < 0))

    @property
    def roots(self) -> np.ndarray:
        """Regions without a parent that took part in the grouping (one for ``filter_stage="after"``)."""
        return np.flatnonzero((self.parent < 0) & ~self.excluded)

    @property
    def root(self) -> int | None:
        """The hierarchy's root: the region made of every initial segment that took part in the grouping
        (the last region when it holds all of them), or None (a forest, with ``filter_stage="before"``)."""
        if not len(self):
            return None
        last = len(self) - 1
        took_part = int(np.count_nonzero(~self.excluded[:self.n_initial]))
        return last if not self.excluded[last] and len(self.leaves(last)) == took_part else None

    @property
    def pixel_area(self) -> np.ndarray:
        """Pixel counts in input-image pixels (``pixels / scale**2``), float64."""
        return self.pixels.astype(np.float64) / (self.scale ** 2)

    @property
    def box_area(self) -> np.ndarray:
        """Box areas in input-image pixels, float64."""
        return _box_area(self.boxes.astype(np.float64))

    def leaves(self, i: int) -> np.ndarray:
        """The initial segments that make up region ``i``, sorted."""
        if not 0 <= int(i) < len(self):
            raise IndexError(f"region {i} out of range [0, {len(self)})")
        out, stack = [], [int(i)]
        while stack:
            r = stack.pop()
            a, b = self.children[r]
            if a < 0:
                out.append(r)
            else:
                stack.extend((int(a), int(b)))
        return np.array(sorted(out), dtype=np.int64)


def region_mask(result: GroupingResult, i: int) -> np.ndarray:
    """Boolean mask of region ``i`` at the working resolution (``result.labels.shape``)."""
    return np.isin(result.labels, result.leaves(i))


# ---------------------------------------------------------------------------------------------
# filters
# ---------------------------------------------------------------------------------------------
def _passes(boxes: np.ndarray, pixel_area: np.ndarray, area: np.ndarray, image_area: float,
            cfg: GroupingConfig) -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    keep = np.ones(len(b), dtype=bool)
    if cfg.max_aspect is not None:
        w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
        keep &= np.maximum(w, h) <= float(cfg.max_aspect) * np.minimum(w, h)
    if cfg.min_pixels is not None:
        keep &= np.asarray(pixel_area, dtype=np.float64) >= float(cfg.min_pixels) - 1e-9
    if cfg.max_area_frac is not None:
        keep &= np.asarray(area, dtype=np.float64) <= float(cfg.max_area_frac) * float(image_area) + 1e-9
    return keep


def region_areas(result: GroupingResult, cfg: GroupingConfig) -> np.ndarray:
    """``area(x_r)`` of Eq. 3 for every region: box area (``region_as="box"``) or pixel count (``"mask"``)."""
    return result.box_area if cfg.region_as == "box" else result.pixel_area


def filter_regions(result: GroupingResult, cfg: GroupingConfig) -> np.ndarray:
    """Indices (ascending, int64) of the regions that pass R-CNNGSR's filters.

    ``filter_stage="after"``: keep a region when ``max(w/h, h/w) <= max_aspect`` (its input-image
    box; an aspect of exactly 5 is kept), it has at least ``min_pixels`` pixels (the pixel count of
    its *mask*, not its box, in input-image pixels; exactly 200 is kept) and, when set,
    ``area / image area <= max_area_frac`` (area as :func:`region_areas`).
    ``filter_stage="before"``: the filters were applied to the initial segments by
    :func:`hierarchical_grouping`; every region that took part in the grouping is kept.
    Then ``drop_root`` drops :attr:`GroupingResult.root` and ``drop_duplicates`` keeps the first of
    regions identical as scored (:func:`distinct_regions`), so that Eq. 3 sees each region once.
    """
    if cfg.filter_stage == "before":
        idx = np.flatnonzero(~result.excluded).astype(np.int64)
    else:
        w, h = result.image_size
        keep = _passes(result.boxes, result.pixel_area, region_areas(result, cfg), w * h, cfg)
        idx = np.flatnonzero(keep).astype(np.int64)
    if cfg.drop_root and result.root is not None:
        idx = idx[idx != result.root]
    if cfg.drop_duplicates:
        idx = distinct_regions(result, idx, cfg.region_as)
    return idx


def distinct_regions(result: GroupingResult, idx: np.ndarray, region_as: str = "box") -> np.ndarray:
    """``idx`` (ascending) without the regions identical as scored to an earlier one of ``idx``: the same
    input-image box for ``region_as="box"``, the same set of initial segments (the same mask) for ``"mask"``."""
    if region_as not in REGION_AS:
        raise ValueError(f"unknown region_as {region_as!r}; valid: {', '.join(REGION_AS)}")
    seen: set[tuple] = set()
    keep = []
    for r in np.asarray(idx, dtype=np.int64).tolist():
        key = tuple(result.boxes[r].tolist()) if region_as == "box" else tuple(result.leaves(r).tolist())
        if key not in seen:
            seen.add(key)
            keep.append(r)
    return np.asarray(keep, dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# hierarchical grouping
# ---------------------------------------------------------------------------------------------
def _as_rgb(image) -> np.ndarray:
    """``H x W x 3`` uint8 RGB from a path, a PIL image, an array or a (3, H, W) tensor."""
    if isinstance(image, (str, os.PathLike)):
        from vsalib.data.images import open_image

        image = open_image(image)
    if isinstance(image, torch.Tensor):
        t = image.detach().cpu()
        if t.ndim != 3 or t.shape[0] != 3:
            raise ValueError(f"an image tensor must be (3, H, W), got shape {tuple(t.shape)}")
        t = t if t.dtype == torch.uint8 else (t.float().clamp(0, 1) * 255).round().to(torch.uint8)
        return np.ascontiguousarray(t.permute(1, 2, 0).numpy())
    return to_rgb_array(image)


def _rgb_tensor(rgb: np.ndarray) -> torch.Tensor:
    """``H x W x 3`` uint8 array → ``(3, H, W)`` uint8 tensor (a copy: the array may be read-only)."""
    return torch.from_numpy(np.array(rgb, dtype=np.uint8)).permute(2, 0, 1)


def _resolve_fns(cfg: GroupingConfig, model, sentiment_fns: SentimentFns | None,
                 keep_predictions: bool) -> SentimentFns | None:
    if not (cfg.sentiment > 0 or keep_predictions):
        return None
    if sentiment_fns is None and model is not None:
        sentiment_fns = model_sentiment_fns(model, cfg.cnn_size)
    if cfg.sentiment > 0 and sentiment_fns is None:
        raise ValueError(f"GroupingConfig.sentiment={cfg.sentiment} needs a model (or sentiment_fns) to predict "
                         f"the regions' sentiment; pass one or set sentiment=0")
    return sentiment_fns


def hierarchical_grouping(image, cfg: GroupingConfig | None = None, model=None, *,
                          sentiment_fns: SentimentFns | None = None, initial_labels: np.ndarray | None = None,
                          keep_predictions: bool = False) -> GroupingResult:
    """R-CNNGSR's grouping (Fig. 2): Felzenszwalb segments merged greedily by Uijlings' similarity
    plus the sentiment similarity, until one region (a forest with ``filter_stage="before"``).

    ``image``: a path, PIL image, ``H x W x 3`` array or ``(3, H, W)`` tensor. ``model``: a
    whole-image classifier for the sentiment term (:func:`model_sentiment_fns`); ``sentiment_fns``
    replaces it with any feature map + head (tests use toy ones). ``model=None`` and no
    ``sentiment_fns`` need ``cfg.sentiment == 0``. ``initial_labels``: use this ``h x w`` segmentation
    (at the working resolution) instead of Felzenszwalb's. ``keep_predictions``: compute the
    regions' predictions (``probs``/``features``) even when ``cfg.sentiment == 0``.

    Greedy loop: a heap of adjacent pairs by similarity (ties: the lower region ids first); the
    best pair ``(i, j)`` becomes region ``k`` with size ``n_i + n_j``, box ``BB_ij``, histograms
    :func:`merge_histograms`, feature sum ``sum_i + sum_j`` and prediction ``head(sum / n)``; its
    similarities to the union of i's and j's neighbours are added; pairs involving i or j are
    dropped. A live pair's similarity never changes, so stale heap entries are simply skipped.
    """
    cfg = cfg or GroupingConfig()
    fns = _resolve_fns(cfg, model, sentiment_fns, keep_predictions)
    rgb_full = _as_rgb(image)
    H, W = rgb_full.shape[:2]
    rgb, s = _downscale(rgb_full, cfg.max_side)
    h, w = rgb.shape[:2]
    img01 = convert_colour(rgb, cfg.colour_space)

    if initial_labels is None:
        from skimage.segmentation import felzenszwalb

        labels = felzenszwalb(img01, scale=float(cfg.scale), sigma=float(cfg.sigma), min_size=int(cfg.min_size))
    else:
        labels = np.asarray(initial_labels)
        if labels.shape != (h, w):
            raise ValueError(f"initial_labels must have the working image's shape {(h, w)}, got {labels.shape}")
    _, labels = np.unique(labels, return_inverse=True)
    labels = labels.reshape(h, w).astype(np.int32)
    n = int(labels.max()) + 1
    N = 2 * n - 1
    im_size = float(h * w)
    wts = cfg.weights

    # descriptors of every region (initial ones now, merged ones as they are made)
    sizes = np.zeros(N, dtype=np.int64)
    sizes[:n] = np.bincount(labels.ravel(), minlength=n)
    wboxes = np.zeros((N, 4), dtype=np.int64)
    wboxes[:n] = segment_boxes(labels, n)
    hc = ht = None
    if wts["colour"] > 0:
        c0 = colour_histograms(img01, labels, n)
        hc = np.zeros((N, c0.shape[1]))
        hc[:n] = c0
    if wts["texture"] > 0:
        t0 = texture_histograms(img01, labels, n)
        ht = np.zeros((N, t0.shape[1]))
        ht[:n] = t0
    fsum = probs = None
    head_calls = 0
    if fns is not None:
        fmap = fns.features(_rgb_tensor(rgb_full).float().div_(255.0))
        s0, _ = pool_segment_features(fmap, labels, n)
        fsum = np.zeros((N, s0.shape[1]))
        fsum[:n] = s0
        p0 = fns.head(torch.from_numpy(s0 / sizes[:n, None]).float()).detach().cpu().double().numpy()
        head_calls += 1
        probs = np.zeros((N, p0.shape[1]))
        probs[:n] = p0

    parent = np.full(N, -1, dtype=np.int64)
    children = np.full((N, 2), -1, dtype=np.int64)
    level = np.zeros(N, dtype=np.int64)
    simv = np.full(N, np.nan)
    excluded = np.zeros(N, dtype=bool)

    if cfg.filter_stage == "before":
        ib = _box_fullres(wboxes[:n], s, W, H)
        pa = sizes[:n] / s ** 2
        area = _box_area(ib) if cfg.region_as == "box" else pa
        excluded[:n] = ~_passes(ib, pa, area, W * H, cfg)

    def sim(k: int, others: np.ndarray) -> np.ndarray:
        tot = np.zeros(len(others))
        if hc is not None:
            tot += wts["colour"] * histogram_intersection(hc[k], hc[others])
        if ht is not None:
            tot += wts["texture"] * histogram_intersection(ht[k], ht[others])
        if wts["size"] > 0:
            tot += wts["size"] * size_similarity(sizes[k], sizes[others], im_size)
        if wts["fill"] > 0:
            tot += wts["fill"] * fill_similarity(wboxes[k], wboxes[others], sizes[k], sizes[others], im_size)
        if wts["sentiment"] > 0:
            tot += wts["sentiment"] * cosine_similarity(probs[k], probs[others])
        return tot

    nbrs: list[set[int]] = [set() for _ in range(N)]
    heap: list[tuple[float, int, int]] = []
    pairs = region_adjacency(labels)
    if len(pairs):
        pairs = pairs[~excluded[pairs[:, 0]] & ~excluded[pairs[:, 1]]]
    for i, j in pairs.tolist():
        nbrs[i].add(j)
        nbrs[j].add(i)
    for i in range(n):
        if nbrs[i]:
            others = np.array(sorted(o for o in nbrs[i] if o > i), dtype=np.int64)
            if len(others):
                heap.extend(zip((-sim(i, others)).tolist(), [i] * len(others), others.tolist()))
    heapq.heapify(heap)

    alive = np.zeros(N, dtype=bool)
    alive[:n] = ~excluded[:n]
    k = n
    while heap:
        negs, i, j = heapq.heappop(heap)
        if not (alive[i] and alive[j]):
            continue
        sizes[k] = sizes[i] + sizes[j]
        wboxes[k] = union_box(wboxes[i], wboxes[j])
        if hc is not None:
            hc[k] = merge_histograms(hc[i], sizes[i], hc[j], sizes[j])
        if ht is not None:
            ht[k] = merge_histograms(ht[i], sizes[i], ht[j], sizes[j])
        if fsum is not None:
            fsum[k] = fsum[i] + fsum[j]
            probs[k] = fns.head(torch.from_numpy(fsum[k:k + 1] / sizes[k]).float()).detach().cpu().double().numpy()[0]
            head_calls += 1
        parent[i] = parent[j] = k
        children[k] = (i, j)
        level[k] = 1 + max(level[i], level[j])
        simv[k] = -negs
        alive[i] = alive[j] = False
        alive[k] = True
        nb = (nbrs[i] | nbrs[j]) - {i, j}
        for m in nb:
            nbrs[m].discard(i)
            nbrs[m].discard(j)
            nbrs[m].add(k)
        nbrs[k] = nb
        nbrs[i] = nbrs[j] = set()
        if nb:
            others = np.array(sorted(nb), dtype=np.int64)
            for m, v in zip(others.tolist(), sim(k, others).tolist()):
                heapq.heappush(heap, (-v, m, k))  # m < k: k is the newest id
        k += 1

    M = k
    features = None if fsum is None else (fsum[:M] / np.maximum(sizes[:M, None], 1)).astype(np.float32)
    return GroupingResult(
        labels=labels, boxes=_box_fullres(wboxes[:M], s, W, H).astype(np.float32), pixels=sizes[:M].copy(),
        level=level[:M], parent=parent[:M], children=children[:M], similarity=simv[:M],
        excluded=excluded[:M], image_size=(W, H), scale=float(s),
        probs=None if probs is None else probs[:M].astype(np.float32), features=features,
        params=dict(cfg=cfg, n_initial=n, n_pairs=int(len(pairs)), head_calls=head_calls),
    )


def _box_fullres(boxes: np.ndarray, s: float, W: int, H: int) -> np.ndarray:
    """Working-resolution boxes → input-image pixels, rounded outward, clipped, at least 1 px."""
    b = boxes_to_input(boxes, s, W, H)
    b[:, 2] = np.maximum(b[:, 2], np.minimum(b[:, 0] + 1, W))
    b[:, 3] = np.maximum(b[:, 3], np.minimum(b[:, 1] + 1, H))
    b[:, 0] = np.minimum(b[:, 0], b[:, 2] - 1)
    b[:, 1] = np.minimum(b[:, 1], b[:, 3] - 1)
    return b


# ---------------------------------------------------------------------------------------------
# sentiment regions for Eq. 3
# ---------------------------------------------------------------------------------------------
class SentimentRegions(NamedTuple):
    """What :func:`vsalib.regions.fusion.area_weighted_fusion` needs besides ``f(x)`` and W · H (Eq. 3).

    ``boxes``: ``(R, 4)`` float32 input-image pixels; ``areas``: ``(R,)`` float32 ``area(x_r)``
    (:func:`region_areas`); ``probs``: ``(R, M)`` softmax predictions ``f(x_r)``, or None without a model;
    ``logits``: ``(R, M)`` the classifier's logits (Eq. 3's "last layer's activations") whose softmax is
    ``probs``, or None (no model; ``"pooled"`` scoring with ``sentiment_fns`` other than the model's, whose
    head gives probabilities only). All rows are the same regions in the same order.
    """

    boxes: torch.Tensor
    areas: torch.Tensor
    probs: torch.Tensor | None
    logits: torch.Tensor | None = None


def _pooled_logits(model, features: np.ndarray) -> torch.Tensor:
    """The model's head on pooled region features read as constant maps (the logits whose softmax the
    grouping pass kept as ``probs``; :func:`vsalib.regions.cnn.constant_map_head`), float32 on the CPU."""
    dev = C.model_device(model, None)
    dtype = next(model.parameters()).dtype
    with C.eval_mode(model):
        lg = C.constant_map_head(model)(torch.from_numpy(np.ascontiguousarray(features)).to(dev, dtype))
    return lg.float().cpu()


def sentiment_regions(image, cfg: GroupingConfig | None = None, model=None, *,
                      sentiment_fns: SentimentFns | None = None,
                      result: GroupingResult | None = None) -> SentimentRegions:
    """R-CNNGSR's sentiment regions of one image: the filtered regions of the hierarchy, scored (Eq. 3's inputs).

    Runs :func:`hierarchical_grouping` (or uses ``result``), keeps :func:`filter_regions` (with
    ``drop_root``/``drop_duplicates``) and scores them with ``model`` as ``cfg.region_as``/``cfg.score_method``
    say. Fuse with ``area_weighted_fusion(whole_image_probs(model, image), out.probs, out.areas, W * H)``
    (Eq. 3, all regions, no top-K), or on ``out.logits`` with ``on="logits"``. ``model=None``: ``probs`` and
    ``logits`` are None (and ``cfg.sentiment`` must be 0). ``"pooled"`` scoring: the grouping pass's
    predictions, with logits from the model's head on the regions' pooled features where the pass used
    the model (not other ``sentiment_fns``; a given ``result`` must come from ``model``).
    """
    cfg = cfg or GroupingConfig()
    pooled = cfg.region_as == "mask" and cfg.score_method == "pooled"
    if result is None:
        result = hierarchical_grouping(image, cfg, model, sentiment_fns=sentiment_fns,
                                       keep_predictions=pooled and model is not None)
    idx = filter_regions(result, cfg)
    boxes = torch.from_numpy(result.boxes[idx].astype(np.float32))
    areas = torch.from_numpy(region_areas(result, cfg)[idx].astype(np.float32))
    if model is None:
        return SentimentRegions(boxes, areas, None, None)
    m = model.classifier.out_features
    if len(idx) == 0:
        return SentimentRegions(boxes, areas, torch.zeros(0, m), torch.zeros(0, m))
    if pooled:
        if result.probs is None:
            raise ValueError("score_method='pooled' needs a result computed with the model (keep_predictions=True)")
        probs = torch.from_numpy(result.probs[idx])
        logits = None if sentiment_fns is not None or result.features is None else \
            _pooled_logits(model, result.features[idx])
    elif cfg.region_as == "box":
        img = _rgb_tensor(_as_rgb(image))
        kw = dict(batch_size=cfg.batch_size) if cfg.score_method == "crop" else {}
        out = region_outputs(model, img, boxes, cfg.score_method, size=cfg.cnn_size, **kw)
        probs, logits = out.probs, out.logits
    else:
        out = mask_outputs(model, _rgb_tensor(_as_rgb(image)), result.labels, result.boxes[idx],
                           [result.leaves(r) for r in idx.tolist()], size=cfg.cnn_size, batch_size=cfg.batch_size)
        probs, logits = out.probs, out.logits
    return SentimentRegions(boxes, areas, probs, logits)


__all__: Sequence[str] = (
    "COLOUR_SPACES", "FILTER_STAGES", "LATER_FLAGS", "REGION_AS", "SCORE_METHODS", "SIMILARITIES", "GroupingConfig",
    "GroupingResult", "SentimentFns", "SentimentRegions", "cell_index", "colour_histograms",
    "convert_colour", "cosine_similarity", "distinct_regions", "fill_similarity", "filter_regions",
    "hierarchical_grouping", "histogram_intersection", "merge_histograms", "model_sentiment_fns",
    "partition_at", "pool_segment_features", "region_adjacency", "region_areas", "region_mask", "segment_boxes",
    "sentiment_regions", "size_similarity", "texture_bins", "texture_histograms", "union_box",
)


def partition_at(result: GroupingResult, n_merges: int) -> np.ndarray:
    """The segmentation after the first ``n_merges`` merges, as an ``h x w`` map of region ids (at
    ``result.labels``' resolution): each initial segment takes the id of its ancestor that exists at
    that step. ``n_merges=0`` gives the initial segments; ``len(result) - n_initial`` one region (with
    ``filter_stage="after"``). Segments excluded before merging keep their own id."""
    n0 = result.n_initial
    n_total = len(result) - n0
    if not 0 <= n_merges <= n_total:
        raise ValueError(f"n_merges must lie in [0, {n_total}], got {n_merges}")
    last = n0 + n_merges  # regions with an id below this exist at this step
    owner = np.arange(n0)
    for _ in range(n_total + 1):
        up = result.parent[owner]
        move = (up >= 0) & (up < last)
        if not move.any():
            break
        owner = np.where(move, up, owner)
    return owner[result.labels]
