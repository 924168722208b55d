"""The pooled region gain (vsalib.meta_analysis) against values worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from vsalib import meta_analysis as M


def _claims(gains, ses, papers=None, paper_gains=None):
    k = len(gains)
    return pd.DataFrame({"paper": papers or [f"p{i}" for i in range(k)], "dataset": ["D"] * k,
                         "claim": ["regions"] * k, "gain": gains, "se": ses,
                         "ci95": [1.96 * s for s in ses], "n": [5] * k,
                         "paper gain": paper_gains or [math.nan] * k, "verdict": ["not resolved"] * k})


def test_pool_without_heterogeneity_by_hand():
    """Gains 1, 2, 3 with variance 1 each: Q = 1 + 0 + 1 = 2 = k − 1, so Paule–Mandel's τ² is 0, the estimate the
    plain mean 2, the Hartung–Knapp scale Q / (k − 1) = 1, se = √(1/3), the 95 % interval 2 ± t(0.975, 2) · se,
    I² = 0; the 90 % interval reaches past +2, so equivalence within ±2 fails (TOST p = 0.5)."""
    g = M.pool(_claims([1.0, 2.0, 3.0], [1.0, 1.0, 1.0]))
    se = math.sqrt(1 / 3)
    assert g.k == 3 and g.estimate == pytest.approx(2.0) and g.se == pytest.approx(se)
    assert g.tau2 == pytest.approx(0.0, abs=1e-8) and g.i2 == pytest.approx(0.0, abs=1e-8)
    assert g.q == pytest.approx(2.0)
    half = stats.t.ppf(0.975, 2) * se
    assert g.ci95 == pytest.approx((2 - half, 2 + half))
    assert g.p == pytest.approx(2 * stats.t.sf(2 / se, 2))
    assert g.p_tost == pytest.approx(0.5) and not g.equivalent


def test_pool_with_heterogeneity_by_hand():
    """Gains 0 and 10 with variance 1: Q = 2 · 5² = 50, I² = (50 − 1) / 50 = 0.98, and Paule–Mandel's τ² solves
    Σ (y − ȳ)² / (1 + τ²) = k − 1, i.e. 50 / (1 + τ²) = 1: τ² = 49."""
    g = M.pool(_claims([0.0, 10.0], [1.0, 1.0]))
    assert g.estimate == pytest.approx(5.0) and g.q == pytest.approx(50.0)
    assert g.i2 == pytest.approx(0.98) and g.tau2 == pytest.approx(49.0, rel=1e-4)


def test_equivalence_and_one_claim():
    tight = M.pool(_claims([0.1, -0.2, 0.0, 0.1], [0.3, 0.3, 0.3, 0.3]))
    assert tight.equivalent and tight.p_tost < 0.05
    assert "within ±2 points (equivalence shown" in M.answer(tight, _claims([0.1, -0.2, 0.0, 0.1], [0.3] * 4))
    assert M.pool(_claims([1.0], [1.0])) is None
    assert "cannot be pooled" in M.answer(None, _claims([1.0], [1.0]))


def _board(rows):
    cols = ["paper", "dataset", "claim", "regions", "our gain", "se", "gain ci", "n", "paper gain", "verdict"]
    return pd.DataFrame(rows, columns=cols)


def test_pooled_claims_take_one_row_per_paper_and_dataset():
    """Twitter I's nested subsets and EmotionROI's two protocols test the same images: one row each per paper,
    the one of most splits (ties: five-agree before four-agree); no variance (one run) cannot enter; a claim
    that is not a region claim never does."""
    board = _board([
        ["sun", "Twitter I five-agree", "r", True, 0.1, 1.0, 2.0, 15, 0.16, "x"],
        ["sun", "Twitter I four-agree", "r", True, 0.5, 1.5, 3.0, 5, 1.8, "x"],
        ["wsid", "Twitter I four-agree", "r", True, 0.8, 2.0, 4.0, 5, 5.7, "x"],
        ["wsid", "Twitter I five-agree", "r", True, 2.0, 3.0, 6.0, 5, 6.9, "x"],
        ["rao", "EmotionROI (fixed split)", "r", True, -3.0, 1.4, 2.8, 3, np.nan, "x"],
        ["rao", "EmotionROI (per-emotion 5-fold CV)", "r", True, -2.2, 1.6, 3.4, 5, np.nan, "x"],
        ["rao", "EmotionROI (emotion)", "r", True, -4.9, np.nan, np.nan, 1, np.nan, "one run only"],
        ["rao", "Twitter I five-agree", "c", False, 1.0, 1.0, 2.0, 5, np.nan, "x"],
        ["sun", "Twitter II", "r", True, -0.2, 0.7, 1.4, 5, 6.29, "x"],  # other images than Twitter I's
    ])
    c = M.pooled_claims(board)
    assert list(zip(c["paper"], c["dataset"])) == [("sun", "Twitter I five-agree"), ("wsid", "Twitter I five-agree"),
                                                  ("rao", "EmotionROI (per-emotion 5-fold CV)"), ("sun", "Twitter II")]
    assert list(c["gain"]) == [0.1, 2.0, -2.2, -0.2] and list(c["se"]) == [1.0, 3.0, 1.6, 0.7]
    assert M.family("Twitter I three-agree") == "Twitter I" and M.family("Emotion6") == "Emotion6"
    assert M.family("Twitter II") == "Twitter II" and M.family("Twitter I") == "Twitter I"


def test_meta_regression_by_hand():
    """Three points on x = 0, 1, 2 with unit standard errors: y = 1, 2, 4 lie nearly on a line (Q_E = 1/6 < k − 2,
    so τ² = 0): OLS slope 1.5, intercept 5/6, Knapp–Hartung scale Σr²/(k − 2) = 1/6, se(b1) = √(1/6 / 2).
    Four points y = 0, 3, 0, 3 on x = 0..3: slope 0.6, residuals ±0.6, ±1.8, Q_E = 7.2, tr P = 4 − 2, so
    τ² = (7.2 − 2)/2 = 2.6; equal weights 1/3.6 keep the slope, the scale is (7.2/3.6)/2 = 1 and
    var(b1) = 3.6/Sxx = 3.6/5."""
    t = M.meta_regression([1, 2, 4], [1, 1, 1], [0, 1, 2])
    assert t.k == 3 and t.tau2 == 0.0
    assert t.slope == pytest.approx(1.5) and t.intercept == pytest.approx(5 / 6)
    assert t.se == pytest.approx(math.sqrt(1 / 12))
    half = stats.t.ppf(0.975, 1) * math.sqrt(1 / 12)
    assert t.ci95 == pytest.approx((1.5 - half, 1.5 + half))
    assert t.p == pytest.approx(2 * stats.t.sf(1.5 / math.sqrt(1 / 12), 1))
    t = M.meta_regression([0, 3, 0, 3], [1, 1, 1, 1], [0, 1, 2, 3])
    assert t.tau2 == pytest.approx(2.6) and t.slope == pytest.approx(0.6) and t.intercept == pytest.approx(0.6)
    assert t.se == pytest.approx(math.sqrt(3.6 / 5))
    assert M.meta_regression([1, 2], [1, 1], [0, 1]) is None  # two points: no degrees of freedom
    assert M.meta_regression([1, 2, 3], [1, 1, 1], [5, 5, 5]) is None  # a constant moderator
    assert M.meta_regression([1, 2, 3], [1, 0, 1], [0, 1, 2]) is None  # no spread in one point


def test_forest_plot_draws_every_claim_and_the_diamond():
    import matplotlib

    matplotlib.use("Agg")
    c = _claims([1.0, 2.0, 3.0], [1.0, 1.0, 1.0], paper_gains=[5.0, math.nan, 7.0])
    ax = M.forest_plot(c, M.pool(c), {"p0": "Paper 0"})
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == "Paper 0 · D" and labels[-1] == "pooled"
    crosses = [ln for ln in ax.lines if ln.get_marker() == "x"]
    assert len(crosses) == 1 and list(crosses[0].get_xdata()) == [5.0, 7.0]


def test_forest_plot_marks_a_gain_from_another_dataset():
    import matplotlib

    matplotlib.use("Agg")
    c = _claims([1.0, 2.0], [1.0, 1.0], paper_gains=[5.0, 7.0]).assign(**{"paper's data": [None, "FI, 2 classes"]})
    ax = M.forest_plot(c, M.pool(c))
    crosses = {ln.get_label(): list(ln.get_xdata()) for ln in ax.lines if ln.get_marker() == "x"}
    assert crosses == {"paper's gain": [5.0], "paper's gain on another dataset": [7.0]}
