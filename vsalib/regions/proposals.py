"""Object proposals with objectness scores (Sun2016, step 1).

Sun et al. (ICME 2016) start from "an off-the-shelf tool [18]" that "generates hundreds of
redundant proposals", keep ``N`` of them per image and use the tool's own score as
``Obj_j`` ("the possibility of the j-th region containing an object of any category"). The
tool is EdgeBoxes-like; the paper gives neither ``N`` nor how ``Obj`` is normalised. This module
offers two sources behind one result type, :class:`Proposals`:

``edgeboxes`` (default)
    Zitnick & Dollár's EdgeBoxes as ported to OpenCV (``cv2.ximgproc.createEdgeBoxes``). Its usual
    input is the structured-forest edge map, whose model file ``model.yml.gz`` is not shipped with
    OpenCV. Two edge sources are therefore offered:

    * :func:`gradient_edges` (default, no learned model): colour Sobel gradients on a lightly
      blurred image, magnitude normalised and thinned by non-maximum suppression along the
      gradient, orientation from the gradients in the convention EdgeBoxes expects.
    * :func:`structured_edges`: the learned detector, for users who have the model file.

    ``Obj`` is EdgeBoxes' own box score (edge mass wholly inside the box minus the mass of edge
    groups that straddle its boundary, over the box perimeter to the power ``kappa``).

``selective_search``
    Uijlings et al.'s selective search (``cv2.ximgproc.segmentation``). It returns boxes without
    scores; the objectness is the documented rank score ``1 - rank / N_total`` (see
    :func:`selective_search`).

Boxes are ``float32`` tensors ``(N, 4)`` of ``(x0, y0, x1, y1)`` in pixels of the input image,
``x1``/``y1`` exclusive, ``0 <= x0 < x1 <= W`` and ``0 <= y0 < y1 <= H``, sorted by decreasing
objectness. An image where nothing is found (flat, or smaller than the operator can handle) gives
an empty result, boxes ``(0, 4)`` and objectness ``(0,)``, with :attr:`Proposals.note` saying why;
falling back to the whole-image prediction is the method's job.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator, Union

import cv2
import numpy as np
import torch
from PIL import Image

from vsalib.errors import UnknownNameError
from vsalib.regions.boxes import boxes_to_input

ImageLike = Union[Image.Image, np.ndarray]

#: Where the learned structured-edge model lives (OpenCV's extra test data).
STRUCTURED_EDGE_MODEL_URL = (
    "https://github.com/opencv/opencv_extra/raw/4.x/testdata/cv/ximgproc/model.yml.gz"
)

#: EdgeBoxes ignores the outermost pixel ring, so an image needs an interior to hold an edge.
_EDGEBOXES_MIN_SIDE = 3
#: Smaller images are padded before the structured-forest detector (its patches are 32 px).
_SED_MIN_SIDE = 32
#: OpenCV's EdgeBoxes indexes a 10,000-entry table with (box width + box height) / 2.
_EDGEBOXES_MAX_HALF_PERIMETER = 9999


# ------------------------------------------------------------------------------------------
# result type
# ------------------------------------------------------------------------------------------
@dataclass(eq=False)
class Proposals:
    """Proposals of one image, sorted by decreasing objectness.

    ``boxes``: float32 ``(N, 4)``, ``(x0, y0, x1, y1)`` pixels of the input image, x1/y1 exclusive.
    ``objectness``: float32 ``(N,)``, the raw score of ``source`` (Sun2016's ``Obj_j`` before any
    normalisation). ``source``: how they were made (e.g. ``"edgeboxes/gradient"``).
    ``image_size``: ``(W, H)`` of the input image. ``note``: why the result is empty (or other
    remarks), ``""`` when there is nothing to say. ``params``: the settings used.
    """

    boxes: torch.Tensor
    objectness: torch.Tensor
    source: str
    image_size: tuple[int, int]
    note: str = ""
    params: dict = field(default_factory=dict)
    seconds: float = float("nan")  # what making them took (kept in a proposals cache, so a cached run can say)

    def __post_init__(self) -> None:
        self.boxes = torch.as_tensor(self.boxes, dtype=torch.float32).reshape(-1, 4)
        self.objectness = torch.as_tensor(self.objectness, dtype=torch.float32).reshape(-1)
        if len(self.boxes) != len(self.objectness):
            raise ValueError(
                f"{len(self.boxes)} boxes but {len(self.objectness)} objectness scores"
            )
        self.image_size = (int(self.image_size[0]), int(self.image_size[1]))

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def __iter__(self) -> Iterator[tuple[torch.Tensor, float]]:
        """Yield ``(box, objectness)`` pairs."""
        for b, s in zip(self.boxes, self.objectness):
            yield b, float(s)

    @property
    def is_empty(self) -> bool:
        return len(self) == 0

    def top(self, n: int) -> "Proposals":
        """The ``n`` proposals with the highest objectness (stable for ties), as a new object."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        order = torch.argsort(self.objectness, descending=True, stable=True)[:n]
        return replace(self, boxes=self.boxes[order].clone(), objectness=self.objectness[order].clone(),
                       params=dict(self.params))

    def normalized_objectness(self, how: str = "max") -> torch.Tensor:
        """Objectness rescaled within this image (Sun2016 does not say how ``Obj`` is normalised).

        ``"max"`` (default): divide by the image's largest score, so the best proposal has 1 and
        the scores stay proportional (needs non-negative raw scores; all zero gives zeros).
        ``"minmax"``: ``(s - min) / (max - min)`` into [0, 1], as the journal version (Yang et al.,
        TMM 2018) does over an image's candidates; if all scores are equal, every proposal is the
        best one and gets 1. ``"none"``: the raw scores. Returns a new float32 ``(N,)`` tensor.
        """
        s = self.objectness.clone()
        if how == "none":
            return s
        if how not in ("max", "minmax"):
            raise UnknownNameError(
                f"unknown objectness normalisation {how!r}; valid: 'max', 'minmax', 'none'"
            )
        if len(s) == 0:
            return s
        if how == "max":
            if bool((s < 0).any()):
                raise ValueError("'max' normalisation needs non-negative scores; use 'minmax'")
            m = s.max()
            return s / m if float(m) > 0 else torch.zeros_like(s)
        lo, hi = s.min(), s.max()
        if float(hi - lo) <= 0:
            return torch.ones_like(s)
        return (s - lo) / (hi - lo)

    def areas(self) -> torch.Tensor:
        """Box areas in pixels, ``(N,)``."""
        return (self.boxes[:, 2] - self.boxes[:, 0]) * (self.boxes[:, 3] - self.boxes[:, 1])


