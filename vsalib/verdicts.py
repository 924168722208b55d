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
   **On a fixed split** (every seed tests the same images, e.g. EmotionROI's 594), the Nadeau–Bengio correction,
   made for resampled splits, does not apply: there the per-image :func:`paired_bootstrap` (seeds and test
   images resampled) replaces both tests.
3. **Holm's correction** over the claims of one chapter on one dataset (the family), at α = 0.05. How many
   verdicts survive a correction over the whole scoreboard is reported beside it (:func:`survive_globally`).
4. **Verdicts**: *held* / *reversed*: significant after the correction, our gain above / below 0; *paper's
   gain ruled out*: not significant, and the paper's gain lies beyond our corrected 95 % interval on the side
   it claims; *consistent with the paper*: the corrected 90 % interval lies within ±``margin`` points and the
   paper's gain, itself within ±``margin``, lies inside our 95 % interval; *no practical difference*: the 90 %
   interval lies within ±``margin`` points (two one-sided tests at α) and the paper printed a larger gain or
   none; *not testable here*: none of these, and the paper's gain is smaller than the gain the design detects
   with 80 % power; *not resolved*: none of these, where the design could have detected the paper's gain.
   *identical by construction*: every paired difference is 0 and the two rows' predictions agree on every
   pooled test image (one model under two names); *no difference*: every paired difference is 0 (the
   predictions unknown, or disagreeing both ways); *one run only*: one split, no interval.

The detectable gain comes from the exact noncentral t distribution on the design's degrees of freedom
(:func:`detectable_gain`), which :class:`Test` keeps beside it (``df``), at the level Holm applies to the claim
(:func:`holm_levels`), and is McNemar's (:func:`mcnemar_detectable`) where that is larger and McNemar must agree.

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
            "not testable here", "not resolved", "identical by construction", "no difference", "one run only", "–")


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
    basis: str = "corrected t"  # or "paired bootstrap" (a fixed split: the test images resampled, :func:`paired_bootstrap`)
    n_images: int = 0  # test images behind McNemar's test (the first repetition's) or the bootstrap
    discordant: int = -1  # images exactly one of the two rows gets right (-1: no predictions)
    p: float = math.nan  # the p-value the claim enters its family with (:func:`_p`)
    alpha_used: float = math.nan  # the level Holm applies to this claim (its step), at which ``detectable`` is computed


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


