"""How sure each image's label is: MultiLevelRCNN's p* (Rao et al., Eq. 4), which the paper does not source.

``label_confidence(table)`` reads it from what a dataset holds beside the label:

- Twitter I's agreement (``agree``: 5, 4 or 3 of five workers): p* = agree / 5, so five-agree images get 1.0,
  four-only 0.8 and three-only 0.6;
- Emotion6 / EmotionROI's vote distribution (``p_anger`` … ``p_neutral``): the votes for the label's polarity
  (joy and surprise for positive; anger, disgust, fear and sadness for negative), or with Ekman's six classes
  (``classes``) the votes for the label's own emotion. The paper does not say what becomes of the neutral
  votes (:data:`NEUTRAL_READINGS`): ``"count"`` (our default) leaves them in the total, so they count for
  neither polarity and 563 of EmotionROI's 1,980 images get p* < 0.5; ``"renormalise"`` divides by the
  polar (or, with the six classes, the emotional) votes alone, as if the neutral annotators had not voted;
- otherwise none (``None``): with p* ≡ 1 the three losses of the paper coincide.

p* is a label: read it for the training and validation parts only (``Fold.annotations`` refuses the test part's).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vsalib.data.labels import EKMAN_POLARITY

CONFIDENCE_SOURCES = ("agreement", "votes")
#: What the neutral votes do to p* (module docstring): stay in the total, or are left out of it.
NEUTRAL_READINGS = ("count", "renormalise")


def label_confidence(table: pd.DataFrame, classes: list[str] | None = None,
                     neutral: str = "count") -> tuple[np.ndarray, str] | None:
    """``(p* per row, its source)`` from a dataset's table, or None where it holds no such column. ``classes``:
    the names of the label's classes where they are Ekman's emotions (EmotionROI's six): p* is then the
    votes for the label's own emotion. ``neutral``: one of :data:`NEUTRAL_READINGS` (votes only; an image whose
    votes are all neutral keeps p* = 0 under ``"renormalise"``: nothing to renormalise)."""
    if neutral not in NEUTRAL_READINGS:
        raise ValueError(f"neutral={neutral!r} is not valid; valid: {', '.join(NEUTRAL_READINGS)}")
    if "agree" in table.columns:
        agree = table["agree"].to_numpy(dtype=float)
        if ((agree < 3) | (agree > 5)).any():
            raise ValueError(f"agreement must be 3, 4 or 5 of five workers; got {sorted(set(agree))}")
        return agree / 5.0, "agreement"
    cols = {e: f"p_{e}" for e in EKMAN_POLARITY}
    if set(cols.values()) <= set(table.columns) and "label" in table.columns:
        pos = sum(table[c].to_numpy(dtype=float) for e, c in cols.items() if EKMAN_POLARITY[e] == 1)
        neg = sum(table[c].to_numpy(dtype=float) for e, c in cols.items() if EKMAN_POLARITY[e] == 0)
        label = table["label"].to_numpy()
        if classes is not None and len(classes) > 2:
            unknown = [c for c in classes if c not in cols]
            if unknown:
                raise ValueError(f"the votes name Ekman's emotions; the classes {unknown} are not among them")
            votes = np.stack([table[cols[c]].to_numpy(dtype=float) for c in classes], axis=1)
            own = votes[np.arange(len(label)), label.astype(int)]
            return _unit(_renormalised(own, pos + neg) if neutral == "renormalise" else own), _source(neutral)
        if not np.isin(label, (0, 1)).all():
            raise ValueError("the vote mass of the label's polarity needs binary labels (0 negative, 1 positive)")
        own = np.where(label == 1, pos, neg)
        return _unit(_renormalised(own, pos + neg) if neutral == "renormalise" else own), _source(neutral)
    return None


def _renormalised(own: np.ndarray, polar: np.ndarray) -> np.ndarray:
    """The label's votes over the non-neutral ones (0 where every vote is neutral)."""
    return np.divide(own, polar, out=np.zeros_like(own), where=polar > 0)


def _source(neutral: str) -> str:
    return "votes" if neutral == "count" else "votes, neutral left out"


def _unit(p: np.ndarray, tolerance: float = 1e-4) -> np.ndarray:
    """Vote shares clipped to [0, 1]: Emotion6's file prints each share to six decimals, so that the seven of an
    image can sum to 1.000001 (26 EmotionROI images); anything further out is an error in the file."""
    if ((p < -tolerance) | (p > 1 + tolerance)).any():
        raise ValueError(f"vote shares must lie in [0, 1]; got {p[(p < 0) | (p > 1)][:5].tolist()}")
    return np.clip(p, 0.0, 1.0)


__all__ = ["CONFIDENCE_SOURCES", "NEUTRAL_READINGS", "label_confidence"]
