"""How a claim's verdict is reached (the book's page *How a verdict is reached*).

A claim says that one row of a paper's table beats another. Both rows ran on the same splits, so each split
gives a paired difference ``d_j`` (points of accuracy, j = 1..J over folds and repetitions). The verdict:

1. **Corrected resampled t** (Nadeau and Bengio, 2003; Bouckaert and Frank, 2004 for repeated k-fold): the
   splits' training sets overlap, so the differences are correlated and ``s² / J`` understates the variance of
   their mean. The corrected variance is ``(1/J + n_test/n_train) s²``; t has J − 1 degrees of freedom. The 95 %
   interval we print is this corrected one.
2. **McNemar's test** on the pooled test predictions of one repetition, the first seed's folds, so that each
   test image counts once (exact binomial on the images where exactly one of the two rows is right), where the
   records hold them. A claim is significant only where both tests are (the larger of
   the two p-values), so neither the spread over splits nor the count of test images alone decides it.
3. **Holm's correction** over the claims of one chapter on one dataset (the family), at α = 0.05.
4. **Verdicts**: *held* / *reversed*: significant after the correction, our gain above / below 0; *paper's
   gain ruled out*: not significant, and the paper's gain lies beyond our corrected 95 % interval on the side
   it claims; *consistent with the paper*: the corrected 90 % interval lies within ±``margin`` points and the
   paper's gain, itself within ±``margin``, lies inside our 95 % interval; *no practical difference*: the 90 %
   interval lies within ±``margin`` points (two one-sided tests at α) and the paper printed a larger gain or
   none; *not testable here*: none of these, and the paper's gain is smaller than the gain the design detects
   with 80 % power; *not resolved*: none of these, where the design could have detected the paper's gain.
   *no difference*: every paired difference is 0; *one run only*: one split, no interval.

The detectable gain comes from the exact noncentral t distribution on the design's degrees of freedom
(:func:`detectable_gain`), which :class:`Test` keeps beside it (``df``).

Five identical non-zero differences have no spread: the t-test is undefined there, no interval is printed and
no equivalence shown, and only McNemar's test (or nothing, without predictions) can call them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import optimize, stats

ALPHA = 0.05
POWER = 0.8
#: Points of accuracy within which a gain counts as no practical difference.
MARGIN = 2.0
VERDICTS = ("held", "reversed", "paper's gain ruled out", "consistent with the paper", "no practical difference",
            "not testable here", "not resolved", "no difference", "one run only", "–")


@dataclass(frozen=True)
class Design:
    """What the correction needs of a run's splits: n_test / n_train, and where that ratio was read."""

    test_train_ratio: float
    source: str


@dataclass(frozen=True)
class Test:
    """One claim's test: mean gain and corrected 95 % half-width (points), J splits, the corrected t's p-value,
    McNemar's (nan without predictions), the smallest gain detectable with 80 % power (points), and the verdict."""

    gain: float
    ci95: float
    n: int
    p_t: float
    p_mcnemar: float
    detectable: float
    verdict: str = "–"
    p_holm: float = math.nan
    se: float = math.nan  # the corrected standard error of the gain (points)
    all_zero: bool = False  # every paired difference is 0 (the two rows predicted alike wherever it matters)
    df: int = 0  # the corrected t's degrees of freedom (J - 1), on which ci95 and detectable rest


def corrected_t(d: Sequence[float], ratio: float) -> tuple[float, float, int, float]:
    """``(mean, corrected standard error, degrees of freedom, two-sided p)`` of paired differences over J
    splits whose training sets overlap: variance ``(1/J + ratio) s²`` (Nadeau and Bengio). With no spread the
    standard error is 0 and p is nan (undefined)."""
    v = np.asarray(d, dtype=float)
    v = v[~np.isnan(v)]
    j = v.size
    if j < 2:
        return (float(v.mean()) if j else math.nan), math.nan, max(j - 1, 0), math.nan
    se = math.sqrt((1.0 / j + ratio) * float(v.var(ddof=1)))
    if float(np.ptp(v)) < 1e-9:  # no spread (up to the rounding of accuracies stored as fractions)
        return float(v.mean()), 0.0, j - 1, math.nan
    t = float(v.mean()) / se
    return float(v.mean()), se, j - 1, float(2 * stats.t.sf(abs(t), j - 1))


