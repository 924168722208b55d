"""MultiLevelRCNN's classifier on [X_global, X_local_1..K] (Eq. 5): masked slots, Table 1's variants."""

import pytest
import torch

from vsalib.methods.multilevel_rcnn import MultiLevelHead


def test_masked_region_slots_never_reach_the_prediction():
    torch.manual_seed(0)
    head = MultiLevelHead(global_dim=6, local_dim=4, k=3, hidden=8).eval()
    g, local = torch.randn(2, 6), torch.randn(2, 3, 4)
    mask = torch.tensor([[True, True, False], [True, False, False]])
    out = head(g, local, mask)
    assert out.shape == (2, 2)
    changed = local.clone()
    changed[0, 2] += 100.0  # a padded slot
    changed[1, 1:] -= 50.0
    assert torch.equal(head(g, changed, mask), out)
    changed[0, 0] += 1.0  # a real one
    assert not torch.equal(head(g, changed, mask), out)


def test_table1_variants_read_only_their_inputs():
    torch.manual_seed(0)
    g, local, mask = torch.randn(2, 6), torch.randn(2, 3, 4), torch.ones(2, 3, dtype=torch.bool)
    only_global = MultiLevelHead(6, 4, k=3, hidden=8, use_local=False).eval()
    assert only_global.fc1.in_features == 6
    assert torch.equal(only_global(g, local, mask), only_global(g, local * 0, mask))
    only_local = MultiLevelHead(6, 4, k=3, hidden=8, use_global=False).eval()
    assert only_local.fc1.in_features == 12
    assert torch.equal(only_local(g, local, mask), only_local(g * 0, local, mask))
    assert MultiLevelHead(6, 4, k=3, hidden=8).fc1.in_features == 18  # Eq. 5: both, concatenated
    with pytest.raises(ValueError, match="needs the global feature"):
        MultiLevelHead(6, 4, use_global=False, use_local=False)
    with pytest.raises(ValueError, match="region slots"):
        MultiLevelHead(6, 4, k=3)(g, torch.randn(2, 2, 4), torch.ones(2, 2, dtype=torch.bool))


# -- the method on the fold runner ------------------------------------------------------------------------------


import math  # noqa: E402

import pandas as pd  # noqa: E402

from vsalib.methods import multilevel_rcnn as M  # noqa: E402
from vsalib.methods import multilevel_regions  # noqa: E402


def test_every_card_row_is_one_variant_a_fold_trains():
    vs = [{**v.params(), "use_global": v.use_global} for v in M.variants()]
    for row in M.CARD.rows + M.CARD.derived:
        hits = [v for v in vs if all(v.get(k) == val for k, val in row.params.items())]
        if row in M.CARD.derived:  # the λ sweep: one head per λ
            assert sorted(h["lam"] for h in hits) == list(M.LAMS)
        else:
            assert len(hits) == 1, row.name
    assert len({tuple(sorted(v.items())) for v in vs}) == len(vs)  # no head trained twice


def test_regions_are_padded_to_k_slots_with_a_mask():
    boxes, mask = M.pad_regions(torch.tensor([[1.0, 2.0, 3.0, 4.0]] * 3), 5, (40, 30))
    assert boxes.shape == (5, 4) and mask.tolist() == [True, True, True, False, False]
    assert boxes[3].tolist() == [0.0, 0.0, 40.0, 30.0]  # the whole image fills a missing slot
    assert M.pad_regions(torch.zeros(12, 4), 10, (8, 8))[1].all()  # more than K: the first K


def test_head_losses_coincide_when_every_label_is_certain():
    torch.manual_seed(0)
    logits, y = torch.randn(4, 2), torch.tensor([0, 1, 1, 0])
    one = torch.ones(4)
    from vsalib.losses import label_distribution

    target = label_distribution(y, one, ["negative", "positive"])
    cls = M.head_loss(logits, y, one, target, "cls", None)
    assert M.head_loss(logits, y, one, target, "p", None) == pytest.approx(float(cls))
    assert M.head_loss(logits, y, one, target, "multi", 0.4) == pytest.approx(float(cls))
    p = torch.tensor([0.6, 0.8, 1.0, 0.6])
    target = label_distribution(y, p, ["negative", "positive"])
    # L_multi = 0.6 L_cls + 0.4 L_ed, L_ed = -sum f log softmax: by hand from the log-probabilities
    logp = torch.log_softmax(logits, 1)
    l_ed = -(target * logp).sum(1).mean()
    assert float(M.head_loss(logits, y, p, target, "multi", 0.4)) == pytest.approx(float(0.6 * cls + 0.4 * l_ed))
    assert float(M.head_loss(logits, y, p, target, "p", None)) != pytest.approx(float(cls))
    with pytest.raises(ValueError, match="loss='kl'"):
        M.head_loss(logits, y, p, target, "kl", None)


