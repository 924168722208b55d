"""Evaluation protocols: seeded, stratified, group-aware train/val/test splits.

``make_splits(dataset)`` follows the dataset's ``Protocol``:

- ``kfold``: ``StratifiedGroupKFold(k, shuffle=True, random_state=seed)`` over
  ``table['group']`` (byte-identical images never straddle train/test), or the
  dataset's published folds (``fold_column``, e.g. Twitter II's ``partition``);
- ``fixed``: the table's ``split`` column (``train``/``test``, optionally ``val``);
- ``ratio``: a seeded stratified random split with ``ratios`` = (train, test, val).

In kfold and fixed protocols a validation part of ``val_fraction`` is carved from each
training part, stratified by label and keeping groups whole. ``ungrouped_kfold`` gives
the plain ``StratifiedKFold`` the papers used, and ``twin_leakage`` measures how many
test images have a content twin in training under a set of splits.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from vsalib.data.registry import ImageDataset, Protocol
from vsalib.errors import SmallClassWarning, UnknownNameError  # noqa: F401  (re-exported)

PROTOCOL_KINDS = ("kfold", "fixed", "ratio")
AUTO = "auto"


@dataclass
class Split:
    """One train/val/test partition of a dataset's rows (positional indices into its table).

    ``fold``/``n_folds``: which fold of how many (0/1 for fixed and ratio splits);
    ``seed``: the seed that drew it; ``kind``: how it was made; ``grouped``: whether
    groups were kept whole.
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    fold: int = 0
    n_folds: int = 1
    seed: int = 0
    kind: str = "kfold"
    grouped: bool = True

    def __post_init__(self) -> None:
        for name in ("train", "val", "test"):
            setattr(self, name, np.sort(np.asarray(getattr(self, name), dtype=np.int64)))

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}

    def check(self, n: int) -> None:
        """Raise ``ValueError`` if parts overlap or an index lies outside ``[0, n)``."""
        parts = {"train": self.train, "val": self.val, "test": self.test}
        for name, idx in parts.items():
            if idx.size and (idx.min() < 0 or idx.max() >= n):
                raise ValueError(f"split {self.fold}: {name} has indices outside [0, {n})")
        for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
            common = np.intersect1d(parts[a], parts[b])
            if common.size:
                raise ValueError(f"split {self.fold}: {a} and {b} share {common.size} rows, e.g. {common[:5]}")


def make_splits(
    dataset: ImageDataset,
    protocol: Protocol | None = None,
    seed: int = 0,
    val_fraction: float = 0.1,
    fold_column: str | None = AUTO,
) -> list[Split]:
    """Splits of ``dataset`` under ``protocol`` (default: the dataset's own).

    ``val_fraction``: share of each training part held out for validation in kfold and
    fixed protocols (ratio protocols take val from ``protocol.ratios``).
    ``fold_column``: for kfold, a table column whose values are published folds;
    ``"auto"`` uses ``dataset.info['fold_column']`` when the loader sets one (Twitter II's
    ``partition``), ``None`` always draws grouped stratified folds.
    """
    protocol = dataset.protocol if protocol is None else protocol
    labels, groups = _labels_and_groups(dataset)
    _check_seed(seed)
    _check_fraction(val_fraction, "val_fraction")
    if protocol.kind not in PROTOCOL_KINDS:
        raise UnknownNameError(
            f"protocol kind {protocol.kind!r} is not valid; valid kinds: {', '.join(PROTOCOL_KINDS)}"
        )
    if protocol.kind == "kfold":
        column = dataset.info.get("fold_column") if fold_column == AUTO else fold_column
        if column is not None:
            return _predefined_folds(dataset, column, labels, groups, seed, val_fraction)
        _check_class_sizes(dataset, labels, groups, protocol.k)
        return _grouped_kfold(labels, groups, protocol.k, seed, val_fraction)
    if protocol.kind == "fixed":
        return [_fixed_split(dataset, labels, groups, seed, val_fraction)]
    return [_ratio_split(labels, groups, protocol.ratios, seed)]


