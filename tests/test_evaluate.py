"""Metrics against hand-computed values."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from vsalib.evaluate import accuracy, confusion, mean_ci, per_class_accuracy, plot_confusion, summarize

Y_TRUE = [0, 0, 0, 1, 1, 2]
Y_PRED = [0, 1, 0, 1, 1, 0]


def test_accuracy():
    assert accuracy(Y_TRUE, Y_PRED) == pytest.approx(4 / 6)
    assert accuracy(np.array([1, 1]), np.array([1, 1])) == 1.0
    with pytest.raises(ValueError):
        accuracy([0, 1], [0])
    with pytest.raises(ValueError):
        accuracy([], [])


def test_per_class_accuracy():
    got = per_class_accuracy(Y_TRUE, Y_PRED, ["a", "b", "c", "d"])
    assert got["a"] == pytest.approx(2 / 3)
    assert got["b"] == 1.0
    assert got["c"] == 0.0
    assert math.isnan(got["d"])  # no test image of class d
    named = per_class_accuracy(["neg", "pos", "pos"], ["neg", "neg", "pos"], ["neg", "pos"])
    assert named == {"neg": 1.0, "pos": 0.5}
    with pytest.raises(ValueError):
        per_class_accuracy([0, 5], [0, 1], ["a", "b"])


def test_confusion():
    cm = confusion(Y_TRUE, Y_PRED, 4)
    expected = np.array([[2, 1, 0, 0], [0, 2, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(cm, expected)


def test_plot_confusion():
    import matplotlib.pyplot as plt

    cm = confusion(Y_TRUE, Y_PRED, 3)
    ax = plot_confusion(cm, ["a", "b", "c"])
    texts = [t.get_text() for t in ax.texts]
    assert texts[:3] == ["0.67", "0.33", "0.00"]  # first row normalised: 2/3, 1/3, 0
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    fig, ax2 = plt.subplots()
    assert plot_confusion(cm, ["a", "b", "c"], ax=ax2, normalize=False) is ax2
    assert ax2.texts[0].get_text() == "2"
    plt.close("all")
    with pytest.raises(ValueError):
        plot_confusion(cm, ["a", "b"])


def test_mean_ci_two_values():
    # mean 0.85; s = sqrt(((0.05)^2 + (0.05)^2) / 1) = 0.0707107; s / sqrt(2) = 0.05
    # t_{0.975, 1}: one degree of freedom is the Cauchy law, quantile tan(pi (p - 1/2))
    t = math.tan(math.pi * (0.975 - 0.5))
    assert t == pytest.approx(12.7062047, abs=1e-6)
    mean, half = mean_ci([0.8, 0.9])
    assert mean == pytest.approx(0.85)
    assert half == pytest.approx(t * 0.05, rel=1e-9)
    assert half == pytest.approx(0.6353102, abs=1e-6)


def test_mean_ci_three_values():
    # s = 0.1, sem = 0.1 / sqrt(3); two degrees of freedom: t_p = (2p - 1) / sqrt(2 p (1 - p))
    p = 0.975
    t = (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    mean, half = mean_ci([0.7, 0.8, 0.9])
    assert mean == pytest.approx(0.8)
    assert half == pytest.approx(t * 0.1 / math.sqrt(3), rel=1e-9)
    # 90 %: p = 0.95
    p = 0.95
    t90 = (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    assert mean_ci([0.7, 0.8, 0.9], confidence=0.9)[1] == pytest.approx(t90 * 0.1 / math.sqrt(3))


def test_mean_ci_degenerate():
    mean, half = mean_ci([0.7])
    assert mean == 0.7 and math.isnan(half)
    mean, half = mean_ci([])
    assert math.isnan(mean) and math.isnan(half)
    mean, half = mean_ci([0.8, float("nan"), 0.9])  # NaN dropped
    assert mean == pytest.approx(0.85) and half == pytest.approx(0.6353102, abs=1e-6)
    assert mean_ci([0.5, 0.5, 0.5]) == (0.5, 0.0)
    with pytest.raises(ValueError):
        mean_ci([0.1, 0.2], confidence=95)


def test_summarize():
    df = pd.DataFrame(
        {
            "dataset": ["twitter1"] * 5 + ["emotion6"],
            "subset": ["five", "five", "four", "four", "four", None],
            "method": ["m"] * 6,
            "metrics.accuracy": [0.8, 0.9, 0.7, 0.8, 0.9, 0.6],
        }
    )
    s = summarize(df, by=["dataset", "subset", "method"], metric="accuracy")
    assert list(s.columns) == ["dataset", "subset", "method", "mean", "ci95", "std", "n"]
    assert len(s) == 3
    five = s[(s.dataset == "twitter1") & (s.subset == "five")].iloc[0]
    assert five["mean"] == pytest.approx(0.85)
    assert five["ci95"] == pytest.approx(0.6353102, abs=1e-6)
    assert five["n"] == 2
    e6 = s[s.dataset == "emotion6"].iloc[0]
    assert pd.isna(e6["subset"]) and e6["n"] == 1 and math.isnan(e6["ci95"])
    s1 = summarize(df, by="dataset", metric="metrics.accuracy", confidence=0.9)
    assert list(s1.columns) == ["dataset", "mean", "ci90", "std", "n"]
    assert s1.set_index("dataset").loc["twitter1", "n"] == 5
    with pytest.raises(KeyError):
        summarize(df, by="protocol")


