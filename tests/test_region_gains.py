"""When do regions help? (vsalib.region_gains): the region claims, the ladder's points, the power table, the
crop-vs-RoIAlign comparison on a real (synthetic) store, and the conclusion's numbers."""

import math

import numpy as np
import pandas as pd
import pytest

from vsalib import published
from vsalib import region_gains as G
from vsalib import scoreboard


def _board() -> pd.DataFrame:
    rows = [  # two region claims and one other claim
        {"paper": "sun2016", "dataset": "Twitter I five-agree", "claim": "one region", "regions": True,
         "paper baseline %": 80.0, "ours baseline": 82.0, "paper %": 82.0, "paper gain": 2.0, "ours mean": 82.5,
         "ours ci": 1.0, "n": 5, "our gain": 0.5, "gain ci": 1.5, "detectable": 3.0, "verdict": "not testable here"},
        {"paper": "wsidnet", "dataset": "EmotionROI", "claim": "maps", "regions": True,
         "paper baseline %": 70.0, "ours baseline": 76.0, "paper %": 76.0, "paper gain": 6.0, "ours mean": 75.0,
         "ours ci": 2.0, "n": 3, "our gain": -1.0, "gain ci": 4.0, "detectable": 5.0, "verdict": "not resolved"},
        {"paper": "sun2016", "dataset": "Twitter I five-agree", "claim": "fine-tuning", "regions": False,
         "paper baseline %": 78.0, "ours baseline": 81.0, "paper %": 80.0, "paper gain": 2.0, "ours mean": 82.0,
         "ours ci": 1.0, "n": 5, "our gain": 1.0, "gain ci": 0.5, "detectable": 1.5, "verdict": "held"},
    ]
    return pd.DataFrame(rows)


def test_every_card_marks_one_region_claim():
    for method in scoreboard.papers():
        assert sum(c.regions for c in method.card.claims) == 1, method.card.key


def test_region_claims_ladder_and_power_table():
    board = _board()
    gains = G.region_claims(board)
    assert gains["claim"].tolist() == ["one region", "maps"]
    pts = G.ladder(gains)
    assert len(pts) == 4 and pts["who"].tolist() == ["paper", "ours", "paper", "ours"]
    assert pts.loc[1, ["baseline %", "gain", "ci"]].tolist() == [82.0, 0.5, 1.5]
    assert math.isnan(pts.loc[0, "ci"])
    power = G.power_table(board)
    # |paper gain| against the detectable gain: 2 < 3 (no), 6 >= 5 (yes), 2 >= 1.5 (yes)
    assert power["paper's gain detectable here"].tolist() == ["no", "yes", "yes"]
    assert power.loc[0, "our gain"] == "+0.50 ± 1.50"
    assert G.region_claims(pd.DataFrame()).empty and G.power_table(pd.DataFrame()).empty


def test_conclusion_and_ladder_sentence_say_the_numbers():
    board = _board()
    gains = G.region_claims(board)
    text = G.conclusion(gains, board)
    assert "on 2 paper × dataset pairs" in text and "positive on 1 of them, held" in text
    assert "held (significant after correction) on 0" in text
    assert "below the paper's gain on 2 of the 2" in text
    # baselines 2 and 6 points above the papers': median 4.0 (>= 3: a stronger baseline may explain part)
    assert "4.0 points from the papers'" in text and "+4.0 points on average" in text and "may explain part" in text
    # claims with a published gain below the detectable gain: 2 < 3 only
    assert "For 1 of the 3 claims" in text
    line = G.ladder_sentence(gains, {"wsidnet": "WSIDNet"})
    assert "4.0 points from the paper's (median; at most 6.0, WSIDNet on EmotionROI)" in line
    assert "4.2 points below the paper's (median)" in line  # gains fell by 1.5 and 7.0: median 4.25
    assert "no region claim" in G.conclusion(G.region_claims(pd.DataFrame()), pd.DataFrame())