def test_the_head_keeps_its_best_validation_epoch():
    torch.manual_seed(0)
    n = 40
    y = torch.arange(n) % 2
    xg = torch.randn(n, 3) + 2.0 * y[:, None]  # separable along every axis
    xl, mask = torch.zeros(n, 2, 1), torch.ones(n, 2, dtype=torch.bool)
    cfg = M.MultiLevelConfig(hidden=4, head_epochs=15, head_lr=0.05, head_batch=8, top_k=2)
    v = M.Variant("none", True, "cls")
    p = torch.ones(n)
    head, fit = M.train_head(v, (xg, xl, mask, y, p, torch.nn.functional.one_hot(y, 2).float()),
                             (xg[:10], xl[:10], mask[:10], y[:10]), 2, cfg, seed=0)
    acc = float((M.predict_head(head, xg[:10], xl[:10], mask[:10]) == y[:10]).float().mean())
    assert acc == pytest.approx(fit["val_accuracy"]) and 0 <= fit["best_epoch"] < 15 and fit["epochs_run"] == 15
    again, fit2 = M.train_head(v, (xg, xl, mask, y, p, torch.nn.functional.one_hot(y, 2).float()),
                               (xg[:10], xl[:10], mask[:10], y[:10]), 2, cfg, seed=0)
    assert fit2 == fit  # seeded
    stop = M.MultiLevelConfig(hidden=4, head_epochs=50, head_lr=0.05, head_batch=8, top_k=2, patience=2)
    assert M.train_head(v, (xg, xl, mask, y, p, torch.nn.functional.one_hot(y, 2).float()),
                        (xg[:10], xl[:10], mask[:10], y[:10]), 2, stop, seed=0)[1]["epochs_run"] < 50


def test_config_names_what_is_wrong():
    with pytest.raises(ValueError, match="boxes='stimuli'"):
        M.MultiLevelConfig(boxes="stimuli")
    with pytest.raises(ValueError, match="local_features"):
        M.MultiLevelConfig(local_features="pixels")
    with pytest.raises(ValueError, match="lam must lie"):
        M.MultiLevelConfig(lam=1.5)
    with pytest.raises(ValueError, match="every λ"):
        M.MultiLevelRCNN(models=[], lams=(0.5, 2.0))


def _row(lam, test, val, seed=0, fold=0):
    return {"method": "multilevel-rcnn", "params.regions": "emotional", "params.use_global": True,
            "params.loss": "multi", "params.lam": lam, "seed": seed, "fold": fold, "metrics.accuracy": test,
            "metrics.val_accuracy": val}


def test_lambda_is_chosen_on_validation_never_on_test():
    # fold 0: validation prefers λ = 0.2 (0.9), test prefers λ = 0.8 (0.95) -> the chosen row reads 0.70;
    # fold 1: validation prefers λ = 0.8 -> 0.60
    runs = pd.DataFrame([_row(0.2, 0.70, 0.90), _row(0.8, 0.95, 0.50),
                         _row(0.2, 0.99, 0.40, fold=1), _row(0.8, 0.60, 0.80, fold=1)])
    chosen, paper = M.MultiLevelRCNN.paper_values(runs, "emotionroi", "binary")["MultiLevelRCNN, λ chosen on validation"]
    assert sorted(chosen.round(6).tolist()) == [60.0, 70.0] and math.isnan(paper)


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory):
    """One fold of the method on 32 synthetic images (48 px), with a spy on what the proposer and the CAMs see."""
    from vsalib.data import Protocol, load_dataset, make_splits
    from vsalib.methods import base
    from vsalib.methods.global_cnn import GlobalFinetune
    from vsalib.regions import fpn
    from vsalib.results import ResultStore

    tmp = tmp_path_factory.mktemp("mlr")
    ds = load_dataset("synthetic", n_images=32, size=64, cache_dir=str(tmp / "c"))
    split = make_splits(ds, Protocol("kfold", k=2), seed=0)[:1]
    store = ResultStore(tmp / "r")
    seen = {}
    mp = pytest.MonkeyPatch()
    real_train, real_cam = fpn.train_detector, M.pseudo_boxes

    def spy_train(det, images, boxes, **kw):
        seen["proposer_images"] = len(images)
        return real_train(det, images, boxes, **kw)

    def spy_cam(model, images, labels, *a, **kw):
        seen["cam_labels"] = list(labels)
        return real_cam(model, images, labels, *a, **kw)

    mp.setattr(fpn, "train_detector", spy_train)
    mp.setattr(multilevel_regions, "pseudo_boxes", spy_cam)  # where the proposer's training calls it
    trainer = GlobalFinetune(image_size=64, epochs=1, batch_size=8, finetune_from=16, cache_dir=tmp / "c", progress=False)
    kw = dict(trainer=trainer, cache_dir=tmp / "c", progress=False, fpn_channels=16, representation=32,
              detector_epochs=1, frozen_stages=16, rpn_pre_nms=100, rpn_post_nms=50, rois_per_image=32, candidates=20,
              max_size=64, hidden=8, head_epochs=2, lams=(0.0, 1.0))
    try:
        recs = base.run(M.MultiLevelRCNN(**kw), ds, split, subset="binary", store=store, progress=False)
    finally:
        mp.undo()
    return ds, split[0], store, recs, seen, kw


