"""The hand-crafted baselines of WSIDNet's Table 1 and Rao et al.'s Table 3: colour histograms + a linear SVM.

Both tables quote them from Siersdorfer et al. (ACM MM 2010); WSIDNet's text says what they are:

- **GCH** (records ``gch``): "64-bin RGB histogram" of the whole image. We read 64 bins as 4 levels per
  channel (4³ = 64): a pixel of 8-bit value v falls in level ``⌊v · 4 / 256⌋`` of each channel, and its bin
  is ``16 r + 4 g + b``; the histogram is divided by the pixel count (it sums to 1).
- **LCH** (records ``lch``): "divide the image into 16 blocks and calculate a 64-bin RGB histogram for each
  block": a 4 × 4 grid of near-equal blocks (``numpy.array_split`` of the rows and of the columns), one
  normalised GCH per block, concatenated block by block, row-major (1,024 values).

The classifier is a linear SVM (scikit-learn's ``LinearSVC``, squared hinge loss, L2 penalty) on the
standardised histograms, its C chosen on the fold's validation part from a grid (the first of equals); the
images are read at their stored size (Emotion6 / EmotionROI are downscaled here to ≤ 384 px, which moves a
histogram little: it counts fractions of pixels). Each is a parameter: ``levels``, ``grid``, ``c_grid``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vsalib import provenance
from vsalib.methods.base import Fold, LinearOnFeatures, Method, register_method

#: Bump when a change here changes the numbers of ``gch`` / ``lch`` records (say what changed).
VERSIONS = {
    "gch": provenance.declare_method("gch", 1, changes={
        1: "first version: 4 levels per RGB channel (64 bins), linear SVM on the standardised histogram, C on validation"}),
    "lch": provenance.declare_method("lch", 1, changes={
        1: "first version: 64-bin RGB histograms of a 4 × 4 grid of blocks, linear SVM, C on validation"}),
}

C_GRID = (0.001, 0.01, 0.1, 1.0, 10.0)


def rgb_histogram(pixels: np.ndarray, levels: int = 4) -> np.ndarray:
    """The normalised ``levels³``-bin RGB histogram of ``pixels`` (H × W × 3, uint8): bin ``levels² r + levels g + b``
    of the quantised channels ``⌊v · levels / 256⌋``; sums to 1."""
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise ValueError(f"expected an H × W × 3 uint8 RGB array, got shape {pixels.shape} and dtype {pixels.dtype}")
    if pixels.shape[0] * pixels.shape[1] == 0:
        raise ValueError("an empty image (or block) has no colour histogram")
    q = (pixels.astype(np.int64) * levels) // 256
    bins = (q[..., 0] * levels + q[..., 1]) * levels + q[..., 2]
    return np.bincount(bins.ravel(), minlength=levels ** 3) / bins.size


def local_histograms(pixels: np.ndarray, levels: int = 4, grid: int = 4) -> np.ndarray:
    """LCH: the image cut into ``grid × grid`` near-equal blocks, one :func:`rgb_histogram` per block,
    concatenated row-major (``grid² · levels³`` values)."""
    if min(pixels.shape[:2]) < grid:
        raise ValueError(f"an image of {pixels.shape[1]} × {pixels.shape[0]} px cannot be cut into {grid} × {grid} blocks")
    rows = np.array_split(np.arange(pixels.shape[0]), grid)
    cols = np.array_split(np.arange(pixels.shape[1]), grid)
    return np.concatenate([rgb_histogram(pixels[r[0]:r[-1] + 1, c[0]:c[-1] + 1], levels) for r in rows for c in cols])


def histogram_features(paths, kind: str, levels: int = 4, grid: int = 4, progress: bool = False) -> np.ndarray:
    """GCH (``kind="gch"``) or LCH (``"lch"``) of every image in ``paths``, one row each."""
    from vsalib.data import open_image
    from vsalib.progress import tqdm

    if kind not in ("gch", "lch"):
        raise ValueError(f"kind={kind!r} is not valid; valid: gch, lch")
    out = []
    for p in tqdm(list(paths), desc=f"{kind.upper()} features", disable=not progress):
        px = np.asarray(open_image(p).convert("RGB"))
        out.append(rgb_histogram(px, levels) if kind == "gch" else local_histograms(px, levels, grid))
    return np.stack(out)


@dataclass(frozen=True)
class HistogramConfig:
    """Levels per RGB channel (4: 64 bins), LCH's grid (4 × 4 blocks), the linear SVM's C grid."""

    levels: int = 4
    grid: int = 4
    c_grid: tuple[float, ...] = C_GRID

    def __post_init__(self):
        if not (isinstance(self.levels, int) and 2 <= self.levels <= 256):
            raise ValueError(f"levels must be an int in [2, 256], got {self.levels!r}")
        if not (isinstance(self.grid, int) and self.grid >= 1):
            raise ValueError(f"grid must be an int >= 1, got {self.grid!r}")
        if not self.c_grid or any(c <= 0 for c in self.c_grid):
            raise ValueError(f"c_grid must hold positive numbers, got {self.c_grid!r}")


def _svm(c: float):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    return make_pipeline(StandardScaler(), LinearSVC(C=c, max_iter=20000))


class _ColourHistogram(LinearOnFeatures, Method):
    """A colour histogram of every image (computed once per dataset) and a linear SVM whose C is chosen on the
    fold's validation part; one record per fold, with its test predictions."""

    name = ""
    Config = HistogramConfig

    def __init__(self, config=None, *, progress: bool = True, **settings):
        super().__init__(config, **settings)
        self.progress = progress
        self._feats: dict[tuple, np.ndarray] = {}

    def params(self) -> dict:
        c = self.config
        p = {"levels": c.levels, "classifier": "linear-svm", "c_grid": list(c.c_grid)}
        return p | ({"grid": c.grid} if self.name == "lch" else {})

    def features(self, fold: Fold) -> np.ndarray:
        paths = fold.all_paths()
        key = (fold.dataset_name, len(paths), paths[0], paths[-1])
        if key not in self._feats:
            self._feats[key] = histogram_features(paths, self.name, self.config.levels, self.config.grid, self.progress)
        return self._feats[key]

    def make_classifier(self, c: float):
        return _svm(c)


