"""One pooled answer: do regions help a whole-image model, and by how much at most?

Every paper's region claim (:class:`~vsalib.methods.base.Claim` ``regions=True``) is the paired gain of its region
method over its own whole-image model, with the variance of that gain from its design (the corrected resampled t's
standard error, or the paired bootstrap's on a fixed split: :mod:`vsalib.verdicts`). This module pools them in a
random-effects meta-analysis (statsmodels' ``combine_effects``):

- **which claims**: one per paper and dataset. Twitter I's subsets are nested (five-agree ⊂ four-agree ⊂
  three-agree, the same images), and EmotionROI's fixed split and per-emotion cross-validation test the same
  images: they are not independent studies, so each paper enters once per dataset, with the run of most splits
  (ties: the most agreeing subset, the first protocol). Claims with one run or no spread have no variance and
  cannot enter. Different papers on one dataset (Sun2016, WSIDNet and MultiLevelRCNN on Twitter I five-agree)
  do share their test images: their gains are positively correlated, which makes the pooled interval somewhat
  too narrow. The book says so beside the result.
- **the estimator**: the between-claim variance τ² by Paule and Mandel (``method_re="iterated"``), and the
  pooled gain's interval from the t distribution on k − 1 degrees of freedom with the Hartung–Knapp–Sidik–
  Jonkman scale (statsmodels' "random effect wls" row): with a handful of claims the normal interval of
  DerSimonian and Laird is too narrow (IntHout et al., 2014).
- **heterogeneity**: Cochran's Q, I² = max(0, (Q − (k − 1)) / Q) and τ².
- **equivalence**: two one-sided tests against ±``MARGIN`` points (the verdicts' margin): the pooled gain is
  shown to be within it where its 90 % interval lies inside.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from vsalib.verdicts import MARGIN

#: The between-claim variance estimator passed to statsmodels' ``combine_effects``.
METHOD_RE = "iterated"  # Paule-Mandel
METHOD_NAME = "Paule–Mandel τ², Hartung–Knapp interval on k − 1 df"
#: Datasets whose rows test the same images (subsets, protocols): one row of each per paper.
FAMILIES = {"Twitter I": "Twitter I", "EmotionROI": "EmotionROI", "Emotion6": "Emotion6", "Twitter II": "Twitter II"}
#: Preference among rows with as many splits: the most agreeing Twitter I subset first.
SUBSET_ORDER = ("five-agree", "four-agree", "three-agree")

COLUMNS = ["paper", "dataset", "claim", "gain", "se", "ci95", "n", "paper gain", "verdict", "baseline", "paper's data"]


def family(dataset: str) -> str:
    """The dataset a scoreboard row's images come from (``Twitter I four-agree`` → ``Twitter I``)."""
    return next((f for key, f in FAMILIES.items() if dataset == key or dataset.startswith(key + " ")), dataset)


def pooled_claims(board: pd.DataFrame) -> pd.DataFrame:
    """The region claims that enter the pooled estimate: one per paper and dataset (module docstring), each with
    a finite positive standard error."""
    if not len(board) or "regions" not in board or "se" not in board:
        return pd.DataFrame(columns=COLUMNS)
    b = board[board["regions"].astype(bool)].copy()
    b = b[np.isfinite(b["se"].astype(float)) & (b["se"].astype(float) > 0) & (b["n"] >= 2)]
    if not len(b):
        return pd.DataFrame(columns=COLUMNS)
    b["family"] = b["dataset"].map(family)
    b["order"] = b["dataset"].map(lambda d: next((i for i, s in enumerate(SUBSET_ORDER) if s in d), 0))
    b["position"] = range(len(b))
    b = b.sort_values(["paper", "family", "n", "order", "position"], ascending=[True, True, False, True, True])
    b = b.drop_duplicates(["paper", "family"]).sort_values("position")
    return pd.DataFrame({"paper": b["paper"], "dataset": b["dataset"], "claim": b["claim"], "gain": b["our gain"],
                         "se": b["se"], "ci95": b["gain ci"], "n": b["n"], "paper gain": b["paper gain"],
                         "verdict": b["verdict"],
                         "baseline": b["ours baseline"] if "ours baseline" in b else np.nan,
                         "paper's data": b["paper's data"] if "paper's data" in b else None}).reset_index(drop=True)


@dataclass(frozen=True)
class Pooled:
    """The pooled region gain (points) over ``k`` claims: estimate, standard error, 95 % and 90 % intervals,
    the p-value against 0, heterogeneity (Q, I², τ²) and the equivalence test against ±``margin``."""

    k: int
    estimate: float
    se: float
    ci95: tuple[float, float]
    ci90: tuple[float, float]
    p: float
    q: float
    i2: float
    tau2: float
    margin: float
    p_tost: float
    equivalent: bool
    method: str = METHOD_NAME