def _controls() -> pd.DataFrame:
    row = lambda claim, gain, ci, verdict: {"paper": "rao", "dataset": "Twitter I five-agree", "claim": claim,  # noqa: E731
                                            "regions": False, "control": True, "ours mean": 84.0, "our gain": gain,
                                            "gain ci": ci, "n": 5, "detectable": 2.4, "verdict": verdict}
    return pd.concat([_board().assign(control=False),
                      pd.DataFrame([row("regions against random boxes", -3.5, 1.8, "reversed"),
                                    row("regions against a grid", 1.0, 4.0, "not resolved"),
                                    row("graph against shuffled", 0.25, 0.9, "no practical difference")])],
                     ignore_index=True)


def test_every_control_claim_swaps_the_idea_of_a_row_its_card_has():
    for method in scoreboard.papers():
        names = {r.name for r in (*method.card.rows, *method.card.derived)}
        for c in method.card.claims:
            assert not (c.control and c.regions), c.text  # a control is never the region claim itself
            if c.control:
                assert {c.better, c.worse} <= names, c.text
    assert sum(c.control for m in scoreboard.papers() for c in m.card.claims) >= 5  # MultiLevelRCNN 2, WSIDNet 3


def test_control_claims_and_sentence_say_the_numbers():
    board = _controls()
    c = G.control_claims(board)
    assert c["claim"].tolist() == ["regions against random boxes", "regions against a grid", "graph against shuffled"]
    text = G.control_sentence(c, {"rao": "MultiLevelRCNN"})
    assert text.startswith("Of the 3 control × dataset pairs, 0 held, 1 reversed, 1 showed no practical difference "
                           "and 1 was not resolved.")
    # gains -3.5, 1.0, 0.25: median +0.25, two of three positive
    assert "+0.25 points (median), positive on 2 of 3" in text
    assert "Resolved against the idea: MultiLevelRCNN on Twitter I five-agree, regions against random boxes " \
           "(-3.50 ± 1.80 points)" in text
    assert "Resolved for it" not in text and "the arbitrary stand-in is the better one" in text
    held = c.assign(verdict=["held", "not resolved", "not resolved"])
    text = G.control_sentence(held)
    assert "Resolved for it: rao on Twitter I five-agree" in text and "Nowhere" not in text
    assert "Chosen regions against arbitrary ones" in G.conclusion(G.region_claims(board), board)
    assert "Chosen regions against arbitrary ones" not in G.conclusion(G.region_claims(_board()), _board())
    assert G.control_claims(_board()).empty and "no control run" in G.control_sentence(G.control_claims(_board()))


@pytest.fixture(scope="module")
def two_scorings(tmp_path_factory):
    """Sun2016 on the two folds of a 24-image synthetic set, scored by RoIAlign and by crop, same models."""
    from vsalib.data import Protocol, load_dataset, make_splits
    from vsalib.methods import global_cnn, sun2016
    from vsalib.results import ResultStore

    tmp = tmp_path_factory.mktemp("scorings")
    ds = load_dataset("synthetic", n_images=24, size=64, cache_dir=str(tmp / "c"))
    splits = make_splits(ds, Protocol("kfold", k=2), seed=0)
    store = ResultStore(tmp / "r")
    ft = global_cnn.run_finetune(ds, splits, subset="binary", image_size=64, epochs=1, finetune_from=16, store=store,
                                 cache_dir=tmp / "c", progress=False)
    folds = [sun2016.FoldInputs(s, f) for s, f in zip(splits, ft)]
    for scoring in ("roialign", "crop"):
        sun2016.run_sun2016(ds, folds, sun2016.Sun2016Config(scoring=scoring), subset="binary", ks=(1, 2), betas=(),
                            alphas=(), obj_norms=(), early_fusion=False, store=store, cache_dir=tmp / "c",
                            progress=False)
    frozen = global_cnn.run_frozen(ds, splits, subset="binary", image_size=64, store=store, cache_dir=tmp / "c",
                                   progress=False)  # the ladder's lowest rung
    sun2016.run_sun2016(ds, [sun2016.FoldInputs(s, f) for s, f in zip(splits, frozen)], subset="binary", ks=(1,),
                        betas=(), alphas=(), obj_norms=(), early_fusion=False, store=store, cache_dir=tmp / "c",
                        progress=False)
    return store.load()


