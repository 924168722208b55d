"""IAPS subset (Mikels et al., 2005): the 395 IAPS pictures with Mikels' emotion categories.

IAPS itself must be requested from the CSEA (University of Florida); the emotion subset is
used by Machajdik & Hanbury (2010) and the papers reproduced here. vsalib expects the common
folder-per-emotion layout (``<data root>/iaps/``)::

    amusement/<IAPS id>.jpg  anger/  awe/  contentment/  disgust/  excitement/  fear/  sadness/

(``sad`` is accepted for ``sadness``). Columns: ``path, label, group, image, emotion``.
Labels ``binary`` (polarity) or ``emotion`` (Mikels' 8). Protocol: 5-fold CV (Rao et al.).
"""

from __future__ import annotations

from pathlib import Path

from vsalib.data.fi import emotion_folder_table
from vsalib.data.labels import emotion_labels, mikels_to_binary
from vsalib.data.registry import ImageDataset, Protocol, register_dataset
from vsalib.emotions import MIKELS_EMOTIONS

IAPS_PROTOCOL = Protocol(
    "kfold", k=5,
    note="Rao et al.: 5-fold CV (each category split into 5 batches); R-CNNGSR used a 75/20/5 random split.",
)


@register_dataset(
    "iaps",
    folder="iaps",
    marker="amusement",
    how_to_get=(
        "Request IAPS from the CSEA (University of Florida), select Mikels et al.'s (2005) 395-image "
        "emotion subset and place the pictures in one folder per emotion (amusement, anger, awe, "
        "contentment, disgust, excitement, fear, sadness) inside a folder named iaps."
    ),
    description="IAPS subset: 395 affective pictures in Mikels' 8 emotions.",
    options={"labels": ("binary", "emotion")},
)
def load_iaps(root: Path, labels: str = "binary") -> ImageDataset:
    """IAPS subset with binary (polarity) or 8-emotion labels."""
    table = emotion_folder_table(root, "iaps")
    table, classes = emotion_labels(table, labels, MIKELS_EMOTIONS, mikels_to_binary)
    return ImageDataset("iaps", table.reset_index(drop=True), classes, root, IAPS_PROTOCOL, {"labels": labels})
