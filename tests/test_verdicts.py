"""The verdict rule (vsalib.verdicts) against hand-computed values."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from vsalib import verdicts as V


def test_corrected_t_by_hand():
    d = [3.0, 1.0, 2.0, 4.0, 0.0]  # mean 2, s² = 2.5
    mean, se, df, p = V.corrected_t(d, 0.25)  # 5-fold CV: n_test / n_train = 1/4
    assert mean == 2 and df == 4
    assert se == pytest.approx(math.sqrt((1 / 5 + 0.25) * 2.5))  # 1.0607, not sqrt(2.5 / 5) = 0.7071
    assert p == pytest.approx(2 * stats.t.sf(2 / se, 4))
    assert math.isnan(V.corrected_t([2.0, 2.0, 2.0], 0.25)[3])  # no spread: undefined, not "infinitely significant"
    assert math.isnan(V.corrected_t([2.0], 0.25)[1])


def test_mcnemar_counts_only_the_disagreements():
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 1, 0])
    a = y.copy()  # right everywhere
    b = y.copy()
    b[:6] = 1 - b[:6]  # wrong on six: a alone right on 6, b alone right on 0
    assert V.mcnemar(y, a, b) == pytest.approx(2 * 0.5 ** 6)
    assert V.mcnemar(y, a, a) == 1.0
    with pytest.raises(ValueError, match="same images"):
        V.mcnemar(y, a, b[:5])


def test_holm_by_hand():
    adj = V.holm([0.01, 0.04, np.nan, 0.03])
    # sorted 0.01, 0.03, 0.04 with m = 3: 0.03, max(0.03, 0.06), max(0.06, 0.04) -> 0.03, 0.06, 0.06
    assert adj[0] == pytest.approx(0.03) and adj[3] == pytest.approx(0.06) and adj[1] == pytest.approx(0.06)
    assert math.isnan(adj[2])


def test_detectable_gain_by_hand():
    """The exact detectable gain: at δ = detectable, a t-test on 4 degrees of freedom rejects 80 % of the time
    (by the noncentral t's formula and by simulation); the textbook sum of quantiles (3.717) is a little low."""
    se, df = 1.0, 4
    delta = V.detectable_gain(se, df)
    crit = stats.t.ppf(0.975, df)  # 2.776
    power = stats.nct.sf(crit, df, delta / se) + stats.nct.cdf(-crit, df, delta / se)
    assert power == pytest.approx(0.8, abs=1e-8)
    assert delta == pytest.approx(3.7611, abs=1e-3) and delta > stats.t.ppf(0.975, 4) + stats.t.ppf(0.8, 4)
    rng = np.random.default_rng(0)  # simulated: mean of 5 differences, sd chosen so the standard error is 1
    d = rng.normal(delta, math.sqrt(5), size=(200_000, 5))
    t = d.mean(1) / (d.std(1, ddof=1) / math.sqrt(5))
    assert np.mean(np.abs(t) > crit) == pytest.approx(0.8, abs=0.005)
    assert V.detectable_gain(2.0, df) == pytest.approx(2 * delta)  # linear in the standard error
    assert math.isnan(V.detectable_gain(1.0, 0))
    assert V.test_claim([1.0, 2.0, 0.5, 1.5, 1.0], 0.25).df == 4


def _decide(d, ratio=0.25, paper=math.nan, **kw):
    t = V.test_claim(d, ratio, paper_gain=paper, **kw)
    return V.decide([t], [paper])[0]


def test_verdicts():
    assert _decide([3.0, 2.5, 3.5, 3.0, 2.8]).verdict == "held"
    assert _decide([-3.0, -2.5, -3.5, -3.0, -2.8]).verdict == "reversed"
    assert _decide([0.2, -0.1, 0.1, 0.0, -0.2]).verdict == "no practical difference"  # within ±2 points
    wide = [6.0, -5.0, 4.0, -6.0, 2.0]
    assert _decide(wide, paper=1.5).verdict == "not testable here"  # the design detects ~13 points, not 1.5
    assert _decide(wide, paper=30.0).verdict == "paper's gain ruled out"  # 0.2 ± 9.6: 30 lies above it
    mid = [8.0, 0.0, 6.0, 2.0, 4.0]  # 4.0 ± 5.5 (df 4), detectable 7.5
    assert _decide(mid, paper=8.0).verdict == "not resolved"  # inside the interval, above what the design detects
    assert _decide([0.0, 0.0, 0.0]).verdict == "no difference"
    assert _decide([1.5]).verdict == "one run only"
    assert _decide([]).verdict == "–"
    # five identical gains: no spread, so without predictions nothing can call them ...
    same = [2.0] * 5
    assert _decide(same, paper=30.0).verdict == "not resolved"
    # ... and with predictions McNemar decides: 2 points of 500 images is 10 images one way, none the other
    y = np.zeros(500, dtype=int)
    better, worse = y.copy(), y.copy()
    worse[:10] = 1
    assert _decide(same, paper=30.0, y_true=y, pred_better=better, pred_worse=worse).verdict == "held"


def test_the_paper_s_gain_ruled_out_and_consistent_with_the_paper():
    """Two verdicts about the paper's own gain, with the numbers worked by hand (ratio 1/4, five folds)."""
    d = [-1.0, 0.5, -2.0, 1.0, -0.5]  # mean -0.4, s = 1.194, se = sqrt(0.45) * s = 0.801, ci95 = 2.776 * se = 2.224
    t = V.test_claim(d, 0.25)
    assert t.gain == pytest.approx(-0.4) and t.ci95 == pytest.approx(2.2243, abs=1e-3)
    assert _decide(d, paper=4.34).verdict == "paper's gain ruled out"  # top of the interval +1.82 < +4.34
    assert _decide(d, paper=-4.0).verdict == "paper's gain ruled out"  # a claimed loss below the bottom, -2.62
    assert _decide(d, paper=1.5).verdict == "not testable here"  # inside: the design cannot tell
    tight = [0.2, -0.1, 0.1, 0.0, -0.2]  # 0.0 ± 0.2, the 90 % interval within ±2
    assert _decide(tight, paper=0.16).verdict == "consistent with the paper"  # the paper's +0.16 inside ours
    assert _decide(tight).verdict == "no practical difference"  # no paper gain to be consistent with
    assert _decide(tight, paper=1.5).verdict == "paper's gain ruled out"  # +1.5 beyond 0.0 ± 0.2
    assert _decide([3.0, 2.5, 3.5, 3.0, 2.8], paper=10.0).verdict == "held"  # significance comes first


def test_holm_can_undo_a_single_claims_significance():
    d = [2.0, 4.0, 0.5, 3.0, 0.5]  # t = 2.9, p = 0.044 on its own
    t = V.test_claim(d, 0.0)
    assert t.p_t < 0.05
    out = V.decide([t] * 4)  # four such claims: Holm multiplies the smallest by 4
    assert {o.verdict for o in out} == {"not resolved"} and out[0].p_holm == pytest.approx(min(1, 4 * t.p_t))


def test_design_of_the_records():
    import pandas as pd

    assert V.design_of(pd.DataFrame({"protocol": ["kfold5-grouped"], "dataset": ["twitter1"]})).test_train_ratio == 0.25
    assert V.design_of(pd.DataFrame({"protocol": ["fixed"], "dataset": ["emotionroi"]})).test_train_ratio == \
        pytest.approx(594 / 1386)
    sized = pd.DataFrame({"protocol": ["ratio"] * 2, "dataset": ["emotion6"] * 2, "extra.sizes.test": [198, 198],
                          "extra.sizes.train": [1584, 1584]})
    d = V.design_of(sized)
    assert d.test_train_ratio == pytest.approx(0.125) and d.source == "the records' sizes"
    assert "assumed" in V.design_of(pd.DataFrame({"protocol": ["ratio"], "dataset": ["iaps"]})).source


def test_card_claims_read_the_design_and_the_rows_predictions(tmp_path):
    """card_claims on stored records: the correction's n_test / n_train from the records' sizes, and McNemar on
    the pooled predictions of the two rows (the same test images, one record per fold, accuracies that match)."""
    from vsalib import report
    from vsalib.methods.base import Claim, PaperCard, PaperRow
    from vsalib.results import Record, ResultStore

    card = PaperCard(key="toy", short="toy", title="", venue="", table=1,
                     rows=(PaperRow("whole", "toy", {"v": "whole"}), PaperRow("regions", "toy", {"v": "regions"})),
                     claims=(Claim("regions help", "regions", "whole"),))
    store = ResultStore(tmp_path)
    rng = np.random.default_rng(0)
    for fold in range(5):
        y = rng.integers(0, 2, 40)
        whole = np.where(rng.random(40) < 0.7, y, 1 - y)
        regions = whole.copy()
        regions[(whole != y).nonzero()[0][:3]] = y[(whole != y).nonzero()[0][:3]]  # three more right per fold
        for v, pred in (("whole", whole), ("regions", regions)):
            store.add(Record(dataset="toy", subset=None, protocol="kfold5", method="toy", params={"v": v}, seed=0,
                             fold=fold, metrics={"accuracy": float((pred == y).mean())},
                             extra={"y_true": y.tolist(), "y_pred": pred.tolist(),
                                    "sizes": {"train": 144, "val": 16, "test": 40}}))
    runs = store.load()
    values = {r.name: (report.row_accuracy(r, runs), float("nan")) for r in card.rows}
    c = report.card_claims(card, values, runs).iloc[0]
    d = (values["regions"][0] - values["whole"][0]).to_numpy()
    assert c["our gain"] == pytest.approx(7.5)  # 3 of 40 images per fold
    assert np.allclose(d, 7.5)  # the same gain on every fold: no spread, so only McNemar can decide ...
    assert c["verdict"] == "held"  # ... and 15 images only the regions row gets right, none the other way
    assert c["p (Holm)"] == pytest.approx(2 * 0.5 ** 15)
    assert V.design_of(runs).test_train_ratio == pytest.approx(40 / 144)
    # without the predictions the same gains cannot be called
    bare = runs.drop(columns=["extra.y_pred"])
    assert report.card_claims(card, values, bare).iloc[0]["verdict"] == "not resolved"


def test_mcnemar_pools_one_repetition(tmp_path):
    """Repeated CV (or a fixed split run with several seeds) puts the same image in several test parts: McNemar
    pools the first seed's folds only, so each test image counts once, while the corrected t uses every split."""
    from vsalib import report
    from vsalib.methods.base import Claim, PaperCard, PaperRow
    from vsalib.results import Record, ResultStore

    card = PaperCard(key="toy", short="toy", title="", venue="", table=1,
                     rows=(PaperRow("whole", "toy", {"v": "whole"}), PaperRow("regions", "toy", {"v": "regions"})),
                     claims=(Claim("regions help", "regions", "whole"),))
    store = ResultStore(tmp_path)
    y = np.array([0, 1] * 20)
    whole = y.copy()
    whole[:6] = 1 - y[:6]  # six wrong
    for seed in (0, 1, 2):
        regions = y.copy()
        regions[:2 + seed] = 1 - y[:2 + seed]  # 2, 3, 4 wrong: only the regions row right on 4, 3, 2 images
        for v, pred in (("whole", whole), ("regions", regions)):
            store.add(Record(dataset="toy", subset=None, protocol="kfold5", method="toy", params={"v": v},
                             seed=seed, fold=0, metrics={"accuracy": float((pred == y).mean())},
                             extra={"y_true": y.tolist(), "y_pred": pred.tolist(),
                                    "sizes": {"train": 160, "val": 20, "test": 40}}))
    runs = store.load()
    values = {r.name: (report.row_accuracy(r, runs), float("nan")) for r in card.rows}
    c = report.card_claims(card, values, runs).iloc[0]
    assert c["folds"] == 3 and c["our gain"] == pytest.approx(100 * 3 / 40)  # the t over all three seeds
    assert c["test"] == "corrected t"
    y_true, better, worse = report._paired_predictions(card, "regions", "whole", values["regions"][0],
                                                       values["whole"][0], values["regions"][0].index, runs)
    assert len(y_true) == 40  # seed 0 only: not 120 images, 40 of them three times
    assert V.mcnemar(y_true, better, worse) == pytest.approx(2 * 0.5 ** 4)


def test_identical_differences_show_no_equivalence():
    """Two splits with the same +0.67-point difference estimate no variance: no interval, no detectable gain, and
    no "no practical difference" (which needs an interval inside ±2); without predictions nothing can call it."""
    t = V.decide([V.test_claim([0.67, 0.67], 0.43)])[0]
    assert t.gain == pytest.approx(0.67) and math.isnan(t.ci95) and math.isnan(t.detectable)
    assert t.verdict == "not resolved"
    spread = V.decide([V.test_claim([0.2, -0.1, 0.1, 0.0, -0.2], 0.25)])[0]
    assert spread.verdict == "no practical difference"  # with spread, a tight interval inside ±2 does show it


def test_mcnemar_folds_keeps_the_first_repetition():
    assert V.mcnemar_folds([(1, 0), (0, 1), (0, 0), (2, 0)]) == [(0, 1), (0, 0)]
    assert V.mcnemar_folds([]) == []


def test_mcnemar_detectable_by_hand():
    """100 images, 10 discordant: the exact test rejects at 9 of 10 (2 · 11/1024 = 0.021; 8 of 10 gives 0.109),
    so 80 % power needs 10 π⁹ (1 − π) + π¹⁰ = 0.8, π = 0.9167, a gain of (2π − 1) · 10 / 100 = 8.33 points."""
    g = V.mcnemar_detectable(100, 10)
    pi = (g / 10 + 1) / 2
    assert 10 * pi ** 9 * (1 - pi) + pi ** 10 == pytest.approx(0.8, abs=1e-9)
    assert g == pytest.approx(8.33, abs=0.01)
    assert V.mcnemar_detectable(100, 5) == math.inf  # 5 of 5 gives p = 2/32 = 0.0625: never significant
    assert V.mcnemar_detectable(100, 0) == math.inf and math.isnan(V.mcnemar_detectable(100, -1))
    assert V.mcnemar_detectable(100, 10, alpha=0.01) > g  # a stricter level needs a larger gain


def test_paired_bootstrap_against_the_formula():
    """One seed: the bootstrap's standard error of a mean of 0/1 differences is sqrt(p (1 − p) / n); 10 of 100
    images right only by row a gives +10 points, se 3.0, p well below 0.01. Identical rows: 0, 0, 0, p = 1."""
    a = np.zeros((1, 100), int)
    a[0, :10] = 1
    b = np.zeros((1, 100), int)
    gain, se, half, p = V.paired_bootstrap(a, b)
    assert gain == pytest.approx(10.0)
    assert se == pytest.approx(100 * math.sqrt(0.1 * 0.9 / 100), rel=0.05)
    assert half == pytest.approx(1.96 * se, rel=0.15) and p < 0.01
    assert V.paired_bootstrap(a, a) == (0.0, 0.0, 0.0, 1.0)
    assert V.paired_bootstrap(a, b) == V.paired_bootstrap(a, b)  # seeded
    with pytest.raises(ValueError, match="same seeds and images"):
        V.paired_bootstrap(a, b[:, :50])


def test_paired_bootstrap_resamples_the_seeds_too():
    """Two seeds whose gains are +10 and −10 points: 0 on average, and the seeds' disagreement widens the
    interval beyond what the images alone give (their mean difference per image is 0 everywhere)."""
    a = np.zeros((2, 100), int)
    b = np.zeros((2, 100), int)
    a[0, :10] = 1  # seed 0: a right on 10 more images
    b[1, 10:20] = 1  # seed 1: b right on 10 more
    gain, se, half, p = V.paired_bootstrap(a, b)
    assert gain == pytest.approx(0.0) and p > 0.5
    images_only = V.paired_bootstrap(a.mean(0, keepdims=True), b.mean(0, keepdims=True))[1]
    assert se > 1.5 * images_only  # seeds drawn as (0, 0) or (1, 1) give ±10 points


def test_holm_levels_by_hand():
    """p = 0.01, 0.04, nan, 0.02: Holm tests the smallest at 0.05/3, then 0.05/2, then 0.05; the claim without a
    p-value gets the strictest step."""
    assert V.holm_levels([0.01, 0.04, np.nan, 0.02]) == pytest.approx([0.05 / 3, 0.05, 0.05 / 3, 0.05 / 2])


def test_detectable_gain_at_the_holm_level_and_with_mcnemar():
    """In a family of three the claim with the smallest p is tested at α/3: its detectable gain is the one at
    that level; where McNemar must agree, the larger of the two detectable gains."""
    d = [1.0, 2.0, 3.0, 2.5, 1.5]
    t = V.test_claim(d, 0.25)
    fam = V.decide([t, V.test_claim([0.1, -0.3, 0.2, 0.0, 0.4], 0.25), V.test_claim([-1, 2, 0.5, -2, 1], 0.25)])
    assert fam[0].alpha_used == pytest.approx(0.05 / 3)
    assert fam[0].detectable == pytest.approx(V.detectable_gain(t.se, t.df, 0.05 / 3))
    assert fam[0].detectable > t.detectable
    y = np.array([0, 1] * 50)
    better, worse = y.copy(), y.copy()
    worse[:4] = 1 - y[:4]  # four discordant images of 100: McNemar cannot reach p < 0.05 at all
    m = V.decide([V.test_claim(d, 0.25, y_true=y, pred_better=better, pred_worse=worse)])[0]
    assert m.discordant == 4 and m.detectable == math.inf
    assert m.verdict == "not resolved"  # not significant (McNemar's p = 0.125), and no gain detectable


def test_identical_by_construction():
    """Zero differences on every split, and the two rows' predictions alike on every pooled image: the variants
    are one model ("identical by construction"); zero differences with some images disagreeing both ways are
    "no difference"."""
    y = np.array([0, 1] * 20)
    same = V.decide([V.test_claim([0.0] * 5, 0.25, y_true=y, pred_better=y, pred_worse=y)])[0]
    assert same.verdict == "identical by construction"
    swapped = y.copy()
    swapped[:2] = 1 - y[:2]
    other = y.copy()
    other[2:4] = 1 - y[2:4]
    balanced = V.decide([V.test_claim([0.0] * 5, 0.25, y_true=y, pred_better=swapped, pred_worse=other)])[0]
    assert balanced.verdict == "no difference"
    assert V.decide([V.test_claim([0.0] * 5, 0.25)])[0].verdict == "no difference"  # no predictions


def test_card_claims_on_a_fixed_split_use_the_paired_bootstrap(tmp_path):
    """Three seeds on one fixed split test the same 40 images: the claim is decided by the per-image paired
    bootstrap over the seeds' predictions (aligned by test id, whatever order a record lists them in), not by the
    corrected t, and its detectable gain is printed with its images."""
    from vsalib import report
    from vsalib.methods.base import Claim, PaperCard, PaperRow
    from vsalib.results import Record, ResultStore

    card = PaperCard(key="toy", short="toy", title="", venue="", table=1,
                     rows=(PaperRow("whole", "toy", {"v": "whole"}), PaperRow("regions", "toy", {"v": "regions"})),
                     claims=(Claim("regions help", "regions", "whole"),))
    store = ResultStore(tmp_path)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 40)
    ids = [f"img{i:02d}" for i in range(40)]
    correct = {}
    for seed in (0, 1, 2):
        whole = np.where(rng.random(40) < 0.7, y, 1 - y)
        regions = np.where(rng.random(40) < 0.8, y, 1 - y)
        correct[seed] = ((regions == y).astype(int), (whole == y).astype(int))
        order = rng.permutation(40) if seed == 1 else np.arange(40)  # seed 1 lists its images in another order
        for v, pred in (("whole", whole), ("regions", regions)):
            store.add(Record(dataset="toy", subset=None, protocol="fixed", method="toy", params={"v": v},
                             seed=seed, fold=0, metrics={"accuracy": float((pred == y).mean())},
                             extra={"y_true": y[order].tolist(), "y_pred": pred[order].tolist(),
                                    "test_ids": [ids[i] for i in order],
                                    "sizes": {"train": 140, "val": 20, "test": 40}}))
    runs = store.load()
    assert V.is_fixed_split(runs)
    values = {r.name: (report.row_accuracy(r, runs), float("nan")) for r in card.rows}
    c = report.card_claims(card, values, runs).iloc[0]
    better = np.stack([correct[s][0] for s in (0, 1, 2)])
    worse = np.stack([correct[s][1] for s in (0, 1, 2)])
    gain, se, half, p = V.paired_bootstrap(better, worse)
    assert c["test"] == "paired bootstrap" and c["images"] == 40 and c["folds"] == 3
    assert c["our gain"] == pytest.approx(gain) and c["ci95"] == pytest.approx(half) and c["p"] == pytest.approx(p)
    assert c["detectable"] == pytest.approx(V.detectable_gain(se, 39))
    assert report.fmt_detectable(c["detectable"], c["df"], c["test"], c["images"]).endswith("(40 images)")
    # other images on one seed: not one fixed split, back to the corrected t
    moved = runs.copy()
    i = moved.index[(moved["seed"] == 2)]
    moved.loc[i, "extra.test_ids"] = pd.Series([[f"x{j}" for j in range(40)]] * len(i), index=i)
    assert report.card_claims(card, values, moved).iloc[0]["test"] == "corrected t"