def test_crop_against_roialign_on_the_same_folds(two_scorings):
    runs = two_scorings
    by = G.scoring_runs(runs, "synthetic", "binary", None)  # the fixture fine-tunes from stage 16, not the profile's 12
    assert set(by) == {"roialign", "crop"}
    comp = G.scoring_comparison(runs, "synthetic", "binary", None)
    assert comp["row"].tolist()[:3] == ["ft+obj+senti+lf K=1", "ft+obj+lf K=1", "ft+senti+lf K=1"]
    # the K = 1 gain is the mean of the per-fold differences of the two runs' accuracies
    acc = {s: r[(r["method"] == "sun2016-lf") & (r["params.k"] == 1) & (r["params.ranking"] == "obj+senti")]
           .sort_values("fold")["metrics.accuracy"].to_numpy() for s, r in by.items()}
    assert comp.loc[0, "crop − RoIAlign"] == pytest.approx(100 * float(np.mean(acc["crop"] - acc["roialign"])))
    assert (comp["folds"] == 2).all() and comp["verdict"].isin(
        ["held", "reversed", "no practical difference", "not resolved", "no difference"]).all()
    agree = G.scoring_agreement(runs, "synthetic", "binary", None)
    assert agree["versus"].tolist() == list(G.AGREEMENT_NAMES) and (agree["folds"] == 2).all()  # the names' order
    assert agree["same top-1 (Senti)"].between(0, 1).all() and (agree["crop s/image"] > 0).all()
    assert agree["same place (Senti)"].between(0, 1).all()
    text = G.agreement_sentence(agree)
    assert text.startswith("With RoIAlign at 224 px") and "Crop scoring agrees with itself" in text
    r224 = agree.set_index("versus").loc["roialign224"]
    assert f"first on {100 * r224['same top-1 (Senti)']:.0f} % of the test images" in text
    # a run from before the ceiling and the IoU were recorded: no ceiling sentence, no "same place"
    old = agree[agree["versus"] != "crop_jitter2"].assign(**{"same place (Senti)": float("nan")})
    assert "agrees with itself" not in G.agreement_sentence(old) and "same place" not in G.agreement_sentence(old)
    assert "predates the ceiling" in G.agreement_sentence(old) and "predates" not in text
    assert G.agreement_sentence(agree[agree["versus"] == "crop_jitter2"]) == ""
    curves = G.k_curves_by_scoring(runs, "synthetic", "binary", None)
    assert sorted(curves["subset"].unique()) == sorted(G.SCORING_NAMES.values())
    assert set(curves["k"]) == {1, 2} and (curves["runs"] == 2).all()
    # one scoring only: no comparison
    assert G.scoring_comparison(runs[runs["params.scoring"] != "crop"], "synthetic", "binary", None).empty
    # a ladder rung of another backbone (a later global model of the same folds) stays out of the comparison
    rung = runs[(runs["method"] == "global-finetune") | (runs["params.scoring"] == "roialign")].copy()
    rung["key"] = rung["key"] + "-lite2"
    rung.loc[rung["params.global"].notna(), "params.global"] += "-lite2"
    rung["params.backbone"] = "efficientnet_lite2"
    rung["created"] = "2099-01-01T00:00:00+00:00"
    rung["metrics.accuracy"] = 1.0
    both = pd.concat([runs, rung], ignore_index=True)
    assert G.scoring_runs(both, "synthetic", "binary", "quick").keys() == set()  # finetune_from 16 is not quick's 12
    mixed = both.assign(**{"params.finetune_from": both["params.finetune_from"].where(
        both["params.finetune_from"].isna(), 12.0)})
    kept = G.scoring_comparison(mixed, "synthetic", "binary", "quick")
    pd.testing.assert_frame_equal(kept, G.scoring_comparison(runs, "synthetic", "binary", None))


