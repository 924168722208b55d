"""Label conversions the papers use (binary convention everywhere: 1 = positive, 0 = negative).

- Mikels' 8 emotions → binary (all five papers; FI, IAPS subset, ArtPhoto, Abstract).
- Ekman's 6 (Emotion6/EmotionROI folders) → binary: joy and surprise positive, the rest
  negative (WSIDNet, Rao et al., and R-CNNGSR's Table 1 counts, 660/1320).
- Emotion6 dominant-emotion rule (R-CNNGSR's text): argmax of the 7 probabilities,
  images whose dominant emotion is neutral dropped. Ties go to the first column in the
  file's order (anger, disgust, fear, joy, sadness, surprise, neutral), which is what
  ``numpy.argmax`` does; on the published file this gives 742 positive / 913 negative
  with 325 dropped, and 85 images have a tied maximum.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from vsalib.errors import UnknownNameError
from vsalib.emotions import BINARY_CLASSES, POLARITY

EKMAN_EMOTIONS: tuple[str, ...] = ("anger", "disgust", "fear", "joy", "sadness", "surprise")
EKMAN_POSITIVE = frozenset({"joy", "surprise"})
EKMAN_POLARITY: dict[str, int] = {e: int(e in EKMAN_POSITIVE) for e in EKMAN_EMOTIONS}
# The seven columns of Emotion6's distribution, in the file's order.
EMOTION6_DISTRIBUTION: tuple[str, ...] = EKMAN_EMOTIONS + ("neutral",)
EMOTION6_PROB_COLUMNS: tuple[str, ...] = tuple(f"p_{e}" for e in EMOTION6_DISTRIBUTION)

# Spellings found in the published files (ArtPhoto's "sad_", Abstract's "Content"/"Sad").
EMOTION_ALIASES: dict[str, str] = {
    "sad": "sadness",
    "content": "contentment",
    "amused": "amusement",
    "excited": "excitement",
    "angry": "anger",
    "disgusted": "disgust",
    "afraid": "fear",
    "happiness": "joy",
}


def normalize_emotion(name: str) -> str:
    """Lower-case, strip quotes/space and map published spellings (``Sad`` → ``sadness``)."""
    key = str(name).strip().strip("'\"").strip().lower()
    return EMOTION_ALIASES.get(key, key)


def _convert(values, mapping: dict[str, int], what: str):
    """Map a name or a sequence of names through ``mapping`` (names normalised first)."""
    if isinstance(values, str):
        return _convert_one(values, mapping, what)
    return np.array([_convert_one(v, mapping, what) for v in values], dtype=np.int64)


def _convert_one(value: str, mapping: dict[str, int], what: str) -> int:
    key = normalize_emotion(value)
    if key not in mapping:
        raise UnknownNameError(f"{value!r} is not one of {what}: {', '.join(mapping)}")
    return mapping[key]


def mikels_to_binary(emotions: str | Iterable[str]):
    """Mikels' 8 emotions → polarity (all five papers; Machajdik & Hanbury's convention).

    amusement, awe, contentment, excitement → 1 (positive); anger, disgust, fear,
    sadness → 0. Accepts one name (returns int) or a sequence (returns an int array).
    """
    return _convert(emotions, POLARITY, "Mikels' 8 emotions")


def ekman_to_binary(emotions: str | Iterable[str]):
    """Ekman's 6 (Emotion6/EmotionROI folders) → polarity: joy, surprise → 1, others → 0.

    The folder mapping of WSIDNet and Rao et al. on EmotionROI, and the mapping behind
    R-CNNGSR's Table 1 Emotion6 counts (660 positive / 1320 negative, nothing dropped).
    """
    return _convert(emotions, EKMAN_POLARITY, "Ekman's 6 emotions (Emotion6)")


def emotion_indices(emotions: str | Iterable[str], classes: Sequence[str]):
    """Class index of each emotion name in ``classes`` (names normalised first)."""
    return _convert(emotions, {c: i for i, c in enumerate(classes)}, "the classes")


@dataclass
class DominantEmotion:
    """Result of the Emotion6 dominant-emotion rule, one entry per image."""

    emotion: np.ndarray  # dominant emotion name (may be "neutral")
    label: np.ndarray  # 1 positive, 0 negative, -1 dropped (neutral dominant)
    keep: np.ndarray  # bool: dominant emotion is not neutral
    n_ties: int  # images whose maximum probability is shared by two or more columns
    n_ties_decisive: int  # of those, ties where another tie-break would change label/drop
    rule: str = field(default="argmax over the 7 columns; ties → first column in file order")

    def counts(self) -> dict[str, int]:
        return {
            "positive": int((self.label == 1).sum()),
            "negative": int((self.label == 0).sum()),
            "dropped": int((~self.keep).sum()),
            "ties": self.n_ties,
            "ties_decisive": self.n_ties_decisive,
        }


def emotion6_dominant(probabilities, atol: float = 1e-6) -> DominantEmotion:
    """Emotion6 dominant-emotion rule (R-CNNGSR's text; a named variant, not its Table 1).

    ``probabilities``: a table with columns ``p_anger .. p_neutral`` or an (N, 7) array
    in that order. The dominant emotion is the column with the highest probability;
    values within ``atol`` of the maximum count as tied and the tie goes to the first
    such column in the file's order (anger, disgust, fear, joy, sadness, surprise,
    neutral), so neutral wins only when strictly highest. Neutral-dominant images are
    dropped (label -1, keep False); the rest map to polarity with ``ekman_to_binary``.
    """
    probs = _distribution_array(probabilities)
    top = probs.max(axis=1, keepdims=True)
    tied = np.abs(probs - top) <= atol
    first = tied.argmax(axis=1)  # first column within atol of the maximum
    names = np.array(EMOTION6_DISTRIBUTION)
    emotion = names[first]
    outcome = np.array([EKMAN_POLARITY.get(e, -1) for e in EMOTION6_DISTRIBUTION])
    label = outcome[first]
    n_tied = tied.sum(axis=1)
    decisive = [len(set(outcome[row])) > 1 for row in tied[n_tied > 1]]
    return DominantEmotion(
        emotion=emotion,
        label=label.astype(np.int64),
        keep=label >= 0,
        n_ties=int((n_tied > 1).sum()),
        n_ties_decisive=int(sum(decisive)),
    )


def _distribution_array(probabilities) -> np.ndarray:
    if isinstance(probabilities, pd.DataFrame):
        missing = [c for c in EMOTION6_PROB_COLUMNS if c not in probabilities.columns]
        if missing:
            raise ValueError(
                f"Emotion6 distribution needs columns {', '.join(EMOTION6_PROB_COLUMNS)}; missing {missing}"
            )
        probabilities = probabilities[list(EMOTION6_PROB_COLUMNS)].to_numpy()
    probs = np.asarray(probabilities, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != len(EMOTION6_DISTRIBUTION):
        raise ValueError(
            f"Emotion6 distribution must be (N, 7) in the order {EMOTION6_DISTRIBUTION}; got shape {probs.shape}"
        )
    return probs


def emotion_labels(
    table: pd.DataFrame, labels: str, emotions: Sequence[str], to_binary
) -> tuple[pd.DataFrame, list[str]]:
    """Set ``table['label']`` from ``table['emotion']`` for ``labels`` = "binary" or "emotion".

    ``emotions``: the class order for "emotion"; ``to_binary``: the polarity function
    (``mikels_to_binary`` or ``ekman_to_binary``). Returns the table and its class names.
    """
    table = table.copy()
    if labels == "binary":
        table["label"] = to_binary(table["emotion"].tolist())
        return table, list(BINARY_CLASSES)
    if labels == "emotion":
        table["label"] = emotion_indices(table["emotion"].tolist(), emotions)
        return table, list(emotions)
    raise UnknownNameError(f"labels={labels!r} is not valid; valid values: 'binary', 'emotion'")

