"""Twitter I (You et al., AAAI 2015) and Twitter II (Borth et al., ACM MM 2013).

Twitter I layout (``<data root>/twitter1/``)::

    images/<name>.jpg
    ground_truth/twitter_five_agrees.txt     "<file name> <label>" per line, 1 = positive
    ground_truth/twitter_four_agrees.txt     at least four of five workers agree
    ground_truth/twitter_three_agrees.txt    at least three agree (all 1269 images)

Columns: ``path, label, group, name, agree`` — ``agree`` is 5, 4 or 3 (the strictest
file that lists the image) and ``group`` the SHA-1 of the file bytes, so byte-identical
retweets (13 pairs in the published data) stay on one side of every split.

Twitter II layout (``<data root>/twitter2/``)::

    partition1/ .. partition5/<id>.jpg      (some ".jpg" are GIF or PNG: opened by content)
    groundTruthLabel.txt                    tab separated, header, CRLF, more rows than images

Columns: ``path, label, group, name, image_id, partition``. Rows without an image are
dropped (counted in ``info``); images without a row are an error. The five partition
folders are the published folds: ``make_splits`` uses them (``info['fold_column']``); a missing
or empty partition folder is an error (it would silently drop a fold).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from vsalib.data.images import (
    DatasetLayoutError,
    IMAGE_EXTENSIONS,
    content_hash,
    describe_list,
    list_image_files,
    require_files,
)
from vsalib.data.registry import ImageDataset, Protocol, UnknownNameError, register_dataset
from vsalib.emotions import BINARY_CLASSES

TWITTER1_FILES = {
    "five": ("twitter_five_agrees.txt", 5),
    "four": ("twitter_four_agrees.txt", 4),
    "three": ("twitter_three_agrees.txt", 3),
}
TWITTER1_PROTOCOL = Protocol(
    "kfold", k=5,
    note="You et al. 2015 (and Sun2016): 5-fold CV on each agreement subset, mean accuracy; "
    "vsalib's folds are stratified and grouped by content hash (byte-identical retweets).",
)
TWITTER2_PROTOCOL = Protocol(
    "kfold", k=5,
    note="Borth et al. 2013 publish five partition folders; vsalib uses them as the 5 folds "
    "(make_splits(..., fold_column=None) draws grouped stratified folds instead).",
)
TWITTER2_LABEL_FILE = "groundTruthLabel.txt"
_POSITIVE = {"1", "+1", "positive", "pos"}
_NEGATIVE = {"-1", "0", "negative", "neg"}
_LABEL_HEADER = re.compile(r"label|sentiment|polarity|class", re.IGNORECASE)


@register_dataset(
    "twitter1",
    folder="twitter1",
    marker="ground_truth/twitter_five_agrees.txt",
    how_to_get=(
        "Download Twitter I (You et al., AAAI 2015, 'Robust image sentiment analysis using "
        "progressively trained and domain transferred deep networks') and place images/ and "
        "ground_truth/ (twitter_{five,four,three}_agrees.txt) in a folder named twitter1."
    ),
    description="Twitter I: 1269 tweeted images, AMT polarity with 5/4/3-agree subsets (882/1116/1269).",
    options={"subset": tuple(TWITTER1_FILES)},
)
def load_twitter1(root: Path, subset: str = "five") -> ImageDataset:
    """Twitter I, one agreement subset: five (882), four (1116) or three (1269) agree."""
    if subset not in TWITTER1_FILES:
        raise UnknownNameError(f"twitter1: subset={subset!r} is not valid; valid values: {', '.join(TWITTER1_FILES)}")
    levels = list(TWITTER1_FILES)[: list(TWITTER1_FILES).index(subset) + 1]  # strictest first
    label_files = [root / "ground_truth" / TWITTER1_FILES[s][0] for s in levels]
    tables = [read_twitter1_labels(f) for f in label_files]
    table = tables[-1].copy()  # the requested subset, in its file's order
    table["agree"] = _agreement(table, tables, [TWITTER1_FILES[s][1] for s in levels], label_files)
    table["path"] = [str(root / "images" / n) for n in table["name"]]
    require_files(table["path"], label_files[-1], "twitter1")
    table["group"] = [content_hash(p) for p in table["path"]]
    return ImageDataset(
        name="twitter1",
        table=table[["path", "label", "group", "name", "agree"]].reset_index(drop=True),
        classes=list(BINARY_CLASSES),
        root=root,
        protocol=TWITTER1_PROTOCOL,
        info={
            "subset": subset,
            "label_files": [str(f) for f in label_files],
            "twin_groups": int((table["group"].value_counts() > 1).sum()),
        },
    )


def read_twitter1_labels(path: Path) -> pd.DataFrame:
    """Parse a Twitter I ``<file name> <0|1>`` file into columns ``name, label``."""
    if not path.is_file():
        raise FileNotFoundError(f"Twitter I label file {path} is missing (expected beside twitter_five_agrees.txt)")
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or parts[1] not in ("0", "1"):
            raise DatasetLayoutError(
                f"{path}, line {lineno}: expected '<file name> <0|1>', got {line!r}"
            )
        rows.append((parts[0], int(parts[1])))
    if not rows:
        raise DatasetLayoutError(
            f"{path} has no rows (the file is empty or blank); expected one '<file name> <0|1>' line per image"
        )
    table = pd.DataFrame(rows, columns=["name", "label"])
    dupes = table["name"][table["name"].duplicated()].tolist()
    if dupes:
        raise DatasetLayoutError(f"{path} lists these images more than once: {describe_list(dupes)}")
    return table


def _agreement(table, tables, levels, files) -> list[int]:
    """Highest agreement level whose file lists each image; labels must agree across files."""
    agree = pd.Series(levels[-1], index=table["name"])
    labels = table.set_index("name")["label"]
    for other, level, path in zip(tables[:-1], levels[:-1], files[:-1]):
        other = other.set_index("name")["label"]
        common = other.index.intersection(labels.index)
        conflict = common[other[common] != labels[common]]
        if len(conflict):
            raise DatasetLayoutError(
                f"{path} and {files[-1]} give different labels to {describe_list(conflict)}"
            )
        unlisted = other.index.difference(labels.index)
        if len(unlisted):
            raise DatasetLayoutError(
                f"{path} lists images that {files[-1]} lacks (the subsets must be nested): "
                f"{describe_list(unlisted)}"
            )
        agree[common] = agree[common].clip(lower=level)
    return agree.loc[table["name"]].astype(int).tolist()


@register_dataset(
    "twitter2",
    folder="twitter2",
    marker=TWITTER2_LABEL_FILE,
    how_to_get=(
        "Download the Twitter image benchmark of Borth et al. (ACM MM 2013, SentiBank) and place "
        "its partition1..partition5 folders and groundTruthLabel.txt in a folder named twitter2."
    ),
    description="Twitter II: 603 tweeted images (470 positive / 133 negative) in five partitions.",
    options={},
)
def load_twitter2(root: Path) -> ImageDataset:
    """Twitter II: images in ``partition1..5``, labels in ``groundTruthLabel.txt``."""
    label_file = root / TWITTER2_LABEL_FILE
    labels = read_twitter2_labels(label_file)
    images = _twitter2_images(root)
    known = images["image_id"].isin(labels.index)
    if not known.all():
        raise DatasetLayoutError(
            f"twitter2: {int((~known).sum())} image(s) have no row in {label_file}: "
            f"{describe_list(images.loc[~known, 'path'])}. Add their labels or remove the files."
        )
    table = images.assign(label=labels.loc[images["image_id"]].to_numpy())
    table["group"] = [content_hash(p) for p in table["path"]]
    without_image = sorted(set(labels.index) - set(images["image_id"]), key=_id_sort_key)
    return ImageDataset(
        name="twitter2",
        table=table[["path", "label", "group", "name", "image_id", "partition"]].reset_index(drop=True),
        classes=list(BINARY_CLASSES),
        root=root,
        protocol=TWITTER2_PROTOCOL,
        info={
            "label_file": str(label_file),
            "label_rows": int(len(labels)),
            "rows_without_image": len(without_image),
            "rows_without_image_ids": without_image[:50],
            "fold_column": "partition",
            "twin_groups": int((table["group"].value_counts() > 1).sum()),
        },
    )


def read_twitter2_labels(path: Path) -> pd.Series:
    """Parse ``groundTruthLabel.txt``: Series image_id → 1 (positive) / 0 (negative).

    Tolerant of CRLF, a BOM, a header line, tab/comma/space separators, ids with or
    without extension or folder, and labels ``1``/``-1``/``0`` or ``positive``/``negative``.
    The label column is the one whose header says label/sentiment/polarity/class, else the
    last; the id column is the first.
    """
    lines = [ln for ln in path.read_text(encoding="utf-8-sig").splitlines() if ln.strip()]
    if not lines:
        raise DatasetLayoutError(f"{path} is empty; expected '<image id>\\t<label>' rows")
    rows = [_split_fields(ln) for ln in lines]
    label_col = len(rows[0]) - 1
    if _parse_label(rows[0][label_col]) is None:  # a header line
        named = [i for i, h in enumerate(rows[0]) if i > 0 and _LABEL_HEADER.search(h)]
        label_col = named[0] if named else label_col
        rows, first_line = rows[1:], 2
    else:
        first_line = 1
    ids, labels = [], []
    for lineno, fields in enumerate(rows, first_line):
        value = _parse_label(fields[label_col]) if len(fields) > label_col else None
        if value is None:
            raise DatasetLayoutError(
                f"{path}, line {lineno}: expected an image id and a label (1 / -1 / 0 / positive / "
                f"negative) in column {label_col + 1}, got {fields!r}"
            )
        ids.append(normalize_image_id(fields[0]))
        labels.append(value)
    return _dedupe_labels(pd.Series(labels, index=ids, dtype="int64"), path)


def _split_fields(line: str) -> list[str]:
    sep = "\t" if "\t" in line else ("," if "," in line else None)
    return [f.strip().strip("'\"") for f in line.split(sep)]


def _parse_label(value: str) -> int | None:
    key = value.strip().lower()
    if key in _POSITIVE:
        return 1
    if key in _NEGATIVE:
        return 0
    return None


def _dedupe_labels(labels: pd.Series, path: Path) -> pd.Series:
    dup = labels.index.duplicated(keep=False)
    if dup.any():
        conflicting = labels[dup].groupby(level=0).nunique()
        bad = conflicting[conflicting > 1].index.tolist()
        if bad:
            raise DatasetLayoutError(f"{path} gives conflicting labels to image ids {describe_list(bad)}")
    return labels[~labels.index.duplicated()]


def normalize_image_id(value: str) -> str:
    """``'partition2\\\\0042.jpg'`` → ``'42'``: basename, image extension dropped, digits unpadded."""
    name = str(value).strip().strip("'\"").replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, ext = name.rpartition(".")
    if dot and "." + ext.lower() in IMAGE_EXTENSIONS:
        name = stem
    return str(int(name)) if name.isdigit() else name


def _id_sort_key(value: str):
    return (0, int(value), "") if value.isdigit() else (1, 0, value)


def _twitter2_images(root: Path) -> pd.DataFrame:
    folders = sorted(
        (d for d in root.iterdir() if d.is_dir() and re.fullmatch(r"partition\d+", d.name, re.IGNORECASE)),
        key=lambda d: int(d.name[len("partition"):]),
    )
    if not folders:
        raise DatasetLayoutError(f"twitter2: no partition1..partition{TWITTER2_PROTOCOL.k} folders in {root}")
    found = {int(d.name[len("partition"):]) for d in folders}
    missing = [f"partition{i}" for i in range(1, TWITTER2_PROTOCOL.k + 1) if i not in found]
    if missing:
        raise DatasetLayoutError(
            f"twitter2: partition folder(s) {', '.join(missing)} missing from {root} (found "
            f"{', '.join(d.name for d in folders)}); the {TWITTER2_PROTOCOL.k} partition folders are the "
            "published folds, so restore the missing ones from the original download"
        )
    rows = [
        (str(p), p.name, normalize_image_id(p.name), int(d.name[len("partition"):]))
        for d in folders
        for p in list_image_files(d)
    ]
    images = pd.DataFrame(rows, columns=["path", "name", "image_id", "partition"])
    empty = [d.name for d in folders if int(d.name[len("partition"):]) not in set(images["partition"])]
    if empty and not images.empty:
        raise DatasetLayoutError(
            f"twitter2: partition folder(s) {', '.join(str(root / n) for n in empty)} hold no images; "
            "each partition folder is one of the published folds"
        )
    dupes = images["image_id"][images["image_id"].duplicated()].unique().tolist()
    if dupes:
        raise DatasetLayoutError(f"twitter2: image ids found in more than one file: {describe_list(dupes)}")
    if images.empty:
        raise DatasetLayoutError(f"twitter2: the partition folders in {root} hold no images")
    return images