def test_sun2016_ladder_pairs_each_rung_with_its_own_global_model(two_scorings):
    runs = two_scorings
    lad = G.sun2016_ladder(runs, "synthetic", "binary")
    assert set(lad["global model"]) == {"frozen ImageNet features, linear classifier", "fine-tuned from stage 16"}
    assert (lad["folds"] == 2).all() and lad["global %"].is_monotonic_increasing
    assert G.method_ladder_sentence(lad).startswith("On the weakest global model (frozen")
    for _, r in lad.iterrows():  # the gain is K = 1's accuracy minus the model alone's, fold by fold (RoIAlign runs)
        method = "global-frozen" if r["global model"].startswith("frozen") else "global-finetune"
        keys = set(runs.loc[runs["method"] == method, "key"])
        sel = runs[runs["params.global"].isin(keys) & (runs["params.scoring"] == "roialign")]
        alone = sel[sel["method"] == "sun2016-global"].sort_values("fold")["metrics.accuracy"].to_numpy()
        k1 = sel[(sel["method"] == "sun2016-lf") & (sel["params.k"] == 1) & (sel["params.ranking"] == "obj+senti")
                 ].sort_values("fold")["metrics.accuracy"].to_numpy()
        assert r["gain"] == pytest.approx(100 * float(np.mean(k1 - alone)))
        assert r["global %"] == pytest.approx(100 * float(alone.mean()))
    assert G.sun2016_ladder(runs, "twitter1", "five").empty


def test_a_lower_rung_names_both_sizes_and_enters_the_trend(two_scorings):
    """A rung whose whole image is seen at a smaller size than its regions (region_size) is its own rung, named
    with both sizes; the chapter's tables (profile_runs) leave a global model at another input size out; the
    trend over the rungs is the meta-regression of their gains on their global accuracy."""
    from vsalib import meta_analysis as M

    runs = two_scorings
    rung = runs[(runs["method"] == "global-finetune") | (runs["params.scoring"] == "roialign")].copy()
    rung["key"] = rung["key"] + "-small"
    rung.loc[rung["params.global"].notna(), "params.global"] += "-small"
    rung["params.image_size"] = 32
    rung.loc[rung["method"].str.startswith("sun2016"), "params.region_size"] = 64
    rung.loc[rung["method"] == "sun2016-global", "metrics.accuracy"] -= 0.25  # a weaker model alone
    rung["created"] = "2099-01-01T00:00:00+00:00"
    both = pd.concat([runs, rung], ignore_index=True)
    lad = G.sun2016_ladder(both, "synthetic", "binary")
    assert "EfficientNet-Lite0 at 32 px, regions at 64 px" in set(lad["backbone"])
    assert len(lad) == len(G.sun2016_ladder(runs, "synthetic", "binary")) + 1 and (lad["folds"] == 2).all()
    small = lad[lad["backbone"].str.contains("32 px")].iloc[0]
    base = lad[(lad["global model"] == small["global model"]) & ~lad["backbone"].str.contains("px")].iloc[0]
    assert small["global %"] == pytest.approx(base["global %"] - 25)
    assert small["gain"] == pytest.approx(base["gain"] + 25)
    t = G.ladder_trend(lad)
    want = M.meta_regression(lad["gain"], lad["se"], lad["global %"])
    assert (t is None and want is None) or t == want
    text = G.trend_sentence(t, "three rungs", "the same folds")
    assert ("needs at least three" in text) if t is None else f"slope of {t.slope:+.2f} points" in text
    by_fold = G.ladder_trend_by_fold(lad)  # per fold: the slope of the rungs' gains on their global accuracy
    x = lad["global %"].to_numpy()
    slopes = [np.polyfit(x, [f.loc[i] for f in lad["per fold"]], 1)[0] for i in sorted(lad["per fold"].iloc[0].index)]
    assert by_fold.n == 2 and by_fold.gain == pytest.approx(np.mean(slopes))
    if t is not None:
        assert "fold by fold, which keeps that pairing" in G.trend_sentence(t, "rungs", "folds", by_fold)
    assert G.ladder_trend_by_fold(lad.iloc[:2]) is None
    df = pd.DataFrame({"method": ["global-finetune", "global-finetune", "gch"],
                       "params.backbone": ["efficientnet_lite0", "efficientnet_lite0", None],
                       "params.image_size": [224, 96, None], "params.finetune_from": [12.0, 12.0, None]})
    assert published.profile_runs(df, "cpu").index.tolist() == [0, 2]  # the 96-px rung is the ladder's alone