def ungrouped_kfold(
    dataset: ImageDataset, k: int | None = None, seed: int = 0, val_fraction: float = 0.1
) -> list[Split]:
    """Plain seeded ``StratifiedKFold`` ignoring groups: what the papers used.

    ``k`` defaults to the dataset protocol's ``k`` (5 when the protocol is not kfold).
    Compare with ``make_splits`` through ``twin_leakage``.
    """
    labels, _ = _labels_and_groups(dataset)
    _check_seed(seed)
    _check_fraction(val_fraction, "val_fraction")
    k = (dataset.protocol.k if dataset.protocol.kind == "kfold" else 5) if k is None else k
    _check_k(k, len(labels), "images")
    own = np.arange(len(labels))
    folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(own, labels)
    splits = []
    for fold, (rest, test) in enumerate(folds):
        train, val = _carve_val(rest, labels, own, val_fraction, seed, fold)
        splits.append(Split(train, val, test, fold, k, seed, "kfold-ungrouped", grouped=False))
    return splits


def per_category_kfold(
    dataset: ImageDataset, column: str = "emotion", k: int = 5, seed: int = 0, val_fraction: float = 0.1
) -> list[Split]:
    """Rao et al.'s protocol for the small sets: *each category split randomly into k batches*, one batch of every
    category forming a fold's test part: k folds stratified by ``column`` (EmotionROI's six emotions, not the
    binary label), twins kept together. The folds' protocol is ``kfold<k>-per-<column>``, so that their records
    never mix with the label-stratified folds'."""
    if column not in dataset.table.columns:
        raise ValueError(f"{dataset.name!r} has no column {column!r} to split per category; "
                         f"columns: {list(dataset.table.columns)}")
    labels, groups = _labels_and_groups(dataset)
    _check_seed(seed)
    _check_fraction(val_fraction, "val_fraction")
    _check_k(k, len(np.unique(groups)), "groups")
    categories, names = pd.factorize(dataset.table[column])
    _check_class_sizes(dataset, categories, groups, k, [str(n) for n in names], f"category ({column})")
    cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    splits = []
    for fold, (rest, test) in enumerate(cv.split(np.zeros(len(labels)), categories, groups)):
        train, val = _carve_val(rest, labels, groups, val_fraction, seed, fold)
        splits.append(Split(train, val, test, fold, k, seed, f"kfold{k}-per-{column}"))
    return splits


def twin_leakage(dataset: ImageDataset, splits: list[Split]) -> float:
    """Fraction of test images (pooled over ``splits``) whose group has a member in train.

    Groups are content twins (e.g. byte-identical retweets): with grouped splits this is
    0; with ungrouped folds it measures how many test images were, in effect, seen.
    """
    if not splits:
        raise ValueError("twin_leakage needs at least one split")
    _, groups = _labels_and_groups(dataset)
    leaked = total = 0
    for split in splits:
        train_groups = set(groups[split.train].tolist())
        leaked += sum(g in train_groups for g in groups[split.test].tolist())
        total += len(split.test)
    return leaked / total if total else 0.0


# --- protocols ---------------------------------------------------------------------------


def _class_names(dataset: ImageDataset, labels: np.ndarray) -> list[str]:
    classes = list(getattr(dataset, "classes", []) or [])
    return classes if len(classes) > int(labels.max(initial=0)) else [str(i) for i in range(int(labels.max(initial=0)) + 1)]


