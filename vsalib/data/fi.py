"""FI (You et al., AAAI 2016, "Building a large scale dataset for image emotion recognition").

Layout (``<data root>/fi/``, lower case like every vsalib dataset folder)::

    amusement/<files>  anger/  awe/  contentment/  disgust/  excitement/  fear/  sadness/

one folder per Mikels emotion (the published ``emotion_dataset`` folders; ``sad`` is
accepted for ``sadness``). Columns: ``path, label, group, image, emotion``; ``group`` is
the relative path (FI is not hashed: 23,308 files). Labels ``binary`` (polarity) or
``emotion`` (8 classes in ``MIKELS_EMOTIONS`` order). Protocol: Rao et al.'s random split,
80 % train / 5 % validation / 15 % test, i.e. ratios (train, test, val) = (0.80, 0.15, 0.05).

``emotion_folder_table`` is shared with the IAPS loader.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from vsalib.data.images import DatasetLayoutError, describe_list, list_image_files
from vsalib.data.labels import emotion_labels, mikels_to_binary, normalize_emotion
from vsalib.data.registry import ImageDataset, Protocol, register_dataset
from vsalib.emotions import MIKELS_EMOTIONS

FI_PROTOCOL = Protocol(
    "ratio", ratios=(0.80, 0.15, 0.05),
    note="FI: random 80 % train / 5 % validation / 15 % test (Rao et al.).",
)


@register_dataset(
    "fi",
    folder="fi",
    marker="amusement",
    how_to_get=(
        "Download FI (You et al., AAAI 2016; 23,308 images) and place its eight emotion folders "
        "(amusement, anger, awe, contentment, disgust, excitement, fear, sadness) in a folder named fi."
    ),
    description="FI: 23,308 Flickr/Instagram images in Mikels' 8 emotions (AMT-verified).",
    options={"labels": ("binary", "emotion")},
)
def load_fi(root: Path, labels: str = "binary") -> ImageDataset:
    """FI with binary (polarity) or 8-emotion labels."""
    table, classes = emotion_labels(emotion_folder_table(root, "fi"), labels, MIKELS_EMOTIONS, mikels_to_binary)
    return ImageDataset("fi", table.reset_index(drop=True), classes, root, FI_PROTOCOL, {"labels": labels})


def emotion_folder_table(root: Path, dataset: str, emotions=MIKELS_EMOTIONS) -> pd.DataFrame:
    """One row per image in ``root/<emotion>/``: columns path, label (-1), group, image, emotion.

    Folder names are normalised (``Sad`` → ``sadness``); a folder that is not an emotion
    in ``emotions`` is an error naming it. Hidden folders and non-image files are skipped.
    """
    folders = [d for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")]
    unknown = [d.name for d in folders if normalize_emotion(d.name) not in emotions]
    if unknown:
        raise DatasetLayoutError(
            f"{dataset}: folder(s) {describe_list(unknown)} in {root} are not emotions; expected one "
            f"folder per emotion: {', '.join(emotions)}"
        )
    rows = [
        (str(p), -1, rel, rel, normalize_emotion(d.name))
        for d in folders
        for p in list_image_files(d)
        for rel in [f"{d.name}/{p.name}"]
    ]
    if not rows:
        raise DatasetLayoutError(f"{dataset}: no images in the emotion folders of {root}")
    return pd.DataFrame(rows, columns=["path", "label", "group", "image", "emotion"])
