"""Emotion6 (Peng et al., CVPR 2015) and EmotionROI (Peng et al., ICIP 2016): the same 1980 images.

Emotion6 layout (``<data root>/emotion6/``)::

    images/<emotion>/<n>.jpg      emotion in anger, disgust, fear, joy, sadness, surprise; n = 1..330
    ground_truth.txt              tab separated, header: image, valence, arousal, 7 probabilities

``emotion6`` columns: ``path, label, group, image, emotion, number, valence, arousal,
p_anger .. p_neutral`` (+ ``dominant`` for ``labels="dominant_binary"``). Labels:

- ``binary`` (default): folder mapping, joy/surprise positive (660 / 1320) — WSIDNet,
  Rao et al., and R-CNNGSR's own Table 1 counts;
- ``emotion``: the 6 Ekman folders;
- ``dominant_binary``: R-CNNGSR's text — dominant emotion of the distribution, neutral
  dropped, ties to the first column (742 / 913, 325 dropped on the published file).

Protocol: R-CNNGSR's seeded random split, 75 % train / 20 % test / 5 % validation.

``emotionroi`` reads the same ``emotion6`` folder (EmotionROI's images are Emotion6's,
labelled by folder); there is no separate ``emotionroi`` folder to keep in step. From
EmotionROI's own download, copy ``ground_truth/<emotion>/<n>.jpg`` (the emotion-stimuli
maps) and/or ``training_testing_split/{training,testing}.txt`` into ``emotion6/``: maps
add a ``stimuli_path`` column, split files set ``split``. Without split files, images
1–231 of each emotion are ``train`` (1386) and 232–330 ``test`` (594), the usual split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from vsalib.data.images import (
    DatasetLayoutError,
    describe_list,
    list_image_files,
    require_files,
)
from vsalib.data.labels import (
    EKMAN_EMOTIONS,
    EMOTION6_PROB_COLUMNS,
    ekman_to_binary,
    emotion6_dominant,
    emotion_labels,
    normalize_emotion,
)
from vsalib.data.registry import ImageDataset, Protocol, register_dataset
from vsalib.emotions import BINARY_CLASSES

GROUND_TRUTH = "ground_truth.txt"
EMOTIONROI_TRAIN_MAX = 231  # images 1..231 of each emotion train, 232..330 test
EMOTIONROI_SPLIT_DIR = "training_testing_split"
EMOTIONROI_MAPS_DIR = "ground_truth"
PROBABILITY_SUM_TOLERANCE = 0.05
"""How far a row's 7 probabilities may sum from 1. Measured on the published ground_truth.txt (1980
rows, values rounded to 6 digits): sums 0.9999983 to 1.0000014, at most 1.7e-6 from 1, so 0.05 leaves a
margin of about 30 000. It also accepts values re-rounded to two decimals (at most 7 x 0.005 = 0.035
off) and still refuses a row that lost or gained a value, such as one summing to 0.8 or 1.3."""
EMOTION6_PROTOCOL = Protocol(
    "ratio", ratios=(0.75, 0.20, 0.05),
    note="R-CNNGSR: random 75 % train / 20 % test / 5 % validation (repeats not reported).",
)
EMOTIONROI_PROTOCOL = Protocol(
    "fixed",
    note="EmotionROI's split: images 1-231 of each emotion train (1386), 232-330 test (594).",
)
_HOW_TO_GET = (
    "Download Emotion6 (Peng et al., CVPR 2015, 'A Mixed Bag of Emotions'; Cornell) and place "
    "its images/ folder and ground_truth.txt in a folder named emotion6."
)


@register_dataset(
    "emotion6",
    folder="emotion6",
    marker=GROUND_TRUTH,
    how_to_get=_HOW_TO_GET,
    description="Emotion6: 1980 Flickr images, 6 Ekman folders, valence/arousal and 7-way emotion votes.",
    options={"labels": ("binary", "emotion", "dominant_binary")},
)
def load_emotion6(root: Path, labels: str = "binary") -> ImageDataset:
    """Emotion6 with folder-binary, 6-emotion or dominant-emotion-binary labels."""
    table = read_emotion6_ground_truth(root)
    info: dict = {"labels": labels, "ground_truth": str(root / GROUND_TRUTH)}
    if labels == "dominant_binary":
        table, classes, info["dominant"] = _dominant_labels(table)
    else:
        table, classes = emotion_labels(table, labels, EKMAN_EMOTIONS, ekman_to_binary)
    columns = ["path", "label", "group", "image", "emotion", "number", "valence", "arousal",
               *EMOTION6_PROB_COLUMNS] + (["dominant"] if "dominant" in table else [])
    return ImageDataset("emotion6", table[columns].reset_index(drop=True), classes, root,
                        EMOTION6_PROTOCOL, info)


def read_emotion6_ground_truth(root: Path) -> pd.DataFrame:
    """Parse ``ground_truth.txt``; check every listed image exists and every image is listed."""
    path = root / GROUND_TRUTH
    expected = 3 + len(EMOTION6_PROB_COLUMNS)
    try:
        # Blank lines are kept (as empty rows, dropped below) so that row i is line i + 2.
        raw = pd.read_csv(path, sep="\t", header=0, dtype={0: str}, skip_blank_lines=False)
    except pd.errors.EmptyDataError:
        raise DatasetLayoutError(
            f"{path} is empty; expected a header line and one tab-separated row per image "
            "(image, valence, arousal, 7 probabilities)"
        ) from None
    except pd.errors.ParserError as err:  # a line with more fields than the header
        raise DatasetLayoutError(
            f"{path}: {str(err).strip()}; expected {expected} tab-separated fields on every line "
            "(image, valence, arousal, 7 probabilities)"
        ) from None
    if raw.shape[1] != expected:
        raise DatasetLayoutError(
            f"{path}: expected {expected} tab-separated columns (image, valence, arousal, 7 probabilities); "
            f"found {raw.shape[1]}: {list(raw.columns)}"
        )
    header = [str(c) for c in raw.columns]
    raw.columns = ["image", "valence", "arousal", *EMOTION6_PROB_COLUMNS]
    raw.index = raw.index + 2  # the file's line numbers (the header is line 1)
    missing = raw.apply(_is_missing)
    blank = missing.all(axis=1)
    raw, missing = raw[~blank], missing[~blank]  # blank or whitespace-only lines
    if raw.empty:
        raise DatasetLayoutError(
            f"{path} has no rows (only its header line); expected one tab-separated row per image "
            "(image, valence, arousal, 7 probabilities)"
        )
    _refuse_missing_values(missing, header, path)
    table = _folder_columns(raw["image"].str.strip().tolist(), root, str(path))
    for col, name in zip(raw.columns[1:], header[1:]):
        table[col] = _numeric_column(raw[col], path, col, name)
    table.index = raw.index
    _refuse_bad_sums(table, header, path)
    table = table.reset_index(drop=True)
    require_files(table["path"], path, "emotion6")
    unlisted = sorted(set(_image_names(root)) - set(table["image"]))
    if unlisted:
        raise DatasetLayoutError(
            f"emotion6: {len(unlisted)} image(s) under {root / 'images'} have no row in {path}: "
            f"{describe_list(unlisted)}"
        )
    return table


def _is_missing(values: pd.Series) -> pd.Series:
    """True where a field is absent (a short row) or empty / whitespace only."""
    if pd.api.types.is_numeric_dtype(values):  # parsed as numbers: only NaN can be missing
        return values.isna()
    return values.isna() | values.astype(str).str.strip().eq("")


def _refuse_missing_values(missing: pd.DataFrame, header: list[str], path: Path) -> None:
    """Raise naming every line with an empty field or too few fields (``missing``: one bool per field)."""
    lines = missing.index[missing.any(axis=1)].tolist()
    if not lines:
        return
    fields = _fields_per_line(path)
    expected = len(header)
    items = []
    for line in lines:
        cols = " and ".join(repr(header[j]) for j in np.flatnonzero(missing.loc[line].to_numpy()))
        n = fields.get(line, expected)
        if n < expected:
            items.append(f"line {line} ({n} of {expected} fields: column(s) {cols} missing)")
        else:
            items.append(f"line {line} (column(s) {cols} empty)")
    raise DatasetLayoutError(
        f"{path}: {len(lines)} line(s) lack a value: {describe_list(items)}; expected {expected} "
        "tab-separated fields on every line, none empty: image, valence, arousal and 7 probabilities"
    )


def _fields_per_line(path: Path) -> dict[int, int]:
    """Number of tab-separated fields on each line of ``path`` (line 1 = the header)."""
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    return {i: len(line.rstrip("\r").split("\t")) for i, line in enumerate(text.split("\n"), start=1)}


def _numeric_column(values: pd.Series, path: Path, column: str, header: str) -> np.ndarray:
    """``values`` as float64; a value that is missing or not a finite number is an error naming its line and
    column."""
    missing = _is_missing(values)
    if missing.any():
        lines = missing[missing].index.tolist()
        raise DatasetLayoutError(
            f"{path}, line(s) {describe_list(lines)}, column {column!r} (header {header!r}): no value (an "
            "empty field or a short row); expected a decimal number such as 0.25"
        )
    numbers = pd.to_numeric(values, errors="coerce")
    bad = ~np.isfinite(numbers.to_numpy(dtype=np.float64))
    if bad.any():
        lines = values.index[bad].tolist()
        more = f" ({len(lines)} such values, on lines {describe_list(lines)})" if len(lines) > 1 else ""
        raise DatasetLayoutError(
            f"{path}, line {lines[0]}, column {column!r} (header {header!r}): "
            f"{str(values[lines[0]]).strip()!r} is not a number; expected a decimal number such as 0.25{more}"
        )
    return numbers.to_numpy(dtype=np.float64)


def _refuse_bad_sums(table: pd.DataFrame, header: list[str], path: Path) -> None:
    """Raise naming every line whose 7 probabilities do not sum to 1 (± ``PROBABILITY_SUM_TOLERANCE``)."""
    sums = table[list(EMOTION6_PROB_COLUMNS)].sum(axis=1)
    bad = sums[(sums - 1.0).abs() > PROBABILITY_SUM_TOLERANCE]
    if bad.empty:
        return
    first, last = header[3], header[3 + len(EMOTION6_PROB_COLUMNS) - 1]
    items = [f"line {line} (sum {s:.6g})" for line, s in bad.items()]
    raise DatasetLayoutError(
        f"{path}: the 7 probabilities (columns {first!r} to {last!r}) of {len(bad)} line(s) do not sum to 1: "
        f"{describe_list(items)}; expected a sum within {PROBABILITY_SUM_TOLERANCE} of 1 on every line"
    )


def _folder_columns(images: list[str], root: Path, source: str) -> pd.DataFrame:
    """Rows ``<emotion>/<n>.jpg`` → columns path, group, image, emotion, number."""
    rows = []
    for image in images:
        folder, _, name = image.replace("\\", "/").rpartition("/")
        emotion = normalize_emotion(folder)
        stem = name.rsplit(".", 1)[0]
        if emotion not in EKMAN_EMOTIONS or not stem.isdigit():
            raise DatasetLayoutError(
                f"{source}: {image!r} is not '<emotion>/<n>.jpg' with emotion in {', '.join(EKMAN_EMOTIONS)}"
            )
        rows.append((str(root / "images" / folder / name), image, image, emotion, int(stem)))
    table = pd.DataFrame(rows, columns=["path", "group", "image", "emotion", "number"])
    dupes = table["image"][table["image"].duplicated()].tolist()
    if dupes:
        raise DatasetLayoutError(f"{source} lists these images more than once: {describe_list(dupes)}")
    return table


def _image_names(root: Path) -> list[str]:
    """``<folder>/<file>`` of every image under ``root/images``."""
    images_dir = root / "images"
    if not images_dir.is_dir():
        raise DatasetLayoutError(f"{root}: expected an images/ folder with one sub-folder per emotion")
    folders = [d for d in sorted(images_dir.iterdir()) if d.is_dir() and not d.name.startswith(".")]
    return [f"{d.name}/{p.name}" for d in folders for p in list_image_files(d)]


def _dominant_labels(table: pd.DataFrame):
    dom = emotion6_dominant(table)
    table = table.assign(dominant=dom.emotion, label=dom.label)[dom.keep]
    info = dom.counts() | {"rule": dom.rule}
    return table, list(BINARY_CLASSES), info


@register_dataset(
    "emotionroi",
    folder="emotion6",
    marker="images/joy",
    how_to_get=(
        _HOW_TO_GET + " EmotionROI (Peng et al., ICIP 2016) uses the same images: optionally copy "
        "EmotionROI's ground_truth/ (stimuli maps) and training_testing_split/ into emotion6/."
    ),
    description="EmotionROI: Emotion6's 1980 images by folder, fixed 1386/594 train/test split.",
    options={"labels": ("binary", "emotion")},
)
def load_emotionroi(root: Path, labels: str = "binary") -> ImageDataset:
    """EmotionROI: folder labels (binary: joy/surprise positive), fixed train/test split."""
    table = _folder_columns(_image_names(root), root, str(root / "images"))
    table, classes = emotion_labels(table, labels, EKMAN_EMOTIONS, ekman_to_binary)
    table["split"], split_source = _emotionroi_split(root, table)
    columns = ["path", "label", "group", "image", "emotion", "number", "split"]
    maps_dir = root / EMOTIONROI_MAPS_DIR
    if maps_dir.is_dir():
        table["stimuli_path"] = _stimuli_paths(maps_dir, table)
        columns.append("stimuli_path")
    if (root / GROUND_TRUTH).is_file():
        extra = read_emotion6_ground_truth(root).set_index("image")
        cols = ["valence", "arousal", *EMOTION6_PROB_COLUMNS]
        table = table.join(extra[cols], on="image")
        columns += cols
    table = table.sort_values(["emotion", "number"], kind="stable")
    info = {"labels": labels, "split_source": split_source, "stimuli_maps": maps_dir.is_dir()}
    return ImageDataset("emotionroi", table[columns].reset_index(drop=True), classes, root,
                        EMOTIONROI_PROTOCOL, info)


def _emotionroi_split(root: Path, table: pd.DataFrame) -> tuple[list[str], str]:
    split_dir = root / EMOTIONROI_SPLIT_DIR
    files = {"train": split_dir / "training.txt", "test": split_dir / "testing.txt"}
    if not all(f.is_file() for f in files.values()):
        rule = np.where(table["number"] <= EMOTIONROI_TRAIN_MAX, "train", "test")
        return rule.tolist(), f"images 1-{EMOTIONROI_TRAIN_MAX} of each emotion train, the rest test"
    which: dict[str, str] = {}
    for part, path in files.items():
        for line in path.read_text(encoding="utf-8-sig").splitlines():
            name = line.strip().replace("\\", "/")
            if name:
                if which.setdefault(name, part) != part:
                    raise DatasetLayoutError(f"EmotionROI split files list {name} in both training and testing")
    missing = [i for i in table["image"] if i not in which]
    if missing:
        raise DatasetLayoutError(
            f"EmotionROI split files in {split_dir} do not list {len(missing)} image(s): {describe_list(missing)}"
        )
    return [which[i] for i in table["image"]], str(split_dir)


def _stimuli_paths(maps_dir: Path, table: pd.DataFrame) -> list[str]:
    """Stimuli map of each image: ``ground_truth/<emotion>/<n>.<any image extension>``."""
    found = {}
    for d in (d for d in maps_dir.iterdir() if d.is_dir()):
        for p in list_image_files(d):
            found[(normalize_emotion(d.name), p.stem)] = str(p)
    paths = [found.get((e, str(n))) for e, n in zip(table["emotion"], table["number"])]
    missing = [img for img, p in zip(table["image"], paths) if p is None]
    if missing:
        raise DatasetLayoutError(
            f"EmotionROI stimuli maps folder {maps_dir} lacks maps for {len(missing)} image(s): "
            f"{describe_list(missing)} (expected {maps_dir}/<emotion>/<n>.jpg for every image)"
        )
    return paths