def _check_class_sizes(dataset: ImageDataset, labels: np.ndarray, groups: np.ndarray, k: int,
                       names: list[str] | None = None, what: str = "class") -> None:
    """Before any split is drawn: refuse a class held by a single group (the fold that tests it would train a
    model that never saw it, and the error would come from deep inside training, naming neither dataset nor
    fold), and warn where a class has fewer groups than the ``k`` folds (some test parts cannot hold it)."""
    names = names or _class_names(dataset, labels)
    sizes = {names[int(c)]: (int((labels == c).sum()), len(np.unique(groups[labels == c]))) for c in np.unique(labels)}
    described = lambda items: "; ".join(f"{n!r}: {i} image(s) in {g} group(s)" for n, (i, g) in items)  # noqa: E731
    single = [(n, v) for n, v in sizes.items() if v[1] < 2]
    if single:
        raise ValueError(f"dataset {dataset.name!r}: {k}-fold cross-validation needs at least 2 groups of every "
                         f"{what} (images of one group stay together), so that every fold trains on it; too small: "
                         f"{described(single)}. Add images to it, merge it into another {what}, or give the CSV a "
                         "split column")
    few = [(n, v) for n, v in sizes.items() if v[1] < k]
    if few:
        import warnings

        warnings.warn(f"dataset {dataset.name!r}: {described(few)}, fewer groups than the {k} folds: some folds' test "
                      f"parts hold none of that {what}'s images (more images, or fewer folds with -p folds, avoid it)",
                      SmallClassWarning, stacklevel=3)


def _grouped_kfold(labels, groups, k, seed, val_fraction) -> list[Split]:
    _check_k(k, len(np.unique(groups)), "groups")
    cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    splits = []
    for fold, (rest, test) in enumerate(cv.split(np.zeros(len(labels)), labels, groups)):
        train, val = _carve_val(rest, labels, groups, val_fraction, seed, fold)
        splits.append(Split(train, val, test, fold, k, seed, "kfold"))
    return splits


def _predefined_folds(dataset, column, labels, groups, seed, val_fraction) -> list[Split]:
    if column not in dataset.table.columns:
        raise ValueError(
            f"fold_column {column!r} is not a column of {dataset.name!r}; columns: {list(dataset.table.columns)}"
        )
    values = dataset.table[column].to_numpy()
    folds = sorted(pd.unique(values))
    if len(folds) < 2:
        raise ValueError(f"fold_column {column!r} of {dataset.name!r} has {len(folds)} value(s); need >= 2 folds")
    splits = []
    for fold, value in enumerate(folds):
        test = np.flatnonzero(values == value)
        rest = np.flatnonzero(values != value)
        train, val = _carve_val(rest, labels, groups, val_fraction, seed, fold)
        splits.append(Split(train, val, test, fold, len(folds), seed, f"kfold-{column}"))
    return splits


def _fixed_split(dataset, labels, groups, seed, val_fraction) -> Split:
    if "split" not in dataset.table.columns:
        raise ValueError(
            f"dataset {dataset.name!r} has a fixed protocol but no 'split' column; "
            "its loader must set split to 'train'/'test' (or use a kfold/ratio Protocol)"
        )
    split = dataset.table["split"].astype(str).str.lower().to_numpy()
    unknown = sorted(set(split) - {"train", "val", "test"})
    if unknown:
        raise ValueError(f"dataset {dataset.name!r}: split column has values {unknown}; expected train/val/test")
    train, test = np.flatnonzero(split == "train"), np.flatnonzero(split == "test")
    if not train.size or not test.size:
        raise ValueError(f"dataset {dataset.name!r}: fixed split needs both train and test rows")
    names = _class_names(dataset, labels)
    absent = [f"{names[c]!r} (train {int((labels[train] == c).sum())}, test {int((labels[test] == c).sum())})"
              for c in np.unique(labels) if not (labels[train] == c).any() or not (labels[test] == c).any()]
    if absent:
        raise ValueError(f"dataset {dataset.name!r}: its split column leaves class(es) {', '.join(absent)} out of the "
                         "training or the test part; expected every class in both (move some of its images, or "
                         "drop the split column for cross-validation)")
    if (split == "val").any():
        val = np.flatnonzero(split == "val")
    else:
        train, val = _carve_val(train, labels, groups, val_fraction, seed, 0)
    return Split(train, val, test, 0, 1, seed, "fixed")


