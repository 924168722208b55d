"""The errors and warnings vsalib raises, on the bottom floor: this module imports nothing of vsalib, so any
module may raise them without importing the module that first needed them (the backbones no longer import
the dataset registry for :class:`UnknownNameError`). Each is re-exported where users met it first
(``vsalib.data.registry.UnknownNameError`` and the like still work)."""

from __future__ import annotations


class UnknownNameError(ValueError):
    """A name (dataset, backbone, method, parameter value) is not among the registered ones."""


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's folder or marker file is not where vsalib looked."""


class UnreadableImageError(ValueError):
    """An image file is missing, truncated, corrupt or not an image at all."""


class MissingImagesError(FileNotFoundError):
    """A label file lists images that are not on disk."""


class DatasetLayoutError(ValueError):
    """A dataset's files are inconsistent (unknown class, unlabelled image, bad line...)."""


class SmallImageWarning(UserWarning):
    """A dataset holds images whose shorter side is below ``MIN_IMAGE_SIDE`` pixels."""


class SmallClassWarning(UserWarning):
    """A class has fewer groups than folds: some folds' test parts hold none of its images."""


class FoldMismatchError(ValueError):
    """A model (or record) was paired with a fold it was not made for."""


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights for a backbone could not be loaded."""
