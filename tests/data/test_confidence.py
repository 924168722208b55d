"""p* per image (MultiLevelRCNN's label probability), by hand."""

import numpy as np
import pandas as pd
import pytest

from vsalib.data.confidence import label_confidence


def test_twitter_agreement_gives_one_point_eight_point_six():
    p, source = label_confidence(pd.DataFrame({"label": [1, 0, 1], "agree": [5, 4, 3]}))
    assert source == "agreement" and p.tolist() == [1.0, 0.8, 0.6]
    with pytest.raises(ValueError, match="3, 4 or 5"):
        label_confidence(pd.DataFrame({"label": [1], "agree": [2]}))


def test_emotion6_votes_for_the_labels_polarity():
    # Emotion6's anger/1.jpg: anger .033, disgust .033, fear .267, joy 0, sadness .2, surprise .133, neutral .333
    row = {"p_anger": 0.0333333, "p_disgust": 0.0333333, "p_fear": 0.266667, "p_joy": 0.0, "p_sadness": 0.2,
           "p_surprise": 0.133333, "p_neutral": 0.333333}
    t = pd.DataFrame([{**row, "label": 0}, {**row, "label": 1}])
    p, source = label_confidence(t)
    assert source == "votes"
    assert p == pytest.approx([0.0333333 * 2 + 0.266667 + 0.2, 0.133333])  # neutral counts for neither
    assert label_confidence(pd.DataFrame({"label": [0, 1]})) is None  # nothing to read p* from
    with pytest.raises(ValueError, match="binary labels"):
        label_confidence(pd.DataFrame([{**row, "label": 3}]))
    assert np.isfinite(p).all()


def test_ekman_labels_take_the_votes_for_their_own_emotion():
    row = {"p_anger": 0.0333333, "p_disgust": 0.0333333, "p_fear": 0.266667, "p_joy": 0.0, "p_sadness": 0.2,
           "p_surprise": 0.133333, "p_neutral": 0.333333}
    ekman = ["anger", "disgust", "fear", "joy", "sadness", "surprise"]
    t = pd.DataFrame([{**row, "label": 0}, {**row, "label": 2}, {**row, "label": 5}])
    p, source = label_confidence(t, ekman)
    assert source == "votes" and p == pytest.approx([0.0333333, 0.266667, 0.133333])
    with pytest.raises(ValueError, match="not among them"):
        label_confidence(t, ["amusement", "awe", "fear"])
    # binary classes keep the polarity reading
    assert label_confidence(t.assign(label=[0, 1, 0]), ["negative", "positive"])[0][1] == pytest.approx(0.133333)


def test_vote_shares_rounded_past_one_are_clipped_and_far_ones_refused():
    # Emotion6 prints shares to six decimals: a joy image whose positive votes sum to 1.000001
    row = {"p_anger": 0.0, "p_disgust": 0.0, "p_fear": 0.0, "p_joy": 0.666667, "p_sadness": 0.0,
           "p_surprise": 0.333334, "p_neutral": 0.0}
    p, _ = label_confidence(pd.DataFrame([{**row, "label": 1}]))
    assert p.tolist() == [1.0]
    with pytest.raises(ValueError, match=r"vote shares must lie in \[0, 1\]"):
        label_confidence(pd.DataFrame([{**row, "p_joy": 0.9, "label": 1}]))


def test_neutral_votes_left_out_renormalise_p_star():
    """The same image with its neutral third left out: negative 0.533333 of the 0.666666 polar votes (0.8), positive
    0.133333 of them (0.2); with the six classes, fear's 0.266667 of the 0.666666 emotional votes (0.4). An image
    whose votes are all neutral keeps 0."""
    row = {"p_anger": 0.0333333, "p_disgust": 0.0333333, "p_fear": 0.266667, "p_joy": 0.0, "p_sadness": 0.2,
           "p_surprise": 0.133333, "p_neutral": 0.333333}
    polar = 0.0333333 * 2 + 0.266667 + 0.2 + 0.133333
    t = pd.DataFrame([{**row, "label": 0}, {**row, "label": 1}])
    p, source = label_confidence(t, neutral="renormalise")
    assert source == "votes, neutral left out"
    assert p == pytest.approx([(0.0333333 * 2 + 0.266667 + 0.2) / polar, 0.133333 / polar])
    assert p.sum() == pytest.approx(1.0)
    ekman = ["anger", "disgust", "fear", "joy", "sadness", "surprise"]
    p6, _ = label_confidence(t.assign(label=[2, 5]), ekman, neutral="renormalise")
    assert p6 == pytest.approx([0.266667 / polar, 0.133333 / polar])
    blank = {**{k: 0.0 for k in row}, "p_neutral": 1.0}
    assert label_confidence(pd.DataFrame([{**blank, "label": 1}]), neutral="renormalise")[0].tolist() == [0.0]
    with pytest.raises(ValueError, match="neutral='drop' is not valid"):
        label_confidence(t, neutral="drop")


def test_the_neutral_reading_is_a_knob_of_multilevel_rcnn():
    from vsalib.methods import multilevel_rcnn as mlr

    assert "neutral" not in mlr.MultiLevelConfig().params()  # the default keeps the records' keys
    assert mlr.MultiLevelConfig(neutral="renormalise").params()["neutral"] == "renormalise"
    with pytest.raises(ValueError, match="neutral="):
        mlr.MultiLevelConfig(neutral="drop")
    runs = pd.DataFrame({"method": ["multilevel-rcnn"] * 3, "params.neutral": [None, "count", "renormalise"]})
    assert mlr.select_neutral(runs).index.tolist() == [0, 1]
    assert mlr.select_neutral(runs, "renormalise").index.tolist() == [2]
    assert mlr.select_neutral(runs.drop(columns="params.neutral"), "renormalise").empty