def test_global_correction_over_the_scoreboard():
    """Holm over every claim of the board: a claim significant in its family of two (p = 0.02 · 2 = 0.04) is
    not over ten (p = 0.02 · 10 = 0.2)."""
    from vsalib import scoreboard

    board = pd.DataFrame({"paper": ["sun2016"] * 10, "dataset": ["Twitter I five-agree"] * 10,
                          "claim": [f"c{i}" for i in range(10)], "verdict": ["reversed"] + ["not resolved"] * 9,
                          "p": [0.02] + [0.5] * 9})
    g = scoreboard.global_correction(board)
    assert len(g) == 1 and g["p (whole scoreboard)"].iloc[0] == pytest.approx(0.2) and not g["survives"].iloc[0]
    assert "does not survive" in scoreboard.global_correction_sentence(board)


def test_design_to_decide_by_hand():
    """The design that would decide an undecided claim, its spread and gain staying as observed."""
    from scipy import stats as st

    # gain 3, corrected se 1.5 over 5 folds (ratio 1/4): s² = 2.25 / (1/5 + 1/4) = 5; at 10 splits
    # se = √(5 · 0.35) = 1.3229 ≤ 3 / t(0.975, 9) = 1.3262: the interval would exclude 0 with 2 repetitions
    t = V.Test(3.0, math.nan, 5, 0.1, math.nan, 5.0, verdict="not resolved", se=1.5, df=4, alpha_used=0.05)
    plan = V.design_to_decide(t, 0.25, folds=5)
    assert (plan.splits, plan.repetitions) == (10, 2) and plan.text == "2 repetitions of the 5 folds (10 splits; 5 now)"
    assert math.sqrt(5 * 0.35) <= 3 / st.t.ppf(0.975, 9) and math.sqrt(5 * (1 / 5 + 0.25)) > 3 / st.t.ppf(0.975, 4)
    # gain 1, se 1: s² = 1/0.45; the floor √(s² · 1/4) = 0.745 stays above what equivalence needs
    # ((2 − 1) / t(0.95, J − 1)): no number of repetitions; the images it takes with 25 splits
    t = V.Test(1.0, math.nan, 5, 0.3, math.nan, 4.0, verdict="not resolved", se=1.0, df=4, alpha_used=0.05)
    plan = V.design_to_decide(t, 0.25, folds=5)
    factor = (1 / 0.45) * (1 / 25 + 0.25) / (1 / st.t.ppf(0.95, 24)) ** 2
    assert plan.splits is None and plan.image_factor == pytest.approx(factor) and f"about {factor:.1f}×" in plan.text
    # random splits: any number of them
    assert V.design_to_decide(t, 0.25, folds=None).text.startswith("no number of splits")
    t3 = V.Test(3.0, math.nan, 3, 0.1, math.nan, 5.0, verdict="not resolved", se=1.5, df=2, alpha_used=0.05)
    plan = V.design_to_decide(t3, 0.25, folds=None)
    s2 = 1.5 ** 2 / (1 / 3 + 0.25)
    j = next(j for j in range(4, 101) if math.sqrt(s2 * (1 / j + 0.25)) <= 3 / st.t.ppf(0.975, j - 1))
    assert plan.splits == j and plan.text == f"{j} random splits (3 now)"
    # not testable here: the detectable gain (linear in se) down to the paper's 1.5
    t = V.Test(0.5, math.nan, 5, 0.6, math.nan, 3.0, verdict="not testable here", se=1.0, df=4, alpha_used=0.05)
    plan = V.design_to_decide(t, 0.25, 1.5, folds=5)
    j = next((j for j in range(10, 101, 5)
              if math.sqrt((1 / 0.45) * (1 / j + 0.25)) <= 1.5 / V.detectable_gain(1.0, j - 1)), None)
    assert plan.splits == j
    # a fixed split: the test images it would take, 594 · (se / se needed)²
    t = V.Test(1.0, math.nan, 3, 0.3, math.nan, 2.0, verdict="not resolved", se=1.0, df=593, alpha_used=0.05,
               basis="paired bootstrap", n_images=594)
    need = max(1 / st.t.ppf(0.975, 593), 1 / st.t.ppf(0.95, 593))
    assert V.design_to_decide(t, 0.43).images == math.ceil(594 / need ** 2)
    # one split, and a decided claim
    assert "a second split" in V.design_to_decide(V.Test(1.0, math.nan, 1, math.nan, math.nan, math.nan,
                                                         verdict="one run only"), 0.25).text
    assert V.design_to_decide(V.Test(3.0, 1.0, 5, 0.01, math.nan, 2.0, verdict="held", se=0.5, df=4), 0.25).text == ""


def test_the_scoreboard_lists_the_undecided_claims_with_their_designs():
    from vsalib import scoreboard

    board = pd.DataFrame({"paper": ["sun2016"] * 4, "dataset": ["Twitter I five-agree"] * 4,
                          "claim": ["a", "b", "c", "d"], "paper gain": [1.0, math.nan, math.nan, 6.0],
                          "our gain": [0.5, 1.0, 2.0, 1.0], "gain ci": [2.0, 3.0, 0.5, math.nan], "n": [15, 5, 5, 1],
                          "verdict": ["not testable here", "not resolved", "held", "one run only"],
                          "to decide": ["no number of repetitions of these folds (the correction's floor): about "
                                        "3.0× the images, with 25 splits", "2 repetitions of the 5 folds (10 splits; "
                                        "5 now)", "", "one split, or no spread: a second split at least"]})
    u = scoreboard.undecided(board)
    assert u["claim"].tolist() == ["a", "b", "d"] and u["what would decide it"].iloc[1].startswith("2 repetitions")
    text = scoreboard.undecided_sentence(board)
    assert text.startswith("3 of 4 claims (75 %) are undecided") and "would decide 1 of them; 1 would need" in text
    assert "1 have one split" in text
