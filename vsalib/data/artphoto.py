"""ArtPhoto (Machajdik & Hanbury, ACM MM 2010): 806 artistic photographs.

Layout (``<data root>/artphoto/``): the published ``testImages_artphoto`` files, directly or
in one sub-folder; the class is the file-name prefix before the last ``_``
(``amusement_12.jpg``, ``sad_3.jpg``): amusement, anger, awe, contentment, disgust,
excitement, fear, sad (→ sadness). An unknown prefix is an error naming the file.
Columns: ``path, label, group, image, emotion``. Protocol: 5-fold CV (Rao et al.).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from vsalib.data.images import DatasetLayoutError, describe_list, list_image_files
from vsalib.data.labels import emotion_labels, mikels_to_binary, normalize_emotion
from vsalib.data.registry import ImageDataset, Protocol, register_dataset
from vsalib.emotions import MIKELS_EMOTIONS

ARTPHOTO_PROTOCOL = Protocol(
    "kfold", k=5,
    note="Rao et al.: 5-fold CV (each category split into 5 batches); R-CNNGSR used a 75/20/5 random split.",
)


@register_dataset(
    "artphoto",
    folder="artphoto",
    marker="",
    how_to_get=(
        "Download ArtPhoto (Machajdik & Hanbury, ACM MM 2010, 'Affective image classification using "
        "features inspired by psychology and art theory') and put its images (named <emotion>_<n>.jpg) "
        "in a folder named artphoto."
    ),
    description="ArtPhoto: 806 artistic photographs in Mikels' 8 emotions (class from file name).",
    options={"labels": ("binary", "emotion")},
)
def load_artphoto(root: Path, labels: str = "binary") -> ImageDataset:
    """ArtPhoto with binary (polarity) or 8-emotion labels from the file-name prefix."""
    files = list_image_files(root, recursive=True)
    if not files:
        raise DatasetLayoutError(f"artphoto: no images in {root} (expected files like amusement_12.jpg)")
    table = pd.DataFrame({
        "path": [str(p) for p in files],
        "image": [str(p.relative_to(root)) for p in files],
        "emotion": artphoto_emotions(files),
    })
    table["group"] = table["image"]
    table, classes = emotion_labels(table, labels, MIKELS_EMOTIONS, mikels_to_binary)
    columns = ["path", "label", "group", "image", "emotion"]
    return ImageDataset("artphoto", table[columns], classes, root, ARTPHOTO_PROTOCOL, {"labels": labels})


def artphoto_emotions(files: list[Path]) -> list[str]:
    """Emotion of each file from its name prefix; unknown prefixes raise, naming the files."""
    emotions, unknown = [], []
    for p in files:
        prefix = normalize_emotion(p.stem.rsplit("_", 1)[0]) if "_" in p.stem else ""
        emotions.append(prefix)
        if prefix not in MIKELS_EMOTIONS:
            unknown.append(str(p))
    if unknown:
        raise DatasetLayoutError(
            f"artphoto: cannot read the emotion from the name of {len(unknown)} file(s): "
            f"{describe_list(unknown)}; expected <emotion>_<n>.<ext> with emotion in "
            f"{', '.join(MIKELS_EMOTIONS)} (or 'sad')"
        )
    return emotions
