"""The settings of R-CNNGSR's sentiment-region detection (:class:`GroupingConfig`): Felzenszwalb's segmentation,
the similarity weights of the grouping, the paper's filters and when they apply, and how the final regions are
scored. The paper gives only the filters' aspect ratio (5) and pixel count (200); every other value is a
reading, named in :mod:`vsalib.regions.grouping`'s docstring."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np

from vsalib.regions.descriptors import COLOUR_SPACES

#: How a final region is scored: as its bounding box, or as its segment mask.
REGION_AS = ("box", "mask")
FILTER_STAGES = ("after", "before")
SCORE_METHODS = {"box": ("crop", "roialign"), "mask": ("crop", "pooled")}
SIMILARITIES = ("colour", "texture", "size", "fill", "sentiment")
#: Flags added after the first published runs, left out of :meth:`GroupingConfig.record_params` when False.
LATER_FLAGS = ("drop_duplicates", "drop_root")


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