def pool(claims: pd.DataFrame, margin: float = MARGIN) -> Pooled | None:
    """Random-effects meta-analysis of ``claims`` (:func:`pooled_claims`); None with fewer than two."""
    from statsmodels.stats.meta_analysis import combine_effects

    if len(claims) < 2:
        return None
    eff = claims["gain"].to_numpy(dtype=float)
    var = claims["se"].to_numpy(dtype=float) ** 2
    res = combine_effects(eff, var, method_re=METHOD_RE, use_t=True)
    k = len(eff)
    est, se = float(res.mean_effect_re), float(res.sd_eff_w_re_hksj)
    lo95, hi95 = (float(x) for x in res.conf_int(alpha=0.05, use_t=True)[3])  # random effect, HKSJ scale
    lo90, hi90 = (float(x) for x in res.conf_int(alpha=0.10, use_t=True)[3])
    df = k - 1
    p = float(2 * stats.t.sf(abs(est) / se, df)) if se > 0 else math.nan
    # two one-sided tests: H0 gain <= -margin and H0 gain >= +margin, each at 5 %
    p_tost = float(max(stats.t.sf((est + margin) / se, df), stats.t.cdf((est - margin) / se, df))) if se > 0 \
        else math.nan
    return Pooled(k=k, estimate=est, se=se, ci95=(lo95, hi95), ci90=(lo90, hi90), p=p, q=float(res.q),
                  i2=float(res.i2), tau2=float(res.tau2), margin=margin, p_tost=p_tost,
                  equivalent=bool(-margin < lo90 and hi90 < margin))


def answer(pooled: Pooled | None, claims: pd.DataFrame) -> str:
    """The study's answer in one sentence (plain text: the introduction pastes it), from the numbers."""
    if pooled is None:
        return ("The snapshot does not yet hold two region claims with a variance, so the papers' region gains "
                "cannot be pooled.")
    g = pooled
    papers = claims["paper"].nunique()
    printed = claims["paper gain"].dropna()
    paper_part = (f" The papers printed gains of {printed.min():+.1f} to {printed.max():+.1f} points for "
                  f"{len(printed)} of these comparisons." if len(printed) else "")
    if g.equivalent:
        verdict = (f"the region gain lies within ±{g.margin:g} points (equivalence shown: 90 % CI "
                   f"{g.ci90[0]:+.2f} to {g.ci90[1]:+.2f}, TOST p = {g.p_tost:.3f})")
    elif g.p < 0.05:
        verdict = f"the regions {'help' if g.estimate > 0 else 'hurt'} (p = {g.p:.3f})"
    else:
        verdict = (f"neither a gain nor a loss is shown (p = {g.p:.2f}), and equivalence within ±{g.margin:g} "
                   f"points is not shown either (90 % CI {g.ci90[0]:+.2f} to {g.ci90[1]:+.2f}, TOST p = "
                   f"{g.p_tost:.2f})")
    return (f"Pooled over {g.k} region claims of {papers} papers (one per paper and dataset), adding a paper's "
            f"regions to its own whole-image model changes accuracy by {g.estimate:+.2f} points (95 % CI "
            f"{g.ci95[0]:+.2f} to {g.ci95[1]:+.2f}; random effects, τ² = {g.tau2:.2f}, I² = {100 * g.i2:.0f} %): "
            f"{verdict}.{paper_part}")


def summary(pooled: Pooled | None) -> pd.DataFrame:
    """The pooled estimate as a one-row table."""
    if pooled is None:
        return pd.DataFrame(columns=["claims", "pooled gain", "95 % CI", "p", "τ²", "I²", "Q", "90 % CI",
                                     "TOST p (±2)", "estimator"])
    g = pooled
    return pd.DataFrame([{"claims": g.k, "pooled gain": f"{g.estimate:+.2f}",
                          "95 % CI": f"{g.ci95[0]:+.2f} to {g.ci95[1]:+.2f}", "p": f"{g.p:.3f}",
                          "τ²": f"{g.tau2:.2f}", "I²": f"{100 * g.i2:.0f} %", "Q": f"{g.q:.2f} (df {g.k - 1})",
                          "90 % CI": f"{g.ci90[0]:+.2f} to {g.ci90[1]:+.2f}",
                          f"TOST p (±{g.margin:g})": f"{g.p_tost:.3f}", "estimator": g.method}])


@dataclass(frozen=True)
class Trend:
    """A meta-regression of ``k`` gains on one moderator: ``gain = intercept + slope · x`` (points per unit of
    x), the slope's standard error, 95 % interval and p-value on k − 2 degrees of freedom, and the residual τ²."""

    k: int
    intercept: float
    slope: float
    se: float
    ci95: tuple[float, float]
    p: float
    tau2: float
    method: str = "method-of-moments τ², WLS with the Knapp–Hartung scale on k − 2 df"


