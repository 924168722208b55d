"""Label conversions: Mikels → binary, Ekman → binary, Emotion6 dominant-emotion rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vsalib.data import UnknownNameError
from vsalib.data.labels import (
    EKMAN_EMOTIONS,
    EMOTION6_PROB_COLUMNS,
    ekman_to_binary,
    emotion6_dominant,
    emotion_indices,
    emotion_labels,
    mikels_to_binary,
    normalize_emotion,
)
from vsalib.data.registry import candidate_roots
from vsalib.emotions import MIKELS_EMOTIONS, POSITIVE_EMOTIONS


def test_mikels_to_binary_maps_positive_emotions_to_one():
    assert mikels_to_binary("awe") == 1 and mikels_to_binary("fear") == 0
    got = mikels_to_binary(list(MIKELS_EMOTIONS))
    assert got.tolist() == [int(e in POSITIVE_EMOTIONS) for e in MIKELS_EMOTIONS]


def test_published_spellings_are_normalised():
    assert normalize_emotion("'Sad'") == "sadness" and normalize_emotion(" Content ") == "contentment"
    assert mikels_to_binary(["Sad", "Content", "Amusement"]).tolist() == [0, 1, 1]


def test_ekman_to_binary_is_the_folder_mapping():
    assert ekman_to_binary(list(EKMAN_EMOTIONS)).tolist() == [0, 0, 0, 1, 0, 1]


def test_unknown_emotion_lists_valid_names():
    with pytest.raises(UnknownNameError, match="amusement"):
        mikels_to_binary("joy")
    with pytest.raises(UnknownNameError, match="surprise"):
        ekman_to_binary(["neutral"])
    with pytest.raises(UnknownNameError):
        emotion_indices(["awe"], ["anger", "joy"])


def test_emotion_labels_sets_label_and_classes():
    table = pd.DataFrame({"emotion": ["joy", "fear", "surprise"]})
    binary, classes = emotion_labels(table, "binary", EKMAN_EMOTIONS, ekman_to_binary)
    assert classes == ["negative", "positive"] and binary["label"].tolist() == [1, 0, 1]
    six, classes = emotion_labels(table, "emotion", EKMAN_EMOTIONS, ekman_to_binary)
    assert classes == list(EKMAN_EMOTIONS) and six["label"].tolist() == [3, 2, 5]
    with pytest.raises(UnknownNameError, match="binary"):
        emotion_labels(table, "polarity", EKMAN_EMOTIONS, ekman_to_binary)


def _rows(*rows):
    return pd.DataFrame(rows, columns=list(EMOTION6_PROB_COLUMNS))


def test_dominant_rule_drops_neutral_and_maps_polarity():
    #           anger disgust fear joy  sadness surprise neutral
    probs = _rows([0.1, 0.0, 0.0, 0.6, 0.1, 0.1, 0.1],   # joy → positive
                  [0.0, 0.5, 0.2, 0.0, 0.2, 0.0, 0.1],   # disgust → negative
                  [0.1, 0.1, 0.0, 0.1, 0.1, 0.1, 0.5])   # neutral → dropped
    dom = emotion6_dominant(probs)
    assert dom.emotion.tolist() == ["joy", "disgust", "neutral"]
    assert dom.label.tolist() == [1, 0, -1] and dom.keep.tolist() == [True, True, False]
    assert dom.counts() == {"positive": 1, "negative": 1, "dropped": 1, "ties": 0, "ties_decisive": 0}


def test_dominant_ties_go_to_the_first_column_and_are_counted():
    probs = np.array([
        [0.0, 0.0, 0.0, 0.4, 0.0, 0.2, 0.4],          # joy = neutral → joy (kept): decisive
        [0.0, 0.0, 0.4, 0.4, 0.0, 0.2, 0.0],          # fear = joy → fear (negative): decisive
        [0.0, 0.0, 0.0, 0.4, 0.0, 0.4, 0.2],          # joy = surprise → joy: not decisive
        [0.3333333, 0.333333, 0.0, 0.0, 0.3333334, 0, 0],  # equal within atol → anger
    ])
    dom = emotion6_dominant(probs)
    assert dom.emotion.tolist() == ["joy", "fear", "joy", "anger"]
    assert dom.label.tolist() == [1, 0, 1, 0]
    assert (dom.n_ties, dom.n_ties_decisive) == (4, 2)


def test_dominant_rule_rejects_wrong_shapes():
    with pytest.raises(ValueError, match=r"\(N, 7\)"):
        emotion6_dominant(np.zeros((3, 6)))
    with pytest.raises(ValueError, match="p_neutral"):
        emotion6_dominant(pd.DataFrame({"p_joy": [1.0]}))


def _real_emotion6_ground_truth() -> Path | None:
    for root in candidate_roots():
        path = root / "emotion6" / "ground_truth.txt"
        if path.is_file():
            return path
    return None


@pytest.mark.realdata
def test_dominant_rule_on_the_published_file_gives_742_913_325():
    path = _real_emotion6_ground_truth()
    if path is None:
        pytest.skip("Emotion6 ground_truth.txt not found (set VSALIB_DATA)")
    probs = pd.read_csv(path, sep="\t").iloc[:, 3:].to_numpy()
    counts = emotion6_dominant(probs).counts()
    assert (counts["positive"], counts["negative"], counts["dropped"]) == (742, 913, 325)
    assert counts["ties"] == 85