def mcnemar_detectable(n_images: int, discordant: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """The smallest gain (points) that McNemar's exact test on ``n_images`` pooled test images, ``discordant`` of
    which exactly one of the two rows gets right, finds with probability ``power`` at two-sided ``alpha``: a
    gain ``g`` means ``g · n_images / 100`` more images right only by the better row, so its share of the
    discordant ones is ``π = (1 + g n / (100 D)) / 2``; the test rejects where ``2 P(X ≥ k) ≤ α`` for
    ``X ~ Bin(D, 1/2)``, and its power is ``P(Bin(D, π) ≥ k)`` (the lower tail adds at most α/2). Infinite where
    even π = 1 (every discordant image the better row's) is not enough, nan without predictions."""
    if n_images <= 0 or discordant < 0:
        return math.nan
    if discordant == 0:
        return math.inf
    d = int(discordant)
    ks = np.arange(d + 1)
    reject = 2 * stats.binom.sf(ks - 1, d, 0.5) <= alpha  # two-sided exact p of k (k > d/2), symmetric at 1/2
    reject &= ks > d / 2
    if not reject.any():
        return math.inf
    k = int(ks[reject].min())

    def shortfall(pi: float) -> float:
        return float(stats.binom.sf(k - 1, d, pi)) - power

    if shortfall(1.0) < 0:
        return math.inf
    pi = optimize.brentq(shortfall, 0.5, 1.0, xtol=1e-12)
    return float(100 * (2 * pi - 1) * d / n_images)


def paired_bootstrap(correct_a, correct_b, *, n_boot: int = 10_000, seed: int = 0,
                     alpha: float = ALPHA) -> tuple[float, float, float, float]:
    """A paired bootstrap on one fixed split run with several seeds: ``correct_*[s, i]`` is 1 where seed
    ``s``'s model of row a (b) gets test image ``i`` right, and the gain is ``100 · mean_si (a_si − b_si)``.
    Each of ``n_boot`` resamples (seeded) draws the seeds with replacement and then the test images with
    replacement (two stages: the images vary as a new test set would, the seeds as new training runs would,
    so the interval holds both sources of chance; with one seed it is the bootstrap over images alone).
    Returns ``(gain, se, half, p)`` in points: the bootstrap standard error, the half-width of the symmetric
    95 % interval (the 95th percentile of ``|gain* − gain|``) and the two-sided p of the null shifted to 0
    (the share of resamples with ``|gain* − gain| ≥ |gain|``, at least ``1 / n_boot``).

    Every seed tests the same images, so the spread over seeds says nothing about the images' sampling: the
    corrected t of :func:`corrected_t` (made for resampled splits) does not apply here."""
    a, b = np.atleast_2d(np.asarray(correct_a, dtype=float)), np.atleast_2d(np.asarray(correct_b, dtype=float))
    if a.shape != b.shape or not a.size:
        raise ValueError(f"the paired bootstrap needs both rows' correctness on the same seeds and images: "
                         f"{a.shape} against {b.shape}")
    d = a - b  # seeds × images
    n_seeds, n_images = d.shape
    gain = 100 * float(d.mean())
    rng = np.random.default_rng(seed)
    boot = np.empty(n_boot)
    for start in range(0, n_boot, 1000):  # in blocks of 1000 resamples
        m = min(1000, n_boot - start)
        seeds = rng.multinomial(n_seeds, np.full(n_seeds, 1.0 / n_seeds), size=m)  # m × seeds: times drawn
        offset = n_images * np.arange(m, dtype=np.int32)[:, None]  # row r's images counted in its own bins
        idx = rng.integers(0, n_images, size=(m, n_images), dtype=np.int32) + offset
        images = np.bincount(idx.ravel(), minlength=m * n_images).reshape(m, n_images).astype(float)  # times drawn
        # a resample's gain: Σ_s Σ_i seeds[s] images[i] d[s, i] / (S N)
        boot[start:start + m] = 100 * (seeds * (images @ d.T)).sum(axis=1) / (n_seeds * n_images)
    dev = np.abs(boot - gain)
    se = float(boot.std(ddof=1))
    if se < 1e-12:
        return gain, 0.0, 0.0, (1.0 if abs(gain) < 1e-12 else 0.0)
    half = float(np.quantile(dev, 1 - alpha))
    p = float(max((dev >= abs(gain) - 1e-12).mean(), 1.0 / n_boot))
    return gain, se, half, p


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

    def shortfall(nc: float) -> float:  # the lower tail, far below 1e-6 where it fails to evaluate, counts as 0
        lower = float(stats.nct.cdf(-crit, df, nc))
        return float(stats.nct.sf(crit, df, nc)) + (lower if math.isfinite(lower) else 0.0) - power

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
               pred_worse=None, fixed_split: tuple | None = None, alpha: float = ALPHA) -> Test:
    """One claim's test before the family's correction (:func:`decide` gives the verdict).

    ``d``: the paired differences per split (points); ``y_true``, ``pred_*``: the pooled test predictions of
    the first repetition, for McNemar's test. ``fixed_split``: ``(correct_better, correct_worse)``, seeds ×
    images, where every split tests the same images (a fixed split run with several seeds): the per-image
    :func:`paired_bootstrap` then replaces the corrected t and McNemar's test (it is itself the per-image test,
    over every seed), and ``df`` is the images' count less one."""
    v = np.asarray(list(d), dtype=float)
    v = v[~np.isnan(v)]
    all_zero = bool(v.size and (v == 0).all())
    if fixed_split is not None and v.size >= 2:
        better, worse = (np.atleast_2d(np.asarray(x, dtype=float)) for x in fixed_split)
        gain, se, half, p = paired_bootstrap(better, worse, alpha=alpha)
        n_img = int(better.shape[1])
        disc = int((better != worse).any(axis=0).sum())
        return Test(gain, half if se > 0 else math.nan, int(v.size), p, math.nan,
                    detectable_gain(se, n_img - 1, alpha) if se > 0 else math.nan, se=se, all_zero=all_zero,
                    df=n_img - 1, basis="paired bootstrap", n_images=n_img, discordant=disc)
    mean, se, df, p_t = corrected_t(v, ratio)
    p_mc, n_img, disc = math.nan, 0, -1
    if y_true is not None:
        y, a, b = (np.asarray(x).reshape(-1) for x in (y_true, pred_better, pred_worse))
        p_mc, n_img, disc = mcnemar(y, a, b), int(len(y)), int(((a == y) != (b == y)).sum())
    spread = df >= 1 and math.isfinite(se) and se > 0  # identical differences estimate no variance at all
    ci = float(stats.t.ppf(1 - alpha / 2, df) * se) if spread else math.nan
    detectable = detectable_gain(se, df, alpha) if spread else math.nan
    return Test(float(mean) if v.size else math.nan, ci, int(v.size), p_t, p_mc, detectable, se=se,
                all_zero=all_zero, df=int(df), n_images=n_img, discordant=disc)