@register_method
class GlobalColourHistogram(_ColourHistogram):
    """GCH: the 64-bin RGB histogram of the whole image + a linear SVM (records ``gch``)."""

    name = "gch"
    version = VERSIONS["gch"]


@register_method
class LocalColourHistogram(_ColourHistogram):
    """LCH: 64-bin RGB histograms of a 4 × 4 grid of blocks, concatenated, + a linear SVM (records ``lch``)."""

    name = "lch"
    version = VERSIONS["lch"]


METHODS = {"gch": GlobalColourHistogram, "lch": LocalColourHistogram}


def run_histograms(dataset, splits, *, subset: str | None = None, store: ResultStore | None = None,
                   kinds=("gch", "lch"), progress: bool = True, **config) -> list[Record]:
    """GCH and LCH on every split (:func:`vsalib.methods.base.run`; folds already stored are read back)."""
    from vsalib.methods.base import run

    unknown = sorted(set(kinds) - set(METHODS))
    if unknown:
        raise ValueError(f"unknown histogram kind(s) {unknown}; valid: {', '.join(METHODS)}")
    out = []
    for kind in kinds:
        out += run(METHODS[kind](progress=progress, **config), dataset, splits, subset=subset, store=store,
                   progress=False)
    return out


__all__ = ["C_GRID", "GlobalColourHistogram", "HistogramConfig", "LocalColourHistogram", "METHODS",
           "histogram_features", "local_histograms", "rgb_histogram", "run_histograms"]
