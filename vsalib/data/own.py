"""Your own dataset: a folder of images and one CSV, found by name like the published benchmarks.

The layout::

    <data root>/<name>/
        vsalib_labels.csv      path,label[,group][,split]
        images/...             any layout: ``path`` is relative to the CSV's folder (or absolute)

- ``path``: the image file (JPEG, PNG, ... read by content, whatever the extension says); a relative path
  must stay inside the CSV's folder (one whose ``..`` climbs out is refused before any file is opened, so a
  shared dataset cannot read outside itself); an absolute path is taken as written;
- ``label``: the class, a name (``negative``/``positive``, or any names: sorted, with
  ``negative`` before ``positive``) or an integer index 0..K-1 without gaps; names and indices are not
  mixed, and two names that are one name misspelt (``positve`` beside ``positive``) are refused;
- ``group`` (optional): images that must stay on one side of every split (near-duplicates, the same
  photographer, ...); default: each image its own group;
- ``split`` (optional): ``train``/``val``/``test`` for a fixed split; without it, the chapters draw
  seeded, stratified 5-fold cross-validation (the Twitter protocol).

Every folder under the data root (``data_root=``, ``$VSALIB_DATA``, the default locations) that holds
``vsalib_labels.csv`` is registered as dataset ``<name>`` the first time the registry is asked, so
``load_dataset("<name>")`` and ``papermill notebooks/<chapter>.ipynb out.ipynb -p dataset <name>``
work with no code. :func:`register_own_dataset` registers a CSV anywhere else, in-process.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from vsalib.data.images import DatasetLayoutError, describe_list, require_files
from vsalib.data.registry import ImageDataset, Protocol, register_discoverer

LABELS_CSV = "vsalib_labels.csv"
REQUIRED = ("path", "label")
SPLITS = ("train", "val", "test")


def read_own_table(csv_path: str | os.PathLike, name: str) -> tuple[pd.DataFrame, list[str]]:
    """The table (``path`` absolute, ``label`` an index, ``group``, ``split`` where given) and the
    class names of an own-dataset CSV; errors name the file, the row and what was expected."""
    csv_path = Path(csv_path)
    try:
        raw = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DatasetLayoutError(f"{name}: cannot read {csv_path} as a CSV ({err})") from err
    raw.columns = [c.strip() for c in raw.columns]
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise DatasetLayoutError(f"{name}: {csv_path} has no column {', '.join(map(repr, missing))}; expected a header "
                                 f"'path,label' (optional: group, split), got {list(raw.columns)}")
    if not len(raw):
        raise DatasetLayoutError(f"{name}: {csv_path} lists no images (a header and no rows)")
    empty = raw.index[(raw["path"].str.strip() == "") | (raw["label"].str.strip() == "")]
    if len(empty):
        raise DatasetLayoutError(f"{name}: {csv_path} has an empty path or label on data row(s) "
                                 f"{describe_list([i + 2 for i in empty])} (line numbers, header = 1)")
    folder = Path(os.path.abspath(csv_path.parent))
    paths = raw["path"].str.strip()
    outside = [i for i, p in paths.items() if not os.path.isabs(p) and not _inside(folder, p)]
    if outside:  # refused before any listed file is opened or even looked up
        raise DatasetLayoutError(
            f"{name}: {csv_path} lists path(s) that leave the dataset's folder {folder}: data row(s) "
            f"{describe_list([f'{i + 2} ({paths[i]!r})' for i in outside])} (line numbers, header = 1); expected a "
            "path relative to that folder that stays inside it, or an absolute path")
    idx, classes = _label_indices(raw["label"].str.strip(), csv_path, name)
    table = pd.DataFrame({"path": [str(p if os.path.isabs(p) else (folder / p)) for p in paths],
                          "label": idx.astype(np.int64)})
    table["group"] = raw["group"].str.strip().to_numpy() if "group" in raw.columns else table["path"]
    if "split" in raw.columns:
        split = raw["split"].str.strip().str.lower()
        bad = raw.index[~split.isin(SPLITS)]
        if len(bad):
            raise DatasetLayoutError(f"{name}: {csv_path} column 'split' must be one of {', '.join(SPLITS)}; data "
                                     f"row(s) {describe_list([i + 2 for i in bad])} say "
                                     f"{describe_list(sorted(set(raw.loc[bad, 'split'])))}")
        table["split"] = split.to_numpy()
    dup = raw["path"].str.strip()[table["path"].duplicated()]
    if len(dup):
        raise DatasetLayoutError(f"{name}: {csv_path} lists {describe_list(sorted(set(dup)))} more than once")
    require_files(table["path"], csv_path, name)
    return table, classes


def _inside(folder: Path, relative: str) -> bool:
    """Whether ``folder / relative`` stays inside ``folder`` once its ``..`` are resolved (by text: no file is
    looked up, so a path that climbs out is refused before it is touched)."""
    target = os.path.normpath(os.path.join(folder, relative))
    return os.path.commonpath([str(folder), target]) == str(folder)


#: Two class names this alike (difflib's ratio, after case-folding) are taken for one name misspelt.
NEAR_DUPLICATE_RATIO = 0.8


def _near_duplicates(names: list[str]) -> list[tuple[str, str]]:
    """Pairs of class names that are one name written two ways: equal after case-folding and stripping, or
    alike by :data:`NEAR_DUPLICATE_RATIO` (``positve``/``positive``); names that differ only in their digits
    (``class1``/``class2``) are distinct."""
    from difflib import SequenceMatcher
    from itertools import combinations

    pairs = []
    for a, b in combinations(names, 2):
        fa, fb = a.casefold().strip(), b.casefold().strip()
        if re.sub(r"\d", "", fa) == re.sub(r"\d", "", fb) and fa != fb:
            continue
        if fa == fb or SequenceMatcher(None, fa, fb).ratio() >= NEAR_DUPLICATE_RATIO:
            pairs.append((a, b))
    return pairs


def _label_indices(labels: pd.Series, csv_path: Path, name: str) -> tuple[np.ndarray, list[str]]:
    """The class index of each row and the class names: integer indices 0..K-1, or names (sorted, negative
    before positive). Refuses integer labels with gaps, names mixed with integers and two names that are one name
    misspelt, giving the count of every label."""
    counts = labels.value_counts()
    listed = ", ".join(f"{label}: {n}" for label, n in counts.items())
    numeric = labels.str.fullmatch(r"\d+")
    if numeric.all():
        idx = labels.astype(int).to_numpy()
        missing = sorted(set(range(int(idx.max()) + 1)) - set(idx.tolist()))
        if missing:
            raise DatasetLayoutError(
                f"{name}: {csv_path} column 'label' uses the indices {describe_list(sorted(set(idx.tolist())))} but "
                f"no image has {describe_list(missing)}; expected integer labels 0..K-1 without gaps (each index a "
                f"class with images) or class names. Labels: {listed}")
        classes = [str(i) for i in range(int(idx.max()) + 1)]
    elif numeric.any():
        raise DatasetLayoutError(
            f"{name}: {csv_path} column 'label' mixes integer indices and names "
            f"({describe_list(sorted(set(labels[numeric])))} beside {describe_list(sorted(set(labels[~numeric])))}), "
            f"which would make two classes of one meaning; expected either names or indices throughout. Labels: "
            f"{listed}")
    else:
        classes = sorted(set(labels), key=lambda c: (c != "negative", c != "positive", c))
        alike = _near_duplicates(classes)
        if alike:
            shown = ", ".join(f"{a!r} and {b!r}" for a, b in alike)
            raise DatasetLayoutError(
                f"{name}: {csv_path} column 'label' has names that look like one name written two ways: {shown}; "
                f"expected each class spelt one way (correct the spelling of the rarer one). Labels: {listed}")
        idx = labels.map({c: i for i, c in enumerate(classes)}).to_numpy()
    if len(set(idx.tolist())) < 2:
        raise DatasetLayoutError(f"{name}: {csv_path} has a single class ({classes[int(idx[0])]!r}); a sentiment "
                                 f"dataset needs at least two")
    return idx, classes


def load_own(root: Path, *, name: str, csv_name: str = LABELS_CSV) -> ImageDataset:
    """Load an own dataset from ``root/csv_name`` (see the module docstring)."""
    table, classes = read_own_table(root / csv_name, name)
    protocol = Protocol("fixed", note="the CSV's split column") if "split" in table.columns else \
        Protocol("kfold", k=5, note="stratified 5-fold cross-validation, grouped by the CSV's group column")
    return ImageDataset(name, table, classes, root, protocol, info={"labels_csv": str(root / csv_name)})


def register_own_dataset(name: str, csv_path: str | os.PathLike, *, description: str = "") -> None:
    """Register the CSV at ``csv_path`` (layout: the module docstring) as dataset ``name``."""
    from vsalib.data.registry import register_dataset

    csv_path = Path(csv_path).expanduser().resolve()
    if not csv_path.is_file():
        raise FileNotFoundError(f"{name}: no labels CSV at {csv_path}; write one with the columns path,label")

    def loader(root: Path) -> ImageDataset:
        return load_own(root, name=name, csv_name=csv_path.name)

    loader.__doc__ = f"Own dataset {name!r}: the images listed in {csv_path.name}."
    register_dataset(name, folder=str(csv_path.parent), marker=csv_path.name,
                     how_to_get=f"Write {csv_path} with the columns path,label (see vsalib.data.own).",
                     description=description or f"your own dataset, from {csv_path.name}", options={},
                     own=True)(loader)


@register_discoverer
def discover(roots) -> list[str]:
    """Register every ``<root>/<name>/vsalib_labels.csv`` under ``roots`` whose name is not taken;
    returns the names registered now."""
    from vsalib.data.registry import _REGISTRY

    found = []
    for root in roots:
        root = Path(root)
        if not root.is_dir():
            continue
        for csv_path in sorted(root.glob(f"*/{LABELS_CSV}")):
            name = csv_path.parent.name
            if name in _REGISTRY:
                continue  # a published benchmark keeps its name; the first root that holds a name wins
            register_own_dataset(name, csv_path)
            found.append(name)
    return found


__all__ = ["LABELS_CSV", "discover", "load_own", "read_own_table", "register_own_dataset"]