def required_detectable(t: Test, alpha: float) -> float:
    """The gain the claim's design detects with 80 % power at level ``alpha`` under the rule that decides it:
    the corrected t's (or the bootstrap's), and McNemar's where the claim needs it too (both must be
    significant: the larger of the two gains)."""
    if not (t.df >= 1 and math.isfinite(t.se) and t.se > 0):
        return math.nan
    gain = detectable_gain(t.se, t.df, alpha)
    if t.basis == "corrected t" and t.discordant >= 0:
        gain = max(gain, mcnemar_detectable(t.n_images, t.discordant, alpha))
    return gain


def _p(t: Test) -> float:
    """The p-value a claim enters the family with: both tests where both exist (the larger), McNemar's alone
    where the splits have no spread, the bootstrap's on a fixed split, nan where neither applies (it then cannot
    be significant)."""
    if t.n < 2:
        return math.nan
    if t.basis == "paired bootstrap":
        return t.p_t
    if math.isnan(t.p_t):
        return t.p_mcnemar
    return t.p_t if math.isnan(t.p_mcnemar) else max(t.p_t, t.p_mcnemar)


def decide(tests: Sequence[Test], paper_gains: Sequence[float] | None = None, *, margin: float = MARGIN,
           alpha: float = ALPHA) -> list[Test]:
    """The family's verdicts: Holm over the claims' p-values, then held / reversed / no practical difference /
    not testable here / not resolved (module docstring). Each claim's detectable gain is recomputed at the level
    Holm applies to it (:func:`holm_levels`) under the rule that decides it (:func:`required_detectable`)."""
    from dataclasses import replace

    raw = [_p(t) for t in tests]
    adjusted, levels = holm(raw), holm_levels(raw, alpha)
    papers = [math.nan] * len(tests) if paper_gains is None else list(paper_gains)
    out = []
    for t, paper, p, p0, level in zip(tests, papers, adjusted, raw, levels):
        t = replace(t, p=float(p0), alpha_used=float(level))
        if math.isfinite(level):
            t = replace(t, detectable=required_detectable(t, level))
        if t.n == 0:
            verdict = "–"
        elif t.n == 1:
            verdict = "one run only"
        elif t.all_zero:
            verdict = "identical by construction" if t.discordant == 0 else "no difference"
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


def holm_levels(p: Sequence[float], alpha: float = ALPHA) -> np.ndarray:
    """The level Holm's step-down procedure tests each p-value at: ``α / (m − r)`` for the claim of rank ``r``
    (0 for the smallest) among the ``m`` claims with a p-value; claims without one (no spread, no
    predictions) get ``α / m``, the strictest step, which is where they would enter."""
    p = np.asarray(p, dtype=float)
    ok = np.flatnonzero(~np.isnan(p))
    m = len(ok)
    out = np.full(p.shape, alpha / max(m, 1))
    for rank, i in enumerate(ok[np.argsort(p[ok], kind="stable")]):
        out[i] = alpha / (m - rank)
    return out


def survive_globally(p: Sequence[float], alpha: float = ALPHA) -> np.ndarray:
    """Which claims stay significant under Holm's correction over all of them (the whole scoreboard, not one
    family): a bool per p-value (nan: False)."""
    adjusted = holm(p)
    return np.where(np.isnan(adjusted), False, adjusted < alpha)


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
    half = stats.t.ppf(1 - alpha, max(t.df, 1)) * t.se
    return -margin < t.gain - half and t.gain + half < margin


# -- what would decide an undecided claim -------------------------------------------------------------------
UNDECIDED = ("not resolved", "not testable here", "one run only")


@dataclass(frozen=True)
class Plan:
    """The design that would decide a claim if its spread (and its gain) stayed as observed: ``splits`` (of the
    corrected t: ``repetitions`` of ``folds`` folds), or a test set ``images`` large, or ``image_factor`` times the
    images where no number of repetitions reaches it (the correction for shared training data has a floor);
    ``text`` says it in words ("" for a decided claim)."""

    text: str
    splits: int | None = None
    repetitions: int | None = None
    images: int | None = None
    image_factor: float = math.nan