def _empty(source: str, size: tuple[int, int], note: str, params: dict) -> Proposals:
    return Proposals(torch.zeros((0, 4)), torch.zeros((0,)), source, size, note, params)


# ------------------------------------------------------------------------------------------
# image handling
# ------------------------------------------------------------------------------------------
def to_rgb_array(image: ImageLike) -> np.ndarray:
    """``image`` as a contiguous ``H x W x 3`` uint8 RGB array.

    Accepts a PIL image of any mode (grey, palette, RGBA, CMYK, ...; alpha is dropped) or an array
    ``H x W``, ``H x W x 1``, ``H x W x 3`` or ``H x W x 4`` (RGBA, alpha dropped) of uint8, or of
    floats in [0, 1].
    """
    if isinstance(image, Image.Image):
        arr = np.asarray(image.convert("RGB"))
    elif isinstance(image, np.ndarray):
        arr = image
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        if arr.ndim == 2:
            arr = np.repeat(arr[:, :, None], 3, axis=2)
        if arr.ndim != 3 or arr.shape[2] not in (3, 4):
            raise ValueError(f"expected an H x W, H x W x 3 or H x W x 4 image, got shape {image.shape}")
        arr = arr[:, :, :3]
        if arr.dtype == np.bool_:
            arr = arr.astype(np.uint8) * 255
        elif np.issubdtype(arr.dtype, np.floating):
            if arr.size and (np.nanmin(arr) < 0 or np.nanmax(arr) > 1):
                raise ValueError("float images must lie in [0, 1]")
            arr = np.round(np.nan_to_num(arr) * 255).astype(np.uint8)
        elif arr.dtype != np.uint8:
            raise TypeError(f"expected a uint8 (or float in [0, 1]) image, got dtype {arr.dtype}")
    else:
        raise TypeError(f"expected a PIL.Image or numpy array, got {type(image).__name__}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"empty image of shape {arr.shape}")
    return np.ascontiguousarray(arr)


def downscale(rgb: np.ndarray, max_side: int | None) -> tuple[np.ndarray, float]:
    """Shrink so the longer side is at most ``max_side`` (area interpolation); returns the factor."""
    h, w = rgb.shape[:2]
    if not max_side or max(h, w) <= max_side:
        return rgb, 1.0
    s = max_side / max(h, w)
    nw, nh = max(1, int(round(w * s))), max(1, int(round(h * s)))
    return cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA), s


