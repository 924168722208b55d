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

This module holds the grouping loop (:func:`hierarchical_grouping`) and Eq. 3's inputs
(:func:`sentiment_regions`). The pieces they are built from have one module each, and every name is
re-exported here: the settings (:class:`GroupingConfig`) in :mod:`vsalib.regions.grouping_config`, the
similarities in :mod:`vsalib.regions.similarity`, the segments' descriptors in
:mod:`vsalib.regions.descriptors`, the hierarchy, its masks and the filters in :mod:`vsalib.regions.hierarchy`.
"""

from __future__ import annotations

import heapq
import os
from typing import NamedTuple, Sequence

import numpy as np
import torch

from vsalib.regions import cnn as C
from vsalib.regions.boxes import boxes_to_input
from vsalib.regions.cnn import SentimentFns, model_sentiment_fns
from vsalib.regions.descriptors import (COLOUR_BINS, COLOUR_SPACES, TEXTURE_BINS,  # noqa: F401  (re-exported)
                                        TEXTURE_ORIENTATIONS, TEXTURE_SIGMA, cell_index, colour_histograms,
                                        convert_colour, pool_segment_features, region_adjacency, segment_boxes,
                                        texture_bins, texture_histograms)
from vsalib.regions.grouping_config import (FILTER_STAGES, LATER_FLAGS, REGION_AS,  # noqa: F401  (re-exported)
                                            SCORE_METHODS, SIMILARITIES, GroupingConfig)
from vsalib.regions.hierarchy import (GroupingResult, passes_filters, distinct_regions, filter_regions,  # noqa: F401
                                      partition_at, region_areas, region_mask)
from vsalib.regions.proposals import downscale, to_rgb_array
from vsalib.regions.scoring import mask_outputs, region_outputs
from vsalib.regions.similarity import (boxes_area, cosine_similarity, fill_similarity,  # noqa: F401  (re-exported)
                                       histogram_intersection, merge_histograms, size_similarity, union_box)


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
    rgb, s = downscale(rgb_full, cfg.max_side)
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
        area = boxes_area(ib) if cfg.region_as == "box" else pa
        excluded[:n] = ~passes_filters(ib, pa, area, W * H, cfg)

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