def _se_needed(t: Test, paper: float, df: int, margin: float) -> float:
    """The standard error at which the claim is decided on ``df`` degrees of freedom, its gain staying where it
    is: for "not testable here", the detectable gain down to the paper's (linear in the standard error); else
    the loosest of the three ways out of "not resolved": the interval excluding 0 (at the claim's Holm level),
    excluding the paper's gain, or lying within ±margin (equivalence)."""
    level = t.alpha_used if math.isfinite(t.alpha_used) else ALPHA
    if t.verdict == "not testable here":
        return abs(paper) / detectable_gain(1.0, df, level)
    g = t.gain
    out = [abs(g) / stats.t.ppf(1 - level / 2, df)]
    if math.isfinite(paper) and paper != 0 and (paper - g) * np.sign(paper) > 0:
        out.append(abs(paper - g) / stats.t.ppf(1 - ALPHA / 2, df))
    if margin > abs(g):
        out.append((margin - abs(g)) / stats.t.ppf(1 - ALPHA, df))
    return max(out)


def design_to_decide(t: Test, ratio: float, paper: float = math.nan, *, folds: int | None = 5,
                     max_splits: int = 100, margin: float = MARGIN) -> Plan:
    """What design would decide ``t`` (a claim after :func:`decide`), its per-split spread and gain staying as
    observed. On resampled splits the corrected variance is ``(1/J + ratio) s²``: the smallest number of splits
    J (whole repetitions of ``folds`` folds; any J for random splits, ``folds=None``), up to ``max_splits``, whose
    standard error reaches :func:`_se_needed`; where none does (the variance's floor is ``ratio · s²``), how many
    times the images would, a split's variance falling as 1/images, with five repetitions. On a fixed split (the
    paired bootstrap over its test images) the test images it would take. McNemar's requirement, where it
    applies, is left aside: the plan is a lower bound."""
    if t.verdict not in UNDECIDED:
        return Plan("")
    if t.n < 2 or not (math.isfinite(t.se) and t.se > 0):
        return Plan("one split, or no spread: a second split at least (more seeds), before its spread can be "
                    "measured")
    if t.basis == "paired bootstrap":
        images = int(math.ceil(t.n_images * (t.se / _se_needed(t, paper, t.df, margin)) ** 2))
        return Plan(f"about {images:,} test images on one fixed split ({t.n_images:,} now), or a resampled protocol "
                    "(e.g. per-category cross-validation)", images=images)
    s2 = t.se ** 2 / (1 / t.n + ratio)
    step = folds or 1
    for j in range(step * (t.n // step + 1), max_splits + 1, step):
        if math.sqrt(s2 * (1 / j + ratio)) <= _se_needed(t, paper, j - 1, margin):
            reps = j // folds if folds else None
            what = (f"{reps} repetitions of the {folds} folds ({j} splits; {t.n} now)" if folds else
                    f"{j} random splits ({t.n} now)")
            return Plan(what, splits=j, repetitions=reps)
    j = 5 * step if folds else max(t.n, 15)
    factor = s2 * (1 / j + ratio) / _se_needed(t, paper, j - 1, margin) ** 2
    return Plan(f"no number of {'repetitions of these folds' if folds else 'splits'} (the correction's floor): "
                f"about {factor:.1f}× the images, with {j} splits", image_factor=float(factor))


# -- the design of a run, read from its records --------------------------------------------------------------
#: n_test / n_train of the datasets' fixed splits (EmotionROI: 594 / 1386).
FIXED_RATIOS = {"emotionroi": 594 / 1386}


def is_fixed_split(runs: pd.DataFrame) -> bool:
    """Whether every record of ``runs`` (one run's) tests the same images: a fixed split (EmotionROI's), however
    many seeds ran on it. Its claims are decided by the per-image :func:`paired_bootstrap`."""
    return bool(len(runs) and "protocol" in runs and runs["protocol"].notna().all()
                and set(runs["protocol"]) == {"fixed"})


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


__all__ = ["ALPHA", "Design", "FIXED_RATIOS", "MARGIN", "POWER", "Plan", "Test", "UNDECIDED", "VERDICTS",
           "corrected_t", "decide", "design_of", "design_to_decide", "detectable_gain", "holm", "holm_levels", "is_fixed_split", "mcnemar", "mcnemar_detectable", "mcnemar_folds",
           "paired_bootstrap", "required_detectable", "survive_globally", "test_claim"]