def test_a_fold_trains_every_head_and_the_proposer_on_training_images_only(synthetic_run):
    from vsalib.methods import base

    ds, split, store, recs, seen, kw = synthetic_run
    heads = [r for r in recs if r.method == "multilevel-rcnn"]
    assert len(heads) == len(M.variants(M.PAPER_LAM, (0.0, 1.0))) and len(recs) == len(heads) + 1
    # the proposer and the CAMs saw the fold's training images and labels only
    fold = base.Fold(ds, split, "binary")
    assert seen["proposer_images"] == len(split.train)
    assert seen["cam_labels"] == fold.labels("train").tolist()
    regions = next(r for r in recs if r.method == "multilevel-rcnn-regions")
    assert {"recall_emotional", "recall_random", "seconds_per_image", "boxes_per_image"} <= set(regions.metrics)
    assert regions.provenance["method"]["family"] == "multilevel"  # records multilevel-rcnn*
    for r in heads:
        assert 0.0 <= r.metrics["accuracy"] <= 1.0 and len(r.extra["y_pred"]) == len(split.test)
        assert r.metrics["p_star_mean"] == 1.0  # synthetic data: no p*, and the record says so
    # a second run reads the fold back
    again = base.run(M.MultiLevelRCNN(**kw), ds, [split], subset="binary", store=store, progress=False)
    assert sorted(r.key for r in again) == sorted(r.key for r in recs)


def test_image_regions_rank_candidates_by_s_emo(synthetic_run):
    ds, split, store, recs, seen, kw = synthetic_run
    cfg = M.MultiLevelConfig(top_k=3, candidates=20)

    class Detector:  # stands in for the proposer: three candidates, p_emo decreasing
        pass

    import vsalib.regions.fpn as fpn

    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 40.0, 40.0], [5.0, 30.0, 25.0, 60.0]])
    p_emo, p_obj = torch.tensor([0.9, 0.6, 0.5]), torch.tensor([0.1, 0.1, 0.8])
    mp = pytest.MonkeyPatch()
    mp.setattr(fpn, "detect", lambda det, x: (boxes, p_emo, lambda b: (torch.arange(len(b), dtype=torch.float32)[:, None]
                                                                       .repeat(1, 2), torch.zeros(len(b)))))
    try:
        out = M.image_regions(Detector(), lambda x, b: (p_obj, torch.zeros(len(b), dtype=torch.long)),
                              torch.zeros(3, 64, 64, dtype=torch.uint8), cfg, seed=0)
    finally:
        mp.undo()
    # S_emo = sqrt(p_emo² + p_obj²): 0.906, 0.608, 0.943 -> third, first, second (p_emo alone: first, second, third)
    assert out["emotional"]["boxes"].tolist() == boxes[[2, 0, 1]].tolist()
    assert out["object"]["boxes"][0].tolist() == boxes[2].tolist()
    assert out["grid"]["mask"].tolist() == [True, True, True]  # a 3x3 grid cut to K = 3
    assert out["emotional"]["x"].shape == (3, 2)