def _ratio_split(labels, groups, ratios, seed) -> Split:
    ratios = tuple(float(r) for r in ratios)
    if len(ratios) != 3 or min(ratios) < 0 or not np.isclose(sum(ratios), 1.0):
        raise ValueError(f"ratios must be three non-negative fractions (train, test, val) summing to 1; got {ratios}")
    if ratios[0] == 0 or ratios[1] == 0:
        raise ValueError(f"ratios need a non-zero train and test share; got {ratios}")
    rng = np.random.default_rng(seed)
    train, test, val = _stratified_group_partition(np.arange(len(labels)), labels, groups, ratios, rng)
    if not train.size or not test.size:
        raise ValueError(f"ratios {ratios} leave train or test empty on {len(labels)} images")
    return Split(train, val, test, 0, 1, seed, "ratio")


# --- helpers -----------------------------------------------------------------------------


def _carve_val(rest, labels, groups, val_fraction, seed, fold):
    """Split ``rest`` into (train, val), stratified, groups whole, seeded by (seed, fold)."""
    rest = np.asarray(rest)
    if val_fraction == 0:
        return rest, np.array([], dtype=np.int64)
    rng = np.random.default_rng([seed, fold])
    train, val = _stratified_group_partition(rest, labels, groups, (1 - val_fraction, val_fraction), rng)
    return train, val


def _stratified_group_partition(idx, labels, groups, fractions, rng) -> list[np.ndarray]:
    """Partition rows ``idx`` into len(fractions) parts, stratified by label, groups whole.

    Each group is assigned to the stratum of its most common label (ties: smallest label).
    Within a stratum the groups are shuffled and laid end to end; a group goes to the part
    whose share of the stratum's images contains the group's midpoint.
    """
    idx = np.asarray(idx)
    frame = pd.DataFrame({"row": idx, "label": labels[idx], "group": groups[idx]})
    sizes = frame.groupby("group", sort=True).size()
    counts = frame.groupby(["group", "label"]).size().rename("n").reset_index()
    counts = counts.sort_values(["group", "n", "label"], ascending=[True, False, True], kind="stable")
    stratum = counts.drop_duplicates("group").set_index("group")["label"].sort_index()
    bounds = np.cumsum(fractions)
    part_of_group: dict = {}
    for _, members in stratum.groupby(stratum, sort=True):
        names = members.index.to_numpy()[rng.permutation(len(members))]
        counts = sizes.loc[names].to_numpy()
        mid = np.cumsum(counts) - counts / 2.0
        parts = np.searchsorted(bounds * counts.sum(), mid, side="right")
        part_of_group.update(zip(names.tolist(), np.minimum(parts, len(fractions) - 1).tolist()))
    assigned = frame["group"].map(part_of_group).to_numpy()
    return [np.sort(idx[assigned == p]) for p in range(len(fractions))]


def _labels_and_groups(dataset: ImageDataset) -> tuple[np.ndarray, np.ndarray]:
    table = dataset.table
    missing = {"label", "group"} - set(table.columns)
    if missing:
        raise ValueError(f"dataset {dataset.name!r} table lacks column(s) {sorted(missing)} needed for splits")
    if len(table) < 2:
        raise ValueError(f"dataset {dataset.name!r} has {len(table)} image(s); need at least 2 to split")
    return table["label"].to_numpy(), table["group"].astype(str).to_numpy()


def _check_seed(seed) -> None:
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32); got {seed!r}")


def _check_fraction(value, name: str) -> None:
    if not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a number in [0, 1); got {value!r}")


def _check_k(k, available: int, what: str) -> None:
    if not isinstance(k, numbers.Integral) or isinstance(k, bool) or k < 2:
        raise ValueError(f"k must be an integer >= 2; got {k!r}")
    if k > available:
        raise ValueError(f"k={k} folds need at least {k} {what}; the dataset has {available}")