def test_open_measurements_read_the_snapshot(two_scorings):
    """The page's "not measured yet" list comes from the snapshot: each item says how far it is, and an item
    leaves the list once its runs are in (here: a five-fold ladder rung per planned model, three fold seeds)."""
    runs = two_scorings
    lad = G.sun2016_ladder(runs, "synthetic", "binary")
    text = G.open_measurements(lad, runs, "synthetic", "binary", None)  # every global model
    assert "**Whole-network fine-tuning**" in text and "(not run yet)" in text
    assert "-p backbone efficientnet_lite2 -p image_size 260" in text
    assert "(1 published: fold seed 0)" in text
    assert "scripts/run_scale_check.py --dataset synthetic --subset binary" in text
    assert "**EfficientNet-Lite0 on 96-px images**" in text and "-p image_size 96 -p region_size 224" in text
    done = pd.DataFrame([{"global model": kind, "backbone": bb, "folds": 5}
                         for kind, bb in (("fine-tuned, every layer", "EfficientNet-Lite0"),
                                          ("fine-tuned from stage 12", "EfficientNet-Lite1"),
                                          ("fine-tuned from stage 12", "EfficientNet-Lite2"),
                                          *(("fine-tuned from stage 12", f"EfficientNet-Lite0 at {px} px, regions at "
                                             "224 px") for px in G.LOWER_RUNGS))])
    part = G.open_measurements(done.assign(folds=[5, 5, 2, 5, 5, 3]), runs, "synthetic", "binary", None)
    assert "Whole-network" not in part and "Lite1" not in part and "(2 of 5 folds published)" in part
    assert "96-px" not in part and "(3 of 5 folds published): `papermill" in part and "160-px" in part
    three = pd.concat([runs.assign(seed=s) for s in (0, 1, 2)], ignore_index=True)
    assert "run_scale_check" in G.open_measurements(done, three, "synthetic", "binary", None)
    scale = dict.fromkeys(("crop_jitter2", "roialign224", "roialign600", "roialign224_masked"), 0.5)
    three = pd.concat([three, pd.DataFrame(_scale_rows("g", "2026-12-04T00:00:00+00:00", scale, "synthetic",
                                                       "binary"))], ignore_index=True)
    assert G.open_measurements(done, three, "synthetic", "binary", None) == \
        "Every measurement this page plans is in the snapshot."


def _scale_rows(global_key: str, created: str, top1: dict, dataset: str = "twitter1", subset: str = "five") -> list[dict]:
    """Scale-check records as the store's table has them: crop 3.0 s/image; the others' seconds and top-1."""
    secs = {"crop": 3.0, "crop_jitter2": 3.0, "roialign224": 0.1, "roialign600": 0.4, "roialign224_masked": 7.5}
    rows = []
    for v, s in secs.items():
        r = {"dataset": dataset, "subset": subset, "method": "scalecheck-sun2016", "created": created,
             "params.global": global_key, "params.versus": v, "params.backbone": "efficientnet_lite0",
             "params.image_size": 224, "provenance.run.profile": "cpu", "metrics.seconds_per_image": s,
             "metrics.images": 50}
        if v == "crop":
            r["metrics.senti_ties"] = 8.0
        else:
            t = top1[v]
            r.update({"metrics.senti_top1": t, "metrics.senti_top1_iou50": t + 0.1, "metrics.senti_top10_overlap": t + 0.3,
                      "metrics.senti_top1_from_logits": t, "metrics.senti_top1_iou50_from_logits": t + 0.1,
                      "metrics.senti_top10_overlap_from_logits": t + 0.3, "metrics.other_senti_ties": 2.0})
        rows.append(r)
    return rows


