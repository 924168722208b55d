"""One image's region hierarchy as R-CNNGSR's grouping leaves it (:class:`GroupingResult`: every initial
segment and every merge, with boxes, pixel counts, parents and children), the masks and partitions it
implies, and the paper's filters (Sec. 5.1: aspect ratio at most 5, at least 200 pixels, an optional largest
area), which choose the regions that enter Eq. 3."""

from __future__ import annotations

from dataclasses import dataclass, field
import numpy as np

from vsalib.regions.grouping_config import REGION_AS, GroupingConfig
from vsalib.regions.similarity import boxes_area


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
        return boxes_area(self.boxes.astype(np.float64))

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


def passes_filters(boxes: np.ndarray, pixel_area: np.ndarray, area: np.ndarray, image_area: float,
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
        keep = passes_filters(result.boxes, result.pixel_area, region_areas(result, cfg), w * h, cfg)
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
