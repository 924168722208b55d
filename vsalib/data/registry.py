"""Dataset registry: every dataset is registered by name and loaded by ``load_dataset``.

A loader is a function ``loader(root: Path, **options) -> ImageDataset``; it is
registered with ``@register_dataset(name, folder=..., marker=..., how_to_get=...)``.
``load_dataset(name, data_root=None, **options)`` finds the dataset's folder under the
data root, checks that the marker file exists, calls the loader and checks its images
(``vsalib.data.images.verify_dataset_images``: every file fully decoded on the first load, files
found clean cached with their size and mtime under ``<cache>/image_checks``; generated datasets
are not checked).

The data root is, in this order: the ``data_root`` argument, the ``VSALIB_DATA``
environment variable, ``../shared/datasets`` beside the repository (the project's
development layout), ``~/vsalib_data``; none but ``data_root`` while ``VSALIB_NO_DATASETS=1``.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from vsalib.errors import DatasetNotFoundError, UnknownNameError  # noqa: F401  (re-exported)

DATA_ENV = "VSALIB_DATA"
#: Set to 1: no dataset is found unless ``data_root`` is passed, as on a machine without them (the book's build and
#: the test run's notebooks use it to run as a fresh clone does, whatever lies beside the repository).
NO_DATA_ENV = "VSALIB_NO_DATASETS"
_REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Protocol:
    """How a dataset is evaluated in the papers.

    kind: ``"kfold"`` (k-fold CV, ``k`` folds), ``"fixed"`` (a fixed train/test split
    given by the table's ``split`` column), or ``"ratio"`` (a seeded random split with
    ``ratios`` = (train, test, val) fractions).
    """

    kind: str
    k: int = 5
    ratios: tuple[float, float, float] = (0.75, 0.20, 0.05)
    note: str = ""


@dataclass
class ImageDataset:
    """A loaded dataset: one row per image.

    ``table`` columns, always present:
      - ``path``: absolute path of the image file (str)
      - ``label``: int class index into ``classes``
      - ``group``: grouping key for splits (images with the same group never straddle a
        train/test boundary; defaults to the image's own id)
    Loaders add what their dataset has (``emotion``, ``valence``, ``arousal``,
    ``p_<emotion>`` distributions, ``split``, ``agree``, boxes, ...).
    """

    name: str
    table: pd.DataFrame
    classes: list[str]
    root: Path
    protocol: Protocol
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.table)

    @property
    def labels(self):
        return self.table["label"].to_numpy()

    @property
    def paths(self) -> list[str]:
        return self.table["path"].tolist()

    def class_counts(self) -> dict[str, int]:
        counts = self.table["label"].value_counts().to_dict()
        return {c: int(counts.get(i, 0)) for i, c in enumerate(self.classes)}


@dataclass
class DatasetSpec:
    name: str
    loader: Callable[..., ImageDataset]
    folder: str
    marker: str
    how_to_get: str
    description: str = ""
    options: dict = field(default_factory=dict)  # option name -> tuple of valid values (or None)
    needs_files: bool = True
    own: bool = False  # a reader's own dataset (vsalib.data.own), not a published benchmark


_REGISTRY: dict[str, DatasetSpec] = {}


def register_dataset(
    name: str,
    *,
    folder: str,
    marker: str,
    how_to_get: str,
    description: str = "",
    options: dict | None = None,
    needs_files: bool = True,
    own: bool = False,
):
    """Decorator: register ``loader(root, **options) -> ImageDataset`` under ``name``."""

    def wrap(fn):
        _REGISTRY[name] = DatasetSpec(
            name, fn, folder, marker, how_to_get, description, dict(options or {}), needs_files, own
        )
        return fn

    return wrap


def list_datasets(data_root: str | os.PathLike | None = None) -> list[str]:
    """Every registered dataset, with the own datasets (``vsalib_labels.csv`` folders) under the data root."""
    _import_loaders(data_root)
    return sorted(_REGISTRY)


def dataset_spec(name: str, data_root: str | os.PathLike | None = None) -> DatasetSpec:
    _import_loaders(data_root)
    if name not in _REGISTRY:
        raise UnknownNameError(
            f"unknown dataset {name!r}; valid names: {', '.join(sorted(_REGISTRY))}"
        )
    return _REGISTRY[name]


def candidate_roots(data_root: str | os.PathLike | None = None) -> list[Path]:
    """Where vsalib looks for datasets, in order."""
    if data_root is not None:
        return [Path(data_root).expanduser()]
    if os.environ.get(NO_DATA_ENV) == "1":
        return []
    roots = []
    if os.environ.get(DATA_ENV):
        roots.append(Path(os.environ[DATA_ENV]).expanduser())
    roots.append(_REPO_ROOT.parent / "shared" / "datasets")
    roots.append(Path.home() / "vsalib_data")
    return roots


def find_dataset_dir(name: str, data_root: str | os.PathLike | None = None) -> Path:
    """The folder of dataset ``name`` (the first candidate root that holds its marker)."""
    spec = dataset_spec(name, data_root)
    looked = []
    for root in candidate_roots(data_root):
        d = root / spec.folder
        looked.append(d / spec.marker)
        if (d / spec.marker).exists():
            return d
    where = "; ".join(str(p) for p in looked)
    if data_root is not None and not Path(data_root).expanduser().is_dir():
        given = Path(data_root).expanduser()
        problem = "is a file, not a folder" if given.exists() else "does not exist"
        raise DatasetNotFoundError(
            f"dataset {name!r} not found: data_root {str(data_root)!r} {problem} (looked for {where}). "
            f"Pass data_root= the folder that holds {spec.folder}/, or leave it unset to use "
            f"{DATA_ENV} or the default locations. {spec.how_to_get}"
        )
    env = os.environ.get(DATA_ENV)
    env_note = ""
    if data_root is None and os.environ.get(NO_DATA_ENV) == "1":
        raise DatasetNotFoundError(f"dataset {name!r} not found: {NO_DATA_ENV}=1 hides every data root (unset it, "
                                   f"or pass data_root=). {spec.how_to_get}")
    if data_root is None and env and not Path(env).expanduser().is_dir():
        env_note = f" ({DATA_ENV}={env!r} does not exist)"
    raise DatasetNotFoundError(
        f"dataset {name!r} not found: looked for {where}{env_note}. {spec.how_to_get} "
        f"Then set {DATA_ENV}=<folder holding {spec.folder}/> or pass data_root=."
    )


def is_available(name: str, data_root: str | os.PathLike | None = None) -> bool:
    spec = dataset_spec(name, data_root)
    if not spec.needs_files:
        return True
    try:
        find_dataset_dir(name, data_root)
        return True
    except DatasetNotFoundError:
        return False


def load_dataset(name: str, data_root: str | os.PathLike | None = None, **options) -> ImageDataset:
    """Load a registered dataset by name; options are checked against the loader's.

    Raises ``UnreadableImageError`` naming every image file (or ``*_path`` file, e.g. a stimuli map) that
    does not fully decode, and warns (``SmallImageWarning``) about images under ``MIN_IMAGE_SIDE`` px. The
    check decodes every image on the first load only (about 1-2 ms per image); later loads decode only
    files that are new or changed since (by size and mtime), so a dataset's subsets share one check.
    Generated datasets (``needs_files=False``: the synthetic scenes, written by vsalib into a folder
    that is renamed into place when complete) are not checked.
    """
    spec = dataset_spec(name, data_root)
    for key, value in options.items():
        if key not in spec.options:
            valid = ", ".join(sorted(spec.options)) or "none"
            raise UnknownNameError(f"dataset {name!r} has no option {key!r}; valid options: {valid}")
        allowed = spec.options[key]
        if allowed is not None and value not in allowed:
            raise UnknownNameError(
                f"dataset {name!r}: {key}={value!r} is not valid; valid values: "
                + ", ".join(repr(v) for v in allowed)
            )
    root = find_dataset_dir(name, data_root) if spec.needs_files else Path(data_root or ".")
    ds = spec.loader(root, **options)
    if spec.needs_files:
        from vsalib.data.images import verify_dataset_images

        others = [p for c in ds.table.columns if str(c).endswith("_path") for p in ds.table[c].dropna()]
        verify_dataset_images(name, ds.paths, others, root=ds.root)
    # Remember its fingerprint and image ids for the provenance of the records written about it.
    from vsalib.data.fingerprint import note_dataset

    note_dataset(ds, options.get("subset", options.get("labels")))
    return ds


#: Functions that register the datasets they find under the candidate roots (``own.discover``: every folder
#: with a ``vsalib_labels.csv``); a module adds its own with :func:`register_discoverer` when imported.
_DISCOVERERS: list[Callable[[list[Path]], object]] = []


def register_discoverer(fn: Callable[[list[Path]], object]) -> Callable[[list[Path]], object]:
    """Add ``fn(roots)``, called with the candidate data roots before any dataset is listed or loaded."""
    if fn not in _DISCOVERERS:
        _DISCOVERERS.append(fn)
    return fn


@functools.cache
def _import_loader_modules() -> None:
    """Import every module of this package once: importing one registers its loaders (a new loader is found by
    being here, not by an import list)."""
    import importlib
    import pkgutil

    for m in pkgutil.iter_modules([str(Path(__file__).parent)]):
        importlib.import_module(f"{__package__}.{m.name}")


def _import_loaders(data_root: str | os.PathLike | None = None) -> None:
    # The loader modules (once), then the discoverers: what they find under the data roots, on every call.
    _import_loader_modules()
    roots = candidate_roots(data_root)
    for discover in _DISCOVERERS:
        discover(roots)


def dataset_overview(data_root: str | os.PathLike | None = None) -> pd.DataFrame:
    """One row per registered dataset: where it is looked for, whether it is here, its protocol."""
    rows = []
    for name in list_datasets(data_root):
        spec = dataset_spec(name, data_root)
        available = is_available(name, data_root)
        rows.append({
            "dataset": name,
            "description": spec.description,
            "folder": spec.folder if spec.needs_files else "(generated)",
            "available": available,
            "options": ", ".join(f"{k}={'|'.join(map(str, v))}" for k, v in spec.options.items() if v),
        })
    return pd.DataFrame(rows)


def dataset_layouts() -> pd.DataFrame:
    """The published layout every benchmark loader reads, taken from its registration and docstring
    (so that the book's appendix cannot drift from the code): folder under the data root, the file
    that marks it, what the loader reads, where to get it, its options."""
    rows = []
    for name in list_datasets():
        spec = dataset_spec(name)
        if not spec.needs_files or spec.own:
            continue
        doc = " ".join((spec.loader.__doc__ or "").strip().split("\n\n")[0].split())
        rows.append({"dataset": name, "folder": f"{spec.folder}/", "marker file": spec.marker,
                     "what the loader reads": doc, "how to get it": spec.how_to_get,
                     "options": ", ".join(f"{k} = {' | '.join(map(str, v))}" for k, v in spec.options.items() if v)})
    return pd.DataFrame(rows)