def meta_regression(gain, se, x) -> Trend | None:
    """Mixed-effects meta-regression of ``gain`` (points, standard errors ``se``) on the moderator ``x``:
    ``gain_i = b0 + b1 x_i + u_i + e_i`` with ``u_i ~ N(0, τ²)`` and ``e_i ~ N(0, se_i²)``. τ² by the method of
    moments for regression (DerSimonian and Laird's, extended: ``τ² = max(0, (Q_E − (k − 2)) / tr P)`` with
    ``Q_E`` the fixed-effect residual sum of squares and ``P = W − W X (XᵀWX)⁻¹ XᵀW``, ``W = diag(1/se²)``); then
    weighted least squares with weights ``1/(se² + τ²)`` (statsmodels' WLS), whose scale, the weighted residual
    variance, is the Knapp–Hartung adjustment; the slope's interval from t on k − 2 degrees of freedom. None with
    fewer than three points, a non-positive standard error or a constant moderator."""
    import statsmodels.api as sm

    y, v, x = (np.asarray(a, dtype=float) for a in (gain, se, x))
    ok = np.isfinite(y) & np.isfinite(v) & np.isfinite(x)
    y, v, x = y[ok], v[ok] ** 2, x[ok]
    k = len(y)
    if k < 3 or (v <= 0).any() or np.ptp(x) == 0:
        return None
    X = sm.add_constant(x)
    w = 1.0 / v
    fixed = sm.WLS(y, X, weights=w).fit()
    q_e = float(np.sum(w * fixed.resid ** 2))
    xtwx_inv = np.linalg.inv(X.T @ (w[:, None] * X))
    trace_p = float(w.sum() - np.trace(xtwx_inv @ (X.T @ ((w ** 2)[:, None] * X))))
    tau2 = max(0.0, (q_e - (k - 2)) / trace_p) if trace_p > 0 else 0.0
    fit = sm.WLS(y, X, weights=1.0 / (v + tau2)).fit()
    b0, b1 = (float(b) for b in fit.params)
    se1 = float(fit.bse[1])
    t_crit = float(stats.t.ppf(0.975, k - 2))
    p = float(2 * stats.t.sf(abs(b1) / se1, k - 2)) if se1 > 0 else math.nan
    return Trend(k=k, intercept=b0, slope=b1, se=se1, ci95=(b1 - t_crit * se1, b1 + t_crit * se1), p=p, tau2=tau2)


def forest_plot(claims: pd.DataFrame, pooled: Pooled | None, names: dict[str, str] | None = None, ax=None):
    """Each claim's gain ± its 95 % CI (ours), the paper's gain beside it (a cross, where printed), the pooled
    estimate as a diamond (its 95 % CI), and the ±margin band."""
    import matplotlib.pyplot as plt

    names = names or {}
    k = len(claims)
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 0.45 * (k + 3) + 1))
    ys = np.arange(k, 0, -1) + 1.0
    margin = pooled.margin if pooled is not None else MARGIN
    ax.axvspan(-margin, margin, color="0.92", zorder=0, label=f"±{margin:g} points")
    ax.axvline(0, color="0.4", lw=0.8)
    ax.errorbar(claims["gain"], ys, xerr=claims["ci95"].fillna(0), fmt="s", color="C0", capsize=3,
                label="our gain (95 % CI)")
    paper = claims["paper gain"].astype(float)
    other = (claims["paper's data"].map(lambda d: isinstance(d, str) and bool(d)) if "paper's data" in claims
             else pd.Series(False, index=claims.index))
    shown = np.isfinite(paper) & ~other
    if shown.any():
        ax.plot(paper[shown], ys[shown.to_numpy()], "x", color="C3", ms=8, mew=2, label="paper's gain")
    elsewhere = np.isfinite(paper) & other
    if elsewhere.any():
        ax.plot(paper[elsewhere], ys[elsewhere.to_numpy()], "x", color="C1", ms=7, mew=1.2,
                label="paper's gain on another dataset")
    labels = [f"{names.get(p, p)} · {d}" for p, d in zip(claims["paper"], claims["dataset"])]
    if pooled is not None:
        lo, hi = pooled.ci95
        ax.fill([lo, pooled.estimate, hi, pooled.estimate], [0.5, 0.8, 0.5, 0.2], color="k",
                label="pooled (random effects, 95 % CI)")
        labels.append("pooled")
    ax.set_yticks(list(ys) + ([0.5] if pooled is not None else []), labels)
    ax.set_xlabel("region gain over the paper's own whole-image model (points)")
    ax.legend(loc="lower right", fontsize="small")
    return ax


__all__ = ["COLUMNS", "METHOD_NAME", "METHOD_RE", "Pooled", "Trend", "answer", "family", "forest_plot",
           "meta_regression", "pool", "pooled_claims", "summary"]
