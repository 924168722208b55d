"""Datasets, labels, evaluation protocols and image opening.

``load_dataset(name, data_root=None, **options)`` loads a registered dataset into an
``ImageDataset`` (one row per image); ``make_splits(dataset)`` draws the splits of its
protocol; ``open_image(path)`` opens any benchmark image as RGB by content. A folder holding
``vsalib_labels.csv`` (``path,label``) under the data root is a dataset too (:mod:`vsalib.data.own`). Importing
this package does not import torch (``ImageTableDataset`` builds on first use).
"""

from vsalib.data.images import (
    DatasetLayoutError,
    MissingImagesError,
    UnreadableImageError,
    check_images,
    content_hash,
    open_image,
)
from vsalib.data.registry import (
    DatasetNotFoundError,
    ImageDataset,
    Protocol,
    UnknownNameError,
    is_available,
    list_datasets,
    load_dataset,
)
from vsalib.data.own import register_own_dataset
from vsalib.data.splits import Split, make_splits, per_category_kfold, twin_leakage, ungrouped_kfold

__all__ = [
    "DatasetLayoutError",
    "DatasetNotFoundError",
    "ImageDataset",
    "ImageTableDataset",
    "MissingImagesError",
    "Protocol",
    "Split",
    "UnknownNameError",
    "UnreadableImageError",
    "check_images",
    "content_hash",
    "is_available",
    "list_datasets",
    "load_dataset",
    "make_splits",
    "open_image",
    "register_own_dataset",
    "twin_leakage",
    "per_category_kfold",
    "ungrouped_kfold",
]


def __getattr__(name: str):
    # ImageTableDataset subclasses torch's Dataset: import torch only when it is asked for.
    if name == "ImageTableDataset":
        from vsalib.data import images

        return images.ImageTableDataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