def mcnemar(y_true, pred_a, pred_b) -> float:
    """Two-sided exact McNemar p-value of two classifiers' predictions on the same images: a binomial test of
    the images only ``a`` gets right against those only ``b`` gets right (1.0 where they never disagree)."""
    y, a, b = (np.asarray(x).reshape(-1) for x in (y_true, pred_a, pred_b))
    if not (len(y) == len(a) == len(b)):
        raise ValueError(f"McNemar needs predictions of the same images: {len(y)}, {len(a)}, {len(b)}")
    only_a, only_b = int(((a == y) & (b != y)).sum()), int(((a != y) & (b == y)).sum())
    if only_a + only_b == 0:
        return 1.0
    return float(stats.binomtest(only_a, only_a + only_b, 0.5).pvalue)


def mcnemar_folds(folds: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The ``(seed, fold)`` splits whose test predictions McNemar's test pools: the first repetition's (the
    smallest seed). Its test parts hold each image at most once, while repeated k-fold CV, or a fixed split run
    with several seeds, puts the same image in the test part of every repetition, and McNemar's test counts its
    images as independent."""
    folds = list(folds)
    if not folds:
        return []
    first = min(f[0] for f in folds)
    return [f for f in folds if f[0] == first]


def detectable_gain(se: float, df: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """The smallest true gain (points) that a two-sided t-test at ``alpha`` on ``df`` degrees of freedom, with
    standard error ``se``, finds with probability ``power``: the δ with ``P(|T| > t_{1-α/2}) = power`` for ``T``
    noncentral t with noncentrality ``δ / se`` (exact; the textbook ``(t_{1-α/2} + t_{power}) · se`` is its
    approximation, a few per cent low at 2-4 degrees of freedom)."""
    if df < 1 or not math.isfinite(se):
        return math.nan
    if se == 0:
        return 0.0
    crit = stats.t.ppf(1 - alpha / 2, df)

    def shortfall(nc: float) -> float:
        return float(stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc)) - power

    guess = crit + stats.t.ppf(power, df)
    hi = guess
    while hi < 1e3 and shortfall(hi) < 0:
        hi *= 1.5
    if not shortfall(hi) >= 0:  # the noncentral t does not evaluate there (one degree of freedom): the approximation
        return float(guess * se)
    return float(optimize.brentq(shortfall, 0.0, hi, xtol=1e-10) * se)


def holm(p: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (nan stays nan and does not count in the family)."""
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    order = ok[np.argsort(p[ok])]
    m, running = len(order), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def test_claim(d: Sequence[float], ratio: float, *, paper_gain: float = math.nan, y_true=None, pred_better=None,
               pred_worse=None, alpha: float = ALPHA) -> Test:
    """One claim's test before the family's correction (:func:`decide` gives the verdict)."""
    v = np.asarray(list(d), dtype=float)
    v = v[~np.isnan(v)]
    mean, se, df, p_t = corrected_t(v, ratio)
    p_mc = mcnemar(y_true, pred_better, pred_worse) if y_true is not None else math.nan
    spread = df >= 1 and math.isfinite(se) and se > 0  # identical differences estimate no variance at all
    ci = float(stats.t.ppf(1 - alpha / 2, df) * se) if spread else math.nan
    return Test(float(mean) if v.size else math.nan, ci, int(v.size), p_t, p_mc,
                detectable_gain(se, df, alpha) if spread else math.nan, se=se,
                all_zero=bool(v.size and (v == 0).all()), df=int(df))


def _p(t: Test) -> float:
    """The p-value a claim enters the family with: both tests where both exist (the larger), McNemar's alone
    where the splits have no spread, nan where neither applies (it then cannot be significant)."""
    if t.n < 2:
        return math.nan
    if math.isnan(t.p_t):
        return t.p_mcnemar
    return t.p_t if math.isnan(t.p_mcnemar) else max(t.p_t, t.p_mcnemar)


def decide(tests: Sequence[Test], paper_gains: Sequence[float] | None = None, *, margin: float = MARGIN,
           alpha: float = ALPHA) -> list[Test]:
    """The family's verdicts: Holm over the claims' p-values, then held / reversed / no practical difference /
    not testable here / not resolved (module docstring)."""
    from dataclasses import replace

    adjusted = holm([_p(t) for t in tests])
    papers = [math.nan] * len(tests) if paper_gains is None else list(paper_gains)
    out = []
    for t, paper, p in zip(tests, papers, adjusted):
        if t.n == 0:
            verdict = "–"
        elif t.n == 1:
            verdict = "one run only"
        elif t.all_zero:
            verdict = "no difference"
        elif not math.isnan(p) and p < alpha:
            verdict = "held" if t.gain > 0 else "reversed"
        elif _rules_out(t, paper):
            verdict = "paper's gain ruled out"
        elif _equivalent(t, margin, alpha):
            inside = math.isfinite(paper) and abs(paper) < margin and abs(paper - t.gain) <= t.ci95
            verdict = "consistent with the paper" if inside else "no practical difference"
        elif math.isfinite(paper) and math.isfinite(t.detectable) and abs(paper) < t.detectable:
            verdict = "not testable here"
        else:
            verdict = "not resolved"
        out.append(replace(t, verdict=verdict, p_holm=float(p)))
    return out


def _rules_out(t: Test, paper: float) -> bool:
    """Whether the paper's gain lies beyond our corrected 95 % interval on the side the paper claims (a gain
    above the interval's top, or a loss below its bottom)."""
    if not (math.isfinite(paper) and paper != 0 and math.isfinite(t.ci95)):
        return False
    return t.gain + t.ci95 < paper if paper > 0 else t.gain - t.ci95 > paper


def _equivalent(t: Test, margin: float, alpha: float) -> bool:
    """Two one-sided tests at ``alpha``: the corrected (1 − 2α) interval within ±margin. Identical differences
    (no spread) give no interval: they cannot show equivalence, as they cannot show a gain by the t-test."""
    if t.n < 2 or not math.isfinite(t.se) or t.se <= 0:
        return False
    half = stats.t.ppf(1 - alpha, t.n - 1) * t.se
    return -margin < t.gain - half and t.gain + half < margin


# -- the design of a run, read from its records --------------------------------------------------------------
#: n_test / n_train of the datasets' fixed splits (EmotionROI: 594 / 1386).
FIXED_RATIOS = {"emotionroi": 594 / 1386}


def design_of(runs: pd.DataFrame) -> Design:
    """n_test / n_train of the splits ``runs`` (the store's rows of one run) come from: the records' own sizes
    where they hold them (``extra.sizes.*``, written since this module), else the protocol: k folds → 1/(k−1),
    EmotionROI's fixed split → 594/1386, a ratio split → the test part over the rest from the records' test
    labels and the dataset's size where known, else the R-CNNGSR split's 20/75."""
    if len(runs) and {"extra.sizes.test", "extra.sizes.train"} <= set(runs.columns):
        s = runs[["extra.sizes.test", "extra.sizes.train"]].dropna()
        if len(s) and (s["extra.sizes.train"] > 0).all():
            return Design(float((s["extra.sizes.test"] / s["extra.sizes.train"]).median()), "the records' sizes")
    protocol = str(runs["protocol"].dropna().iloc[0]) if len(runs) and "protocol" in runs and \
        runs["protocol"].notna().any() else ""
    if protocol.startswith("kfold"):
        k = int("".join(ch for ch in protocol[5:] if ch.isdigit()) or 5)
        return Design(1.0 / (k - 1), f"{k}-fold cross-validation")
    dataset = str(runs["dataset"].iloc[0]) if len(runs) and "dataset" in runs else ""
    if protocol == "fixed" and dataset in FIXED_RATIOS:
        return Design(FIXED_RATIOS[dataset], f"{dataset}'s fixed split")
    return Design(0.20 / 0.75, "a 75/20/5 random split (assumed)")


__all__ = ["ALPHA", "Design", "FIXED_RATIOS", "MARGIN", "POWER", "Test", "VERDICTS", "corrected_t", "decide",
           "design_of", "detectable_gain", "holm", "mcnemar", "mcnemar_folds", "test_claim"]