@contextlib.contextmanager
def _cv_threads(n: int | None):
    """Run OpenCV with ``n`` threads, restoring the previous setting (``None``: leave it)."""
    if n is None:
        yield
        return
    old = cv2.getNumThreads()
    cv2.setNumThreads(int(n))
    try:
        yield
    finally:
        cv2.setNumThreads(old)


def _finish_boxes(
    xyxy: np.ndarray, scores: np.ndarray, scale: float, size: tuple[int, int], n: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Map boxes computed at ``scale`` back to the image, round outward to whole pixels, clip,
    drop degenerate (under 1 px) and non-finite boxes, sort by score (stable) and keep ``n``."""
    w, h = size
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    ok = np.isfinite(xyxy).all(axis=1) & np.isfinite(scores)
    xyxy, scores = boxes_to_input(xyxy[ok], scale, w, h), scores[ok]
    bw, bh = xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]
    keep = (bw >= 1) & (bh >= 1)
    xyxy, scores = xyxy[keep], scores[keep]
    order = np.argsort(-scores, kind="stable")[: max(int(n), 0)]
    return xyxy[order].astype(np.float32), scores[order].astype(np.float32)


# ------------------------------------------------------------------------------------------
# edge maps
# ------------------------------------------------------------------------------------------
def _nms_along(mag: np.ndarray, orientation: np.ndarray, radius: float = 1.0,
               multiplier: float = 1.01) -> np.ndarray:
    """Keep a pixel where ``multiplier * mag`` is not below ``mag`` bilinearly sampled at
    ``+-radius`` along the direction ``orientation`` (Dollár's ``edgesNms`` rule, radius 1)."""
    h, w = mag.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    dx = (np.cos(orientation) * radius).astype(np.float32)
    dy = (np.sin(orientation) * radius).astype(np.float32)
    keep = np.ones_like(mag, dtype=bool)
    for sign in (-1.0, 1.0):
        nb = cv2.remap(mag, xs + sign * dx, ys + sign * dy, cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
        keep &= mag * multiplier >= nb
    return keep


def gradient_edges(
    image: ImageLike,
    *,
    blur_sigma: float = 1.0,
    percentile: float = 99.0,
    min_contrast: float = 0.05,
    nms_radius: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Edge and orientation maps for EdgeBoxes without a learned model.

    This stands in for the structured-forest edges EdgeBoxes normally uses (whose model file is
    not shipped with OpenCV). Steps: RGB in [0, 1], Gaussian blur (``blur_sigma``, 0 = none);
    3x3 Sobel derivatives per channel scaled to intensity per pixel, taking at each pixel the
    channel with the largest gradient ("colour max", as Dollár's gradient code does); magnitude
    divided by ``max(percentile-th percentile of the magnitude, min_contrast)`` and clipped to
    [0, 1] (a robust maximum: one very strong edge does not wash out the others, and a flat or
    near-flat image, whose gradients stay below ``min_contrast``, gives weak or no edges instead
    of amplified noise); thinned by non-maximum suppression along the gradient (radius
    ``nms_radius``, bilinear sampling, Dollár's 1 % tolerance, so a ridge is at most 2 px wide).

    Orientation convention (the one EdgeBoxes' grouping and OpenCV's
    ``StructuredEdgeDetection.computeOrientation`` use): the angle of the edge *normal* (the
    gradient direction) in image coordinates, x to the right and y down, taken modulo pi, in
    [0, pi). A vertical edge (intensity changing along x) has orientation 0 (equivalently pi), a
    horizontal edge pi/2. EdgeBoxes compares a segment's orientation with
    ``atan2(dy, dx) + pi/2`` of the line joining two segments, i.e. with that line's normal.

    Returns ``(edges, orientation)``, float32 ``H x W`` each, edges in [0, 1].
    """
    rgb = to_rgb_array(image).astype(np.float32) / 255.0
    if blur_sigma and blur_sigma > 0:
        rgb = cv2.GaussianBlur(rgb, (0, 0), sigmaX=float(blur_sigma), sigmaY=float(blur_sigma),
                               borderType=cv2.BORDER_REPLICATE)
    gx = cv2.Sobel(rgb, cv2.CV_32F, 1, 0, ksize=3, scale=1 / 8, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.Sobel(rgb, cv2.CV_32F, 0, 1, ksize=3, scale=1 / 8, borderType=cv2.BORDER_REPLICATE)
    gx = gx.reshape(rgb.shape)
    gy = gy.reshape(rgb.shape)
    mag_c = gx * gx + gy * gy
    best = np.argmax(mag_c, axis=2)[..., None]
    gx = np.take_along_axis(gx, best, axis=2)[..., 0]
    gy = np.take_along_axis(gy, best, axis=2)[..., 0]
    mag = np.sqrt(np.take_along_axis(mag_c, best, axis=2)[..., 0]).astype(np.float32)

    orientation = np.mod(np.arctan2(gy, gx), np.pi).astype(np.float32)
    orientation[orientation >= np.float32(np.pi)] = 0.0  # float32 rounding of values just below pi

    scale = max(float(np.percentile(mag, percentile)), float(min_contrast), 1e-12)
    edges = np.clip(mag / scale, 0.0, 1.0).astype(np.float32)
    if nms_radius and nms_radius > 0 and edges.any():
        edges = edges * _nms_along(mag, orientation, radius=nms_radius)
    return np.ascontiguousarray(edges, dtype=np.float32), np.ascontiguousarray(orientation)


@functools.lru_cache(maxsize=4)
def _load_structured_model(path: str, mtime: float):
    return cv2.ximgproc.createStructuredEdgeDetection(path)


def _check_model_path(model_path: str | os.PathLike) -> Path:
    path = Path(model_path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"structured-edge model not found at {str(path)!r}. The learned edge detector of "
            "EdgeBoxes needs the random-forest model 'model.yml.gz' from OpenCV's extra data "
            f"(opencv_extra/testdata/cv/ximgproc/model.yml.gz, {STRUCTURED_EDGE_MODEL_URL}); "
            "download it and pass its path, or use the model-free gradient edges (model_path=None)."
        )
    return path


def structured_edges(image: ImageLike, model_path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Learned structured-forest edges (Dollár & Zitnick), the edge source EdgeBoxes was built on.

    Uses ``cv2.ximgproc.createStructuredEdgeDetection(model_path)`` with the model file
    ``model.yml.gz`` from OpenCV's extra data (``opencv_extra/testdata/cv/ximgproc/model.yml.gz``),
    then ``computeOrientation`` and ``edgesNms`` as in OpenCV's EdgeBoxes sample. The model is
    loaded once per path. Raises :class:`FileNotFoundError` (saying where to get the file) if
    ``model_path`` does not exist. Images under 32 px a side are padded by edge replication for the
    detector and the maps cropped back. Returns ``(edges, orientation)`` float32 ``H x W``.
    """
    path = _check_model_path(model_path)
    sed = _load_structured_model(str(path.resolve()), path.stat().st_mtime)
    rgb = to_rgb_array(image).astype(np.float32) / 255.0
    h, w = rgb.shape[:2]
    # the forest works on 32 px patches (stride 2): pad tiny images by edge replication, crop back
    ph, pw = max(0, _SED_MIN_SIDE - h), max(0, _SED_MIN_SIDE - w)
    if ph or pw:
        rgb = cv2.copyMakeBorder(rgb, 0, ph, 0, pw, cv2.BORDER_REPLICATE)
    edges = sed.detectEdges(np.ascontiguousarray(rgb))
    orientation = sed.computeOrientation(edges)
    edges = sed.edgesNms(edges, orientation)
    return (np.ascontiguousarray(edges[:h, :w], dtype=np.float32),
            np.ascontiguousarray(orientation[:h, :w], dtype=np.float32))


# ------------------------------------------------------------------------------------------
# EdgeBoxes
# ------------------------------------------------------------------------------------------
def edge_boxes(
    image: ImageLike,
    n: int = 100,
    *,
    edges: tuple[np.ndarray, np.ndarray] | None = None,
    model_path: str | os.PathLike | None = None,
    alpha: float = 0.65,
    beta: float = 0.75,
    eta: float = 1.0,
    min_score: float = 0.01,
    min_box_area: float = 1000.0,
    max_aspect_ratio: float = 3.0,
    edge_min_mag: float = 0.1,
    edge_merge_thr: float = 0.5,
    cluster_min_mag: float = 0.5,
    gamma: float = 2.0,
    kappa: float = 1.5,
    nms_iou: float | None = None,
    blur_sigma: float = 1.0,
    max_side: int | None = 500,
    num_threads: int | None = 1,
) -> Proposals:
    """EdgeBoxes proposals (Zitnick & Dollár 2014) with their scores as objectness (Sun2016 step 1).

    Edge source, in order: ``edges=(edge_map, orientation)`` given by the caller (at the
    resolution EdgeBoxes runs at, see ``max_side``); else :func:`structured_edges` if
    ``model_path`` is given; else the model-free :func:`gradient_edges` (``blur_sigma``).
    ``source`` records which (``"edgeboxes/given"``, ``"edgeboxes/structured"``,
    ``"edgeboxes/gradient"``).

    The EdgeBoxes parameters and their defaults are those of Dollár's toolbox and OpenCV:
    ``alpha`` (sliding-window step), ``beta`` (its own NMS IoU), ``eta``, ``min_score``,
    ``min_box_area`` (pixels, at the resolution EdgeBoxes runs at), ``max_aspect_ratio``,
    ``edge_min_mag``, ``edge_merge_thr``, ``cluster_min_mag``, ``gamma``, ``kappa``.
    ``nms_iou``: an extra torchvision NMS at this IoU after EdgeBoxes' own (``None``: none).
    ``max_side`` (default 500): images whose longer side exceeds it are downscaled first, so
    EdgeBoxes runs at about the PASCAL VOC scale its defaults (e.g. ``min_box_area=1000``) were
    tuned at; this also bounds the time (which grows fast with size and edge density) and keeps
    within OpenCV's fixed 10,000-entry scale table. Boxes are mapped back and rounded outward.
    ``num_threads``: OpenCV threads during the call (restored after).

    Box convention: OpenCV returns ``Rect(x + 1, y + 1, w, h)`` where the box it scored spans
    the pixels ``x .. x + w`` inclusive (Dollár's 1-based output kept by the port); this reads it
    as ``(x, y, x + w + 1, y + h + 1)`` exclusive, i.e. exactly the scored pixels (read from the
    port's ``edgeboxes.cpp``: ``scoreBox`` sums ``x0..x1`` inclusive, the output adds 1). At most ``n``
    boxes, sorted by score; images with a side under 3 px (no interior) or without edges give
    an empty result with a ``note``.
    """
    rgb = to_rgb_array(image)
    H, W = rgb.shape[:2]
    params = dict(n=n, alpha=alpha, beta=beta, eta=eta, min_score=min_score, min_box_area=min_box_area,
                  max_aspect_ratio=max_aspect_ratio, edge_min_mag=edge_min_mag,
                  edge_merge_thr=edge_merge_thr, cluster_min_mag=cluster_min_mag, gamma=gamma,
                  kappa=kappa, nms_iou=nms_iou, blur_sigma=blur_sigma, max_side=max_side)
    if edges is not None:
        source = "edgeboxes/given"
    elif model_path is not None:
        source = "edgeboxes/structured"
        _check_model_path(model_path)  # a missing model is an error even for a tiny image
    else:
        source = "edgeboxes/gradient"
    if not min_box_area >= 1:
        raise ValueError(f"min_box_area must be >= 1 pixel for EdgeBoxes, got {min_box_area}")
    if n <= 0:
        return _empty(source, (W, H), "n <= 0", params)

    if edges is not None:
        e, o = (np.ascontiguousarray(a, dtype=np.float32) for a in edges)
        if e.shape != o.shape or e.ndim != 2:
            raise ValueError(f"edge and orientation maps must be equal H x W arrays, got {e.shape}, {o.shape}")
        h, w = e.shape
        scale = w / W if (h, w) != (H, W) else 1.0
        if abs(h / H - scale) > 0.05 * max(scale, 1e-9) + 1.0 / H:
            raise ValueError(f"edge map {w}x{h} does not match the image {W}x{H} up to a scale")
    else:
        small, scale = downscale(rgb, max_side)
        h, w = small.shape[:2]
        if min(h, w) < _EDGEBOXES_MIN_SIDE:
            e = o = None
        elif model_path is not None:
            e, o = structured_edges(small, model_path)
        else:
            e, o = gradient_edges(small, blur_sigma=blur_sigma)

    if min(h, w) < _EDGEBOXES_MIN_SIDE:
        return _empty(source, (W, H), f"image {W}x{H} too small for EdgeBoxes "
                      f"(needs at least {_EDGEBOXES_MIN_SIDE} px per side)", params)
    if (w + h) // 2 > _EDGEBOXES_MAX_HALF_PERIMETER:
        raise ValueError(f"EdgeBoxes runs at {w}x{h}, too large for OpenCV's port; lower max_side")
    if not np.any(e > edge_min_mag):
        return _empty(source, (W, H), "no edges above edge_min_mag: nothing to propose", params)

    eb = cv2.ximgproc.createEdgeBoxes(
        alpha=float(alpha), beta=float(beta), eta=float(eta), minScore=float(min_score),
        maxBoxes=int(2 * n + 16), edgeMinMag=float(edge_min_mag), edgeMergeThr=float(edge_merge_thr),
        clusterMinMag=float(cluster_min_mag), maxAspectRatio=float(max_aspect_ratio),
        minBoxArea=float(min_box_area), gamma=float(gamma), kappa=float(kappa),
    )
    with _cv_threads(num_threads):
        rects, scores = eb.getBoundingBoxes(e, o)
    rects = np.asarray(rects, dtype=np.float64).reshape(-1, 4)
    scores = np.zeros(len(rects)) if scores is None else np.asarray(scores, dtype=np.float64).reshape(-1)
    xyxy = np.stack([rects[:, 0] - 1, rects[:, 1] - 1,
                     rects[:, 0] + rects[:, 2], rects[:, 1] + rects[:, 3]], axis=1)
    boxes, obj = _finish_boxes(xyxy, scores, scale, (W, H), n if nms_iou is None else 2 * n + 16)
    if nms_iou is not None and len(boxes):
        from torchvision.ops import nms

        keep = nms(torch.from_numpy(boxes).double(), torch.from_numpy(obj).double(), float(nms_iou))
        keep = keep[:n].numpy()
        boxes, obj = boxes[keep], obj[keep]
    note = "" if len(boxes) else "EdgeBoxes found no box scoring above min_score"
    return Proposals(torch.from_numpy(boxes), torch.from_numpy(obj), source, (W, H), note, params)


# ------------------------------------------------------------------------------------------
# selective search
# ------------------------------------------------------------------------------------------
def _seed_c_rand(seed: int) -> bool:
    """Seed the C library's ``rand()``, which OpenCV's selective search uses to rank regions."""
    try:
        libc = ctypes.CDLL(None)
        libc.srand(ctypes.c_uint(seed))
        return True
    except (OSError, AttributeError, TypeError):  # pragma: no cover - non-POSIX platforms
        return False


def selective_search(
    image: ImageLike,
    n: int = 100,
    *,
    mode: str = "fast",
    max_side: int | None = 500,
    min_box_area: float = 1000.0,
    base_k: int = 150,
    inc_k: int = 150,
    sigma: float = 0.8,
    seed: int | None = 0,
    num_threads: int | None = 1,
) -> Proposals:
    """Selective search proposals (Uijlings et al. 2013) as a second source for Sun2016 step 1.

    ``mode``: ``"fast"`` (HSV + Lab, three graph-segmentation scales, two strategy mixes) or
    ``"quality"`` (five colour spaces, five scales, four mixes; much slower), i.e.
    ``switchToSelectiveSearchFast/Quality(base_k, inc_k, sigma)``; ``"single"`` is one HSV
    segmentation with ``k=base_k``. Images whose longer side exceeds ``max_side`` are downscaled
    (area interpolation) first and the boxes mapped back, rounded outward.

    Objectness: selective search has no score. OpenCV returns the unique boxes ordered by
    ``rank = U(0, 1) x level``, with ``level`` counted from the initial segments (its note says
    this is inverted from the paper), so earlier boxes tend to be lower in the hierarchy. The
    objectness used here is rank-based: ``1 - r / N_total`` for the box at 0-based position
    ``r`` of that order among all ``N_total`` boxes OpenCV returned (before ``min_box_area`` and
    ``n`` are applied): the first box scores 1, the last ``1 / N_total``. It is an order, not
    evidence of an object: treat Obj from this source with care. The ``U(0, 1)`` comes from the C
    library's ``rand()``: ``seed`` seeds it (``srand``) before the call so the output is
    deterministic (``None``: leave it, the order then varies between calls; this touches the
    process-wide ``rand()`` state).

    ``min_box_area`` (default 1000, as EdgeBoxes'): drop smaller boxes, in pixels at the working
    resolution (longer side at most ``max_side``), like :func:`edge_boxes`; without it the first
    boxes of OpenCV's order are mostly tiny initial segments. ``num_threads``: OpenCV threads
    during the call (restored after). At most ``n`` boxes.
    """
    rgb = to_rgb_array(image)
    H, W = rgb.shape[:2]
    params = dict(n=n, mode=mode, max_side=max_side, min_box_area=min_box_area, base_k=base_k,
                  inc_k=inc_k, sigma=sigma, seed=seed)
    if mode not in ("fast", "quality", "single"):
        raise UnknownNameError(f"unknown selective search mode {mode!r}; valid: 'fast', 'quality', 'single'")
    source = f"selective_search/{mode}"
    if n <= 0:
        return _empty(source, (W, H), "n <= 0", params)
    small, scale = downscale(rgb, max_side)
    bgr = np.ascontiguousarray(small[:, :, ::-1])
    with _cv_threads(num_threads):
        ss = cv2.ximgproc.segmentation.createSelectiveSearchSegmentation()
        ss.setBaseImage(bgr)
        if mode == "fast":
            ss.switchToSelectiveSearchFast(int(base_k), int(inc_k), float(sigma))
        elif mode == "quality":
            ss.switchToSelectiveSearchQuality(int(base_k), int(inc_k), float(sigma))
        else:
            ss.switchToSingleStrategy(int(base_k), float(sigma))
        if seed is not None:
            _seed_c_rand(int(seed))
        rects = ss.process()
    rects = np.asarray(rects, dtype=np.float64).reshape(-1, 4)
    total = len(rects)
    if total == 0:
        return _empty(source, (W, H), "selective search returned no region", params)
    scores = 1.0 - np.arange(total, dtype=np.float64) / total
    xyxy = np.concatenate([rects[:, :2], rects[:, :2] + rects[:, 2:]], axis=1)
    big = rects[:, 2] * rects[:, 3] >= min_box_area
    boxes, obj = _finish_boxes(xyxy[big], scores[big], scale, (W, H), n)
    note = "" if len(boxes) else f"no selective search box of at least {min_box_area} px"
    params["n_total"] = total
    return Proposals(torch.from_numpy(boxes), torch.from_numpy(obj), source, (W, H), note, params)


# ------------------------------------------------------------------------------------------
# registry
# ------------------------------------------------------------------------------------------
_PROPOSERS: dict[str, Callable[..., Proposals]] = {}


def register_proposer(name: str):
    """Decorator: register ``fn(image, n, **kw) -> Proposals`` under ``name`` for :func:`propose`."""

    def wrap(fn):
        _PROPOSERS[name] = fn
        return fn

    return wrap


register_proposer("edgeboxes")(edge_boxes)
register_proposer("selective_search")(selective_search)


def list_proposers() -> list[str]:
    return sorted(_PROPOSERS)


def filter_sides(props: Proposals, min_side: float = 0.0, max_side: float | None = None,
                 max_aspect: float | None = None) -> Proposals:
    """Keep the proposals whose sides lie in ``[min_side, max_side]`` pixels and whose aspect ratio
    ``max(w, h) / min(w, h)`` is at most ``max_aspect`` (Yang et al. TMM 2018: sides 28–500 px,
    aspect ≤ 6). ``None`` switches a bound off; the order (by objectness) is kept."""
    if min_side < 0 or (max_side is not None and max_side < min_side):
        raise ValueError(f"need 0 <= min_side <= max_side, got min_side={min_side}, max_side={max_side}")
    if max_aspect is not None and max_aspect < 1:
        raise ValueError(f"max_aspect must be >= 1, got {max_aspect}")
    if len(props) == 0:
        return props
    w = props.boxes[:, 2] - props.boxes[:, 0]
    h = props.boxes[:, 3] - props.boxes[:, 1]
    keep = (torch.minimum(w, h) >= min_side)
    if max_side is not None:
        keep &= torch.maximum(w, h) <= max_side
    if max_aspect is not None:
        keep &= torch.maximum(w, h) <= max_aspect * torch.minimum(w, h)
    note = props.note if bool(keep.any()) else (props.note or f"no proposal with sides in [{min_side}, {max_side}] px")
    return replace(props, boxes=props.boxes[keep].clone(), objectness=props.objectness[keep].clone(),
                   note=note, params={**props.params, "min_side": min_side, "max_side": max_side,
                                      "max_aspect": max_aspect})


def cluster_proposals(props: Proposals, n_clusters: int = 20, iou: float = 0.5) -> Proposals:
    """Group redundant proposals into at most ``n_clusters`` candidates (Yang et al. TMM 2018 preset).

    The journal version clusters its 2000 objectness boxes "into 20 candidates" without printing the
    rule; our reading, greedy IoU clustering in objectness order: the best unassigned box opens a
    cluster and every unassigned box overlapping it with IoU ≥ ``iou`` joins it (as in NMS, but the
    suppressed boxes are kept as members). A cluster's candidate box is the objectness-weighted mean
    of its members' boxes (uniform if all weights are 0), its objectness the cluster's best score.
    The first ``n_clusters`` clusters opened (the best-scored) are kept, in that order.
    """
    from torchvision.ops import box_iou

    if n_clusters < 1:
        raise ValueError(f"n_clusters must be >= 1, got {n_clusters}")
    if not 0.0 < iou <= 1.0:
        raise ValueError(f"iou must lie in (0, 1], got {iou}")
    if len(props) == 0:
        return props
    order = torch.argsort(props.objectness, descending=True, stable=True)
    boxes, scores = props.boxes[order].double(), props.objectness[order].double()
    overlap = box_iou(boxes, boxes)
    free = torch.ones(len(boxes), dtype=torch.bool)
    out_boxes, out_scores = [], []
    for i in range(len(boxes)):
        if len(out_boxes) == n_clusters:
            break
        if not free[i]:
            continue
        members = free & (overlap[i] >= iou)
        members[i] = True
        free &= ~members
        w = scores[members].clamp(min=0)
        w = w / w.sum() if float(w.sum()) > 0 else torch.full_like(w, 1.0 / len(w))
        out_boxes.append((boxes[members] * w[:, None]).sum(0))
        out_scores.append(scores[i])
    return replace(props, boxes=torch.stack(out_boxes).float(), objectness=torch.stack(out_scores).float(),
                   params={**props.params, "n_clusters": n_clusters, "cluster_iou": iou})


def propose(image: ImageLike, method: str = "edgeboxes", n: int = 100, **kw) -> Proposals:
    """Proposals of ``image`` from a registered source (``"edgeboxes"`` or ``"selective_search"``);
    keyword arguments go to that source's function."""
    if method not in _PROPOSERS:
        raise UnknownNameError(
            f"unknown proposal method {method!r}; valid methods: {', '.join(list_proposers())}"
        )
    return _PROPOSERS[method](image, n, **kw)


__all__ = [
    "Proposals", "STRUCTURED_EDGE_MODEL_URL", "cluster_proposals", "edge_boxes", "filter_sides",
    "gradient_edges", "list_proposers",
    "propose", "register_proposer", "selective_search", "structured_edges", "to_rgb_array",
]