def test_the_chapters_tables_come_from_the_records(synthetic_run):
    from vsalib.methods import multilevel_study as S
    from vsalib import real_benchmarks as RB

    ds, split, store, recs, seen, kw = synthetic_run
    runs = store.load(dataset=ds.name)
    runs = runs[runs["key"].isin([r.key for r in recs])]
    t = S.table(runs, ds.name, "binary").set_index("row")
    assert list(t.index) == list(S.TABLE1_ROWS + S.TABLE2_ROWS)
    assert t.loc["global+emotional regions", "paper FI %"] == pytest.approx(87.51)  # Table 1, FI 2 classes
    assert t.loc["global+emotional regions", "paper gain"] == pytest.approx(87.51 - 77.15)  # over ResNet101+Lmulti
    head = next(r for r in recs if r.params.get("regions") == "emotional" and r.params.get("use_global")
                and r.params.get("loss") == "multi" and r.params.get("lam") == M.PAPER_LAM)
    assert t.loc["global+emotional regions", "ours"] == pytest.approx(100 * head.metrics["accuracy"])
    sweep = S.lam_sweep(runs)
    assert list(sweep["λ"]) == ["0", "0.4", "1", "chosen on validation"] and sweep.iloc[-1]["chosen on (folds)"] == 1
    prop = S.proposer_summary(runs)
    assert len(prop) == 1 and "recall, emotional" in prop  # the synthetic set knows its boxes
    assert list(RB.proposer_table(runs).columns) == ["measurement", "seed 0 fold 0"]  # one column per split
    assert S.p_star_mean(runs) == 1.0
    assert len(S.claims(runs, ds.name, "binary")) == len(M.CARD.claims)
    t3 = S.table3(runs, "emotionroi", "binary").set_index("row")
    assert t3.loc["MultiLevelRCNN", "paper %"] == pytest.approx(82.94) and t3.loc["VGG16", "runs"] == 0
    printed = RB.multilevel_table(runs, ds.name, "binary", S.TABLE1_ROWS)
    assert "paper FI (2) %" in printed and not printed["ours %"].isna().any()
    # six classes (EmotionROI's emotions) are read against FI's 8-class column, the paper's only multi-class one
    assert S.paper_classes(6) == S.paper_classes(8) == 8 and S.paper_classes(2) == 2
    t6 = S.table(runs, ds.name, "binary", n_classes=6).set_index("row")
    assert t6.loc["global+emotional regions", "paper FI %"] == pytest.approx(S._paper("global+emotional regions", "fi", 8))
    assert not math.isnan(t6.loc["global+emotional regions", "paper FI %"])
    assert "paper FI (8) %" in RB.multilevel_table(runs, ds.name, "binary", S.TABLE1_ROWS, n_classes=6)
    with pytest.raises(ValueError, match="n_classes"):
        S.paper_classes(1)
    # the class count of the records themselves, from their labels and predictions (the records keep no count)
    assert S.run_classes(runs) == 2
    six = pd.DataFrame({"extra.y_true": [[0, 5, 2], [1]], "extra.y_pred": [[0, 4, 2], None]})
    assert S.run_classes(six) == 6 and S.paper_classes(S.run_classes(six)) == 8
    assert S.run_classes(pd.DataFrame({"extra.y_true": [[0, 1]], "extra.y_pred": [[0, 2]]})) == 3  # a predicted label counts
    with pytest.raises(ValueError, match="extra.y_true"):
        S.run_classes(pd.DataFrame({"accuracy": [0.5]}))
    with pytest.raises(ValueError, match="empty"):
        S.run_classes(pd.DataFrame({"extra.y_true": [[]]}))
    pub = S.published_table(1).set_index("Table 1 row")
    assert pub.loc["object regions only", "FI (2)"] == pytest.approx(88.44)


def test_lam_sentence_reads_the_sweep():
    """Fig. 8's takeaway from the sweep's own numbers: the choices per split, the test accuracy beside the
    paper's λ, and whether the span over λ exceeds the noise; flat by construction where p* = 1."""
    import pandas as pd

    from vsalib.methods import multilevel_study as study

    sweep = pd.DataFrame({"λ": ["0", "0.4", "1", "chosen on validation"],
                          "validation %": [80.0, 82.0, 70.0, float("nan")], "test %": [75.0, 78.0, 71.0, 77.0],
                          "ci95": [2.0, 2.0, 2.0, 2.0], "runs": [3, 3, 3, 3], "chosen on (folds)": [1, 2, 0, 3]})
    text = study.lam_sentence(sweep, 0.8)
    assert text.startswith("Validation chose λ = 0.4 on 2, λ = 0 on 1 of the 3 splits")
    assert "77.00 %, against 78.00 % at the paper's λ = 0.4" in text
    assert "spans 7.00 points over λ." in text  # wider than the 2-point intervals: no noise clause
    noisy = sweep.assign(ci95=10.0)
    assert "cannot tell one λ from another" in study.lam_sentence(noisy, 0.8)
    assert study.lam_sentence(sweep, 1.0).startswith("Every λ trains the same classifier here")


def test_top_k_larger_than_the_proposers_regions_is_refused():
    with pytest.raises(ValueError, match=r"top_k=20 \(the regions kept per image\) is larger than candidates=10 .*"
                                         r"expected top_k <= candidates"):
        M.MultiLevelConfig(top_k=20, candidates=10)
    assert M.MultiLevelConfig(top_k=10, candidates=10).top_k == 10