def test_scale_check_table_and_sentence_say_the_numbers():
    import pandas as pd

    old = _scale_rows("g-old", "2026-12-01T00:00:00+00:00", dict.fromkeys(
        ("crop_jitter2", "roialign224", "roialign600", "roialign224_masked"), 0.9))
    top1 = {"crop_jitter2": 0.4, "roialign224": 0.0, "roialign600": 0.1, "roialign224_masked": 0.05}
    new = _scale_rows("g-new", "2026-12-04T00:00:00+00:00", top1)
    t = G.scale_check_table(pd.DataFrame(old + new), "twitter1", "five", "cpu")
    assert list(t["versus"]) == ["crop", "crop_jitter2", "roialign224", "roialign600", "roialign224_masked"]  # latest only
    # the same model checked again on another sample: only that later check is shown
    again = [{**r, "params.images": 20, "created": "2026-12-05T00:00:00+00:00"} for r in old]
    t2 = G.scale_check_table(pd.DataFrame([{**r, "params.images": 50} for r in old + new] + again), "twitter1", "five", "cpu")
    assert len(t2) == 5 and set(t2["same top-1"].dropna()) == {0.9}
    conclusion = G.conclusion(G.region_claims(_board()), _board(), scale=t)
    assert ("RoIAlign puts crop's first region first on 0 % warped to 224 px and 10 % at a shorter side of 600 px of "
            "the checked images. Crop itself, with its boxes moved by 2 px, agrees on 40 %") in conclusion
    assert "well beyond that" in conclusion  # 10 % < 40 % / 2
    close = t.assign(**{"same top-1": t["same top-1"].where(t["versus"] != "roialign600", 0.3)})
    assert "of the same order" in G.conclusion(G.region_claims(_board()), _board(), scale=close)
    assert "Which region comes first" not in G.conclusion(G.region_claims(_board()), _board())
    by = t.set_index("versus")
    assert by.loc["roialign224", "speed-up"] == pytest.approx(30.0) and by.loc["roialign600", "speed-up"] == pytest.approx(7.5)
    assert by.loc["crop", "tied at top"] == 8.0 and by.loc["roialign224", "tied at top"] == 2.0
    assert by.loc["roialign224", "scoring"] == "RoIAlign, image warped to 224 px (7 x 7 map)"
    assert "masked" in by.loc["roialign224_masked", "scoring"] and by.loc["crop_jitter2", "same top-1"] == 0.4
    text = G.scale_check_sentence(t)
    assert "agrees with itself on the first region of 40 %" in text
    assert "30.0 times faster than crop, the same first region on 0 %" in text
    assert "No RoIAlign scale meets the goal of 20 times crop's speed at 75 % top-1" in text
    assert "crop itself would not meet it against itself" in text
    # context: the masked top-10 overlap 35 % against RoIAlign's 30 % closes (35 - 30) / (70 - 30) of the gap
    assert "shares 35 % of crop's ten best instead of 30 %" in text and "about 12 % of the gap" in text
    assert "The 600 px map closes about 25 % of it" in text and "region's own resolution" in text  # (40 - 30) / 40
    # a scale that is fast and agrees is named as meeting the goal
    good = _scale_rows("g", "2026-12-04T00:00:00+00:00", {**top1, "roialign224": 0.8})
    assert "RoIAlign, image warped to 224 px (7 x 7 map) meets the goal" in G.scale_check_sentence(
        G.scale_check_table(pd.DataFrame(good), "twitter1", "five", "cpu"))
    assert G.scale_check_table(pd.DataFrame(new), "twitter1", "four", "cpu").empty and G.scale_check_sentence(
        pd.DataFrame()) == ""
