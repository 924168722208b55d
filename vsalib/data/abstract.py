"""Abstract (Machajdik & Hanbury, ACM MM 2010): abstract paintings with emotion votes.

Layout (``<data root>/abstract/``): the published ``testImages_abstract`` folder, i.e.
``ABSTRACT_groundTruth.csv`` plus the images, directly or in one sub-folder. The CSV has a
header (``,'Amusement','Anger','Awe','Content','Disgust','Excitement','Fear','Sad'``) and
one row per image: ``'abstract_xxx.jpg'`` (quoted) and the 8 vote counts.

Label = the emotion with the most votes. Tie rule (option ``ties``):

- ``drop`` (default): images whose maximum is shared by two or more emotions, or with no
  votes, are dropped — the ambiguous images the papers' 228-image count leaves out;
- ``first``: the tie goes to the first of the tied columns in the CSV's order.

Binary labels are the polarity of that emotion. Columns: ``path, label, group, image,
emotion, votes_<emotion>`` (8), ``votes``. Protocol: 5-fold CV (Rao et al.).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from vsalib.data.images import DatasetLayoutError, describe_list, list_image_files, require_files
from vsalib.data.labels import emotion_labels, mikels_to_binary, normalize_emotion
from vsalib.data.registry import ImageDataset, Protocol, UnknownNameError, register_dataset
from vsalib.emotions import MIKELS_EMOTIONS

GROUND_TRUTH = "ABSTRACT_groundTruth.csv"
VOTE_COLUMNS = tuple(f"votes_{e}" for e in MIKELS_EMOTIONS)
ABSTRACT_PROTOCOL = Protocol(
    "kfold", k=5,
    note="Rao et al.: 5-fold CV (each category split into 5 batches); R-CNNGSR used a 75/20/5 random split.",
)


@register_dataset(
    "abstract",
    folder="abstract",
    marker=GROUND_TRUTH,
    how_to_get=(
        "Download Abstract (Machajdik & Hanbury, ACM MM 2010; testImages_abstract) and put its "
        f"images and {GROUND_TRUTH} in a folder named abstract."
    ),
    description="Abstract: abstract paintings with Mikels-emotion vote counts (228 with a clear winner).",
    options={"labels": ("binary", "emotion"), "ties": ("drop", "first")},
)
def load_abstract(root: Path, labels: str = "binary", ties: str = "drop") -> ImageDataset:
    """Abstract paintings labelled by their most-voted emotion (ties dropped by default)."""
    if ties not in ("drop", "first"):
        raise UnknownNameError(f"abstract: ties={ties!r} is not valid; valid values: 'drop', 'first'")
    csv_path = root / GROUND_TRUTH
    votes, csv_order = read_abstract_votes(csv_path)
    emotion, tied = majority_emotion(votes[list(VOTE_COLUMNS)].to_numpy(), csv_order)
    no_votes = votes["votes"].to_numpy() == 0
    tied &= ~no_votes
    dropped = no_votes | tied if ties == "drop" else no_votes
    table = votes.assign(emotion=emotion)
    table = table[~dropped].copy()
    table["path"] = _image_paths(root, table["image"], csv_path)
    table["group"] = table["image"]
    table, classes = emotion_labels(table, labels, MIKELS_EMOTIONS, mikels_to_binary)
    info = {
        "labels": labels, "ties": ties, "rows": int(len(votes)),
        "tied_rows": int(tied.sum()), "no_vote_rows": int(no_votes.sum()),
        "dropped": int(dropped.sum()), "ground_truth": str(csv_path),
    }
    columns = ["path", "label", "group", "image", "emotion", *VOTE_COLUMNS, "votes"]
    return ImageDataset("abstract", table[columns].reset_index(drop=True), classes, root,
                        ABSTRACT_PROTOCOL, info)


def read_abstract_votes(path: Path) -> tuple[pd.DataFrame, list[int]]:
    """Parse ``ABSTRACT_groundTruth.csv`` into columns image, votes_<emotion> (Mikels order), votes.

    Also returns the CSV's emotion columns as indices into Mikels' order (for the tie rule).
    """
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = [r for r in csv.reader(fh, quotechar="'") if any(c.strip() for c in r)]
    header = [normalize_emotion(h) for h in rows[0][1:]] if rows else []
    if sorted(header) != sorted(MIKELS_EMOTIONS):
        raise DatasetLayoutError(
            f"{path}: header must name the 8 emotions after the image column "
            f"(Amusement, Anger, Awe, Content, Disgust, Excitement, Fear, Sad); got {rows[0] if rows else []}"
        )
    order = [MIKELS_EMOTIONS.index(h) for h in header]
    images, counts = [], []
    for lineno, row in enumerate(rows[1:], 2):
        try:
            values = [float(v) for v in row[1:]]
        except ValueError:
            values = []
        if len(values) != 8 or min(values) < 0:
            raise DatasetLayoutError(f"{path}, line {lineno}: expected an image name and 8 vote counts, got {row}")
        mikels = np.zeros(8)
        mikels[order] = values
        images.append(row[0].strip().strip("'\""))
        counts.append(mikels)
    table = pd.DataFrame(np.array(counts).reshape(-1, 8), columns=list(VOTE_COLUMNS))
    table.insert(0, "image", images)
    table["votes"] = table[list(VOTE_COLUMNS)].sum(axis=1)
    dupes = table["image"][table["image"].duplicated()].tolist()
    if dupes:
        raise DatasetLayoutError(f"{path} lists these images more than once: {describe_list(dupes)}")
    return table, order


def majority_emotion(votes: np.ndarray, csv_order: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Most-voted emotion per row (ties → first tied column in CSV order) and a tie flag.

    ``votes``: (N, 8) counts in Mikels order; ``csv_order``: the CSV's column order as
    Mikels indices.
    """
    in_csv_order = votes[:, csv_order]
    top = in_csv_order.max(axis=1, keepdims=True)
    winner = np.asarray(csv_order)[in_csv_order.argmax(axis=1)]
    tied = (in_csv_order == top).sum(axis=1) > 1
    return np.array(MIKELS_EMOTIONS)[winner], tied


def _image_paths(root: Path, names: pd.Series, csv_path: Path) -> list[str]:
    """Find each listed image under ``root`` (recursively); missing ones raise, naming them."""
    on_disk: dict[str, Path] = {}
    for p in list_image_files(root, recursive=True):
        on_disk.setdefault(p.name, p)
    paths = [str(on_disk.get(n, root / n)) for n in names]
    require_files(paths, csv_path, "abstract")
    return paths
