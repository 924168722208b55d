"""WSIDNet's equations against numbers worked by hand (Eq. 1, the emotion maps, the node features,
Eqs. 4-5, Eqs. 6-7 as named losses), and the head end to end on a tiny feature map."""

import math

import numpy as np

import pytest
import torch

from vsalib.emotions import MIKELS_EMOTIONS, normalized_adjacency, sentiment_graph_adjacency
from vsalib.methods import wsidnet as W


def _fprime():
    """C = 2 emotions, k = 2 detectors each, 2×2 maps, one image; channels class-major."""
    return torch.tensor([[
        [[1.0, 5.0], [2.0, 0.0]],   # class 0, detector 0: max 5, mean 2
        [[3.0, 1.0], [1.0, 3.0]],   # class 0, detector 1: max 3, mean 2
        [[0.0, 0.0], [4.0, 0.0]],   # class 1, detector 0: max 4, mean 1
        [[-1.0, -2.0], [-3.0, -6.0]],  # class 1, detector 1: max -1, mean -3
    ]])


def test_cross_spatial_pooling_is_eq1():
    # v_0 = (5 + 3) / 2 = 4; v_1 = (4 + -1) / 2 = 1.5
    assert W.cross_spatial_pooling(_fprime(), k=2).tolist() == [[4.0, 1.5]]
    # k = 4: one class whose four maps peak at 5, 3, 4, -1 -> 11 / 4
    assert W.cross_spatial_pooling(_fprime(), k=4).tolist() == [[2.75]]
    with pytest.raises(ValueError, match="not a multiple of k=3"):
        W.cross_spatial_pooling(_fprime(), k=3)


def test_emotion_maps_average_each_class_detectors():
    m = W.emotion_maps(_fprime(), k=2)
    assert m.shape == (1, 2, 2, 2)
    assert m[0, 0].tolist() == [[2.0, 3.0], [1.5, 1.5]]
    assert m[0, 1].tolist() == [[-0.5, -1.0], [0.5, -3.0]]


def test_node_features_pool_the_map_weighted_feature_map():
    fmap = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]],    # channel 0
                          [[2.0, 2.0], [2.0, 2.0]]]])  # channel 1
    maps = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]],    # emotion 0: the top-left cell only
                          [[1.0, 1.0], [1.0, 1.0]]]])  # emotion 1: everywhere
    h = W.node_features(fmap, maps)
    # emotion 0: channel 0 -> 1·1 / 4 = 0.25, channel 1 -> 1·2 / 4 = 0.5
    # emotion 1: channel 0 -> (1 + 1) / 4 = 0.5, channel 1 -> 8 / 4 = 2
    assert h.tolist() == [[[0.25, 0.5], [0.5, 2.0]]]


def test_graph_convolution_is_eq4():
    # A = [[0, 1], [1, 0]]: A~ = A + I has degree 2 everywhere, so Â = A~ / 2 (Eq. 5)
    a_hat = torch.as_tensor(normalized_adjacency([[0.0, 1.0], [1.0, 0.0]]), dtype=torch.float32)
    layer = W.GraphConvolution(a_hat, 1, 1, activation="none")
    with torch.no_grad():
        layer.weight.fill_(2.0)
    h = torch.tensor([[[1.0], [3.0]]])
    # H W = [2, 6]; Â (H W) = [(2 + 6) / 2, (2 + 6) / 2] = [4, 4]
    assert layer(h).tolist() == [[[4.0], [4.0]]]
    relu = W.GraphConvolution(a_hat, 1, 1, activation="relu")
    with torch.no_grad():
        relu.weight.fill_(-1.0)
    assert relu(h).tolist() == [[[0.0], [0.0]]]


def test_mikels_graph_weights_opposite_polarity_neighbours_most():
    a = sentiment_graph_adjacency(MIKELS_EMOTIONS)
    i, j = MIKELS_EMOTIONS.index("excitement"), MIKELS_EMOTIONS.index("fear")  # adjacent on the wheel, opposite
    assert a[i, j] == 2.0 and a.diagonal().tolist() == [0.0] * 8


def test_losses_are_eqs_6_and_7_as_named_terms():
    out = W.WSIDNetOutput(logits=torch.tensor([[0.0, 0.0]]), detection=torch.tensor([[0.0, math.log(3.0)]]),
                          maps=torch.zeros(1, 2, 1, 1))
    y, y_emo = torch.tensor([1]), torch.tensor([1])
    losses = W.wsidnet_losses(out, y, y_emo, lam=0.1)
    # L_class = -log 0.5; L_detect = -log(3 / (1 + 3)) = log(4/3); the term carries λ
    assert losses["loss_cls"].item() == pytest.approx(math.log(2))
    assert losses["loss_detect"].item() == pytest.approx(0.1 * math.log(4 / 3))
    assert set(W.wsidnet_losses(out, y, None, lam=0.0)) == {"loss_cls"}  # λ = 0: no detection supervision


def test_binary_labels_never_stand_in_for_emotion_labels():
    out = W.WSIDNetOutput(torch.zeros(2, 2), torch.zeros(2, 8), torch.zeros(2, 8, 1, 1))
    y = torch.tensor([0, 1])
    with pytest.raises(ValueError, match="needs emotion labels"):
        W.wsidnet_losses(out, y, None, lam=0.1)
    with pytest.raises(ValueError, match="needs emotion labels"):
        W.wsidnet_losses(out, y, torch.tensor([-1, -1]), lam=0.1)
    with pytest.raises(ValueError, match=r"must lie in \[0, 8\)"):
        W.wsidnet_losses(out, y, torch.tensor([3, 9]), lam=0.1)
    # images without an emotion label are left out of L_detect, not counted as class 0
    part = W.wsidnet_losses(out, y, torch.tensor([-1, 5]), lam=1.0)
    assert part["loss_detect"].item() == pytest.approx(math.log(8))


@pytest.mark.parametrize("readout", W.READOUTS)
def test_head_end_to_end(readout):
    torch.manual_seed(0)
    cfg = W.WSIDNetHeadConfig(k=2, gcn_layers=2, gcn_width=8, holistic_dim=16, readout=readout, dropout=0.0)
    head = W.WSIDNetHead(n_channels=5, pooled_dim=12, adjacency=sentiment_graph_adjacency(), config=cfg)
    fmap, pooled = torch.randn(3, 5, 4, 4), torch.randn(3, 12)
    out = head(fmap, pooled)
    assert out.logits.shape == (3, 2) and out.detection.shape == (3, 8) and out.maps.shape == (3, 8, 4, 4)
    losses = W.wsidnet_losses(out, torch.tensor([0, 1, 1]), torch.tensor([2, -1, 7]), lam=0.1)
    sum(losses.values()).backward()
    # the sentiment loss reaches the detector through the maps and node features, not only through L_detect
    head.zero_grad()
    W.wsidnet_losses(head(fmap, pooled), torch.tensor([0, 1, 1]), None, lam=0.0)["loss_cls"].backward()
    assert head.detector.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("readout, cancels", [("mean", True), ("concat", False)])
def test_the_mean_readout_cancels_a_regular_graph(readout, cancels):
    """Eq. 3 on Mikels' wheel is regular: every emotion's row sums to 2·(1 + 1/2 + 1/3) + 1/4 = 3.92 from 1/dis,
    plus 1 for each of the 4 emotions of the other polarity, 7.92. So Â's columns sum to 1 and the mean over the
    nodes of ÂHW is the mean of HW: a linear GCN read out by the mean gives the faithful and the identity graph
    the same logits; concatenated, they differ."""
    import numpy as np

    from vsalib.emotions import normalized_adjacency
    from vsalib.methods import wsidnet_study as S

    mikels = sentiment_graph_adjacency()
    assert np.allclose(mikels.sum(axis=1), 2 * (1 + 1 / 2 + 1 / 3) + 1 / 4 + 4)  # regular: 7.92 for every emotion
    assert np.allclose(np.asarray(normalized_adjacency(mikels)).sum(axis=0), 1.0)
    assert W.mean_readout_ignores_graph(mikels) and W.mean_readout_ignores_graph(np.ones((6, 6)) - np.eye(6))
    irregular = np.array([[0, 1.0, 0], [1.0, 0, 2.0], [0, 2.0, 0]])
    assert not W.mean_readout_ignores_graph(irregular) and S.readout_gap(irregular, "mean") > 0.01
    logits = []
    for graph in (mikels, np.zeros((8, 8))):
        torch.manual_seed(0)
        cfg = W.WSIDNetHeadConfig(k=2, gcn_layers=2, gcn_width=8, holistic_dim=16, readout=readout, dropout=0.0,
                                  activation="none")
        head = W.WSIDNetHead(n_channels=5, pooled_dim=12, adjacency=graph, config=cfg).eval()
        torch.manual_seed(1)
        logits.append(head(torch.randn(3, 5, 4, 4), torch.randn(3, 12)).logits.detach())
    gap = float((logits[0] - logits[1]).abs().max())
    assert (gap < 1e-5) == cancels and (S.readout_gap(mikels, readout) < 1e-9) == cancels
    assert W.HeadKnobs().readout == "concat"  # the default keeps node identity


def test_config_is_checked():
    with pytest.raises(ValueError, match="readout"):
        W.WSIDNetHeadConfig(readout="max")
    with pytest.raises(ValueError, match="lam must be >= 0"):
        W.WSIDNetHeadConfig(lam=-1.0)


# -- the graph of a fold, and the method on the fold runner -----------------------------------------

def _fold(emotions, valence=None, arousal=None, n_test=2):
    """A hand-built fold: the given training emotions, then ``n_test`` test images."""
    import numpy as np
    import pandas as pd

    from pathlib import Path

    from vsalib.data import Protocol, Split
    from vsalib.data.registry import ImageDataset
    from vsalib.methods.base import Fold

    n = len(emotions) + n_test
    table = pd.DataFrame({"path": [f"/nowhere/{i}.jpg" for i in range(n)], "label": [i % 2 for i in range(n)],
                          "group": [str(i) for i in range(n)], "emotion": list(emotions) + ["joy"] * n_test})
    if valence is not None:
        table["valence"] = list(valence) + [9.0] * n_test
        table["arousal"] = list(arousal) + [9.0] * n_test
    ds = ImageDataset("hand", table, ["negative", "positive"], Path("/nowhere"), Protocol("kfold", k=2))
    idx = np.arange(n)
    return Fold(ds, Split(idx[:len(emotions)], idx[:0], idx[len(emotions):], 0, 2, 0, "kfold"), "binary")


def test_the_graph_follows_the_datasets_emotions():
    mikels = _fold(["amusement", "fear", "awe", "anger"])
    order, a, used = W.emotion_graph(mikels)
    assert used == "mikels" and len(order) == 8 and (a == sentiment_graph_adjacency()).all()
    # Ekman's six: Eq. 3 on the training part's valence-arousal centroids (the test images, all 'joy' at
    # (9, 9), are not used: joy's centroid is its training image's)
    ekman = _fold(["anger", "disgust", "fear", "joy", "sadness", "surprise"], valence=[1, 2, 3, 7, 1, 6],
                  arousal=[5, 5, 5, 5, 1, 5])
    order, a, used = W.emotion_graph(ekman)
    assert used == "ekman" and order[3] == "joy"
    assert a[0, 3] == pytest.approx(1 / 6 + 1)  # anger (1, 5) - joy (7, 5): distance 6, opposite polarity
    assert a[0, 4] == pytest.approx(1 / 4)  # anger - sadness (1, 1): distance 4, both negative
    with pytest.raises(ValueError, match="not mikels's"):
        W.emotion_graph(ekman, "mikels")


def test_graph_controls_keep_the_nodes():
    import numpy as np

    fold = _fold(["amusement", "fear"])
    _, faithful, _ = W.emotion_graph(fold)
    _, ident, _ = W.emotion_graph(fold, "identity")
    _, unif, _ = W.emotion_graph(fold, "uniform")
    _, shuf, _ = W.emotion_graph(fold, "shuffled", seed=1)
    assert not ident.any() and unif.sum() == 8 * 7
    iu = np.triu_indices(8, 1)
    assert sorted(shuf[iu]) == sorted(faithful[iu]) and (shuf == shuf.T).all() and not (shuf == faithful).all()


def test_wsidnet_trains_on_a_synthetic_fold_with_named_losses(tmp_path):
    from vsalib.data import Protocol, load_dataset, make_splits
    from vsalib.methods import base
    from vsalib.results import ResultStore

    ds = load_dataset("synthetic", n_images=32, size=48, cache_dir=str(tmp_path / "c"))
    split = make_splits(ds, Protocol("kfold", k=2), seed=0)[:1]
    store = ResultStore(tmp_path / "r")
    kw = dict(image_size=48, epochs=2, batch_size=8, finetune_from=16, k=2, gcn_width=16, holistic_dim=32,
              cache_dir=tmp_path / "c", progress=False)
    (full,) = base.run(W.WSIDNet(**kw), ds, split, subset="binary", store=store, progress=False)
    (holistic,) = base.run(W.WSIDNet(branch="holistic", **kw), ds, split, subset="binary", store=store,
                           progress=False)
    assert full.method == "wsidnet" and full.params["branch"] == "full" and holistic.params["branch"] == "holistic"
    epoch = full.extra["history"][0]
    assert {"train_loss_cls", "train_loss_detect"} <= set(epoch)  # Eq. 7 term by term
    assert epoch["train_loss"] == pytest.approx(epoch["train_loss_cls"] + epoch["train_loss_detect"])
    assert "train_loss_detect" not in holistic.extra["history"][0]  # Table 2's Backbone: no detection branch
    graph = full.extra["graph"]  # the graph the model used, for the book to draw without the dataset
    assert graph["kind"] == "mikels" and len(graph["order"]) == 8 and graph["adjacency"][0][0] == 0.0
    assert "graph" not in holistic.extra
    assert full.provenance["method"]["family"] == "wsidnet"
    assert 0.0 <= full.metrics["accuracy"] <= 1.0 and len(full.extra["y_pred"]) == len(split[0].test)


def test_binary_only_data_needs_lam_zero(tmp_path):
    fold = _fold(["amusement", "fear"])
    fold._dataset.table = fold._dataset.table.drop(columns="emotion")  # like Twitter I: sentiment labels only
    method = W.WSIDNet(k=1, gcn_width=4, holistic_dim=4)
    with pytest.raises(ValueError, match="no emotion labels, so L_detect is undefined: set lam=0"):
        method.training_step(fold)
    assert W.WSIDNet(lam=0.0, k=1).training_step(fold) is not None
    assert W.emotion_graph(fold)[2] == "mikels"  # the paper's graph, its maps trained through L_class alone


# -- the card, the study's tables and the detector initialised from another dataset ---------------------
def test_rows_take_their_papers_table():
    from vsalib import report

    # Table 2's Backbone and Table 1's WSIDNet (the same figures as Table 2's WSIDNet row): gain +6.90 on Twitter I-5
    assert report.published_value(W.CARD, "Backbone", "twitter1-5")[0] == pytest.approx(84.35)
    assert report.published_value(W.CARD, "WSIDNet", "twitter1-5")[0] == pytest.approx(91.25)
    assert report.published_value(W.CARD, "WSIDNet", "emotionroi")[0] - \
        report.published_value(W.CARD, "Backbone", "emotionroi")[0] == pytest.approx(6.31)
    assert report.published_value(W.CARD, "WSIDNet, identity graph", "emotionroi")[0] != \
        report.published_value(W.CARD, "WSIDNet, identity graph", "emotionroi")[0]  # no figure: NaN


def test_the_backbone_record_carries_no_graph_knobs():
    holistic = W.WSIDNet(branch="holistic", k=8, gcn_layers=3).params()
    assert holistic["branch"] == "holistic" and not {"k", "lam", "gcn_layers", "graph", "detector_init"} & set(holistic)
    assert W.WSIDNet(branch="holistic", k=8).params() == W.WSIDNet(branch="holistic", k=1).params()
    full = W.WSIDNet(k=8).params()
    assert full["k"] == 8 and full["detector_init"] == "none"


def test_detector_init_needs_lam_zero_and_the_graph_branch():
    with pytest.raises(ValueError, match="set lam=0"):
        W.WSIDNetConfig(detector_init="emotionroi")
    with pytest.raises(ValueError, match="branch='full'"):
        W.WSIDNetConfig(detector_init="emotionroi", lam=0.0, branch="holistic")
    W.WSIDNetConfig(detector_init="emotionroi", lam=0.0)


def test_validation_choice_picks_per_fold_by_validation_only():
    import pandas as pd

    idx = pd.MultiIndex.from_tuples([(0, 0), (0, 1), (1, 0)], names=["seed", "fold"])
    per = {1: (pd.Series([80.0, 70.0, 60.0], idx), pd.Series([60.0, 90.0, 50.0], idx)),
           2: (pd.Series([75.0, 99.0, 65.0], idx), pd.Series([65.0, 90.0, 55.0], idx))}
    test, chosen = W.validation_choice(per)
    # fold (0,0): val 65 > 60 -> k=2 (test 75); (0,1): a tie at 90 -> the first, k=1 (test 70, not the 99);
    # (1,0): 55 > 50 -> k=2 (test 65)
    assert chosen.tolist() == [2, 1, 2] and test.tolist() == [75.0, 70.0, 65.0]
    # a value that ran on one fold only: every fold chooses among the same values, so the others drop out
    per[8] = (pd.Series([90.0], idx[:1]), pd.Series([99.0], idx[:1]))
    test, chosen = W.validation_choice(per)
    assert chosen.tolist() == [8] and test.tolist() == [90.0]
    per[16] = (pd.Series(dtype=float), pd.Series(dtype=float))  # never ran: left out, not an empty intersection
    assert W.validation_choice(per)[1].tolist() == [8]


def _records(rows):
    """A store-like table of wsidnet records: (params, seed, fold, test acc, val acc) per row."""
    import pandas as pd

    out = []
    for params, seed, fold, acc, val in rows:
        out.append({"method": "wsidnet", "seed": seed, "fold": fold, "metrics.accuracy": acc,
                    "metrics.val_accuracy": val, **{f"params.{k}": v for k, v in params.items()}})
    return pd.DataFrame(out)


def test_study_table_and_sweep_from_records():
    from vsalib.methods import wsidnet_study as S

    knobs = {k: getattr(W.WSIDNetConfig(), k) for k in W.SHARED_KNOBS}
    full = {**knobs, "branch": "full", "graph": "auto", "detector_init": "none"}
    recs = []
    for f, (bb, w4, w1, ident) in enumerate([(0.70, 0.74, 0.80, 0.71), (0.60, 0.66, 0.61, 0.60)]):
        recs += [({"branch": "holistic"}, 0, f, bb, 0.5), ({**full, "k": 4}, 0, f, w4, 0.6 if f == 0 else 0.7),
                 ({**full, "k": 1}, 0, f, w1, 0.7 if f == 0 else 0.6), ({**full, "k": 4, "graph": "identity"}, 0, f,
                                                                         ident, 0.5)]
    runs = _records(recs)
    t = S.table(runs, "emotionroi", "binary").set_index("row")
    assert t.loc["Backbone", "ours"] == pytest.approx(65.0) and t.loc["WSIDNet", "ours"] == pytest.approx(70.0)
    assert t.loc["WSIDNet", "paper"] == pytest.approx(83.33) and t.loc["WSIDNet", "paper gain"] == pytest.approx(6.31)
    assert t.loc["WSIDNet", "our gain"] == pytest.approx(5.0)  # (4 + 6) / 2 points
    # k on validation: fold 0 picks k=1 (0.7 > 0.6): 80; fold 1 picks k=4 (0.7 > 0.6): 66
    assert t.loc["WSIDNet, k chosen on validation", "ours"] == pytest.approx(73.0)
    sweep = S.sweep_table(runs, "k", W.KS).set_index("k")
    assert sweep.loc[1, "chosen on (folds)"] == 1 and sweep.loc[4, "chosen on (folds)"] == 1
    assert sweep.loc["chosen on validation", "test %"] == pytest.approx(73.0)
    # a k outside KS that a user swept is among the choices: k = 16 wins fold 1's validation (0.9)
    wider = _records(recs + [({**full, "k": 16}, 0, 0, 0.50, 0.1), ({**full, "k": 16}, 0, 1, 0.90, 0.9)])
    t16 = S.table(wider, "emotionroi", "binary").set_index("row")
    assert t16.loc["WSIDNet, k chosen on validation", "ours"] == pytest.approx(85.0)  # (80 + 90) / 2
    verdicts = S.claims(runs, "emotionroi", "binary").set_index("claim")
    assert verdicts.loc["WSIDNet against its Backbone (Table 2)", "our gain"] == pytest.approx(5.0)
    assert "the emotion graph against its weights shuffled" not in verdicts.index  # not run: left out
    everything = S.claims(runs, "emotionroi", "binary", run_only=False).set_index("claim")
    assert everything.loc["the emotion graph against its weights shuffled", "verdict"] == "–"


def test_knobs_pick_the_readout_and_the_start_the_runs_hold():
    """Runs of the earlier default only (mean read-out) are shown as they are; where the runs hold both read-outs
    the default (concatenated) is the main row and the mean its own row. On binary-only data the main row is
    the one whose detection branch started from EmotionROI's emotions, where the runs hold one."""
    base = {**{k: getattr(W.WSIDNetConfig(), k) for k in W.SHARED_KNOBS}, "branch": "full", "graph": "auto", "lam": 0.0}
    old = _records([({**base, "readout": "mean", "detector_init": "none"}, 0, 0, 0.80, 0.5),
                    ({**base, "readout": "mean", "detector_init": "emotionroi"}, 0, 0, 0.82, 0.5)])
    knobs = W.default_knobs(old)
    assert knobs["readout"] == "mean" and knobs["detector_init"] == "emotionroi" and knobs["lam"] == 0.0
    rows = W.WSIDNet.paper_rows(old)
    assert "WSIDNet, mean read-out" not in rows  # it is the main row under these knobs: not shown twice
    both = _records([({"branch": "holistic"}, 0, 0, 0.80, 0.5),
                     ({**base, "readout": "mean", "detector_init": "emotionroi"}, 0, 0, 0.82, 0.5),
                     ({**base, "readout": "concat", "detector_init": "none"}, 0, 0, 0.84, 0.5),
                     ({**base, "readout": "concat", "detector_init": "emotionroi"}, 0, 0, 0.86, 0.5)])
    knobs = W.default_knobs(both)
    assert knobs["readout"] == "concat" and knobs["detector_init"] == "emotionroi"
    rows = W.WSIDNet.paper_rows(both)
    assert rows["WSIDNet, mean read-out"].params["readout"] == "mean"
    assert rows["WSIDNet, no emotion supervision (λ = 0)"].params["detector_init"] == "none"
    t = __import__("vsalib.methods.wsidnet_study", fromlist=["table"]).table(both, "twitter1", "five").set_index("row")
    assert t.loc["WSIDNet", "ours"] == pytest.approx(86.0) and t.loc["WSIDNet, mean read-out", "ours"] == pytest.approx(82.0)
    assert t.loc["WSIDNet, no emotion supervision (λ = 0)", "ours"] == pytest.approx(84.0)
    with_emotions = _records([({**base, "lam": 0.1, "readout": "concat", "detector_init": "none"}, 0, 0, 0.8, 0.5)])
    assert W.default_knobs(with_emotions)["detector_init"] == "none"


def test_variants_name_the_chapters_runs():
    from vsalib.methods import wsidnet_study as S

    v = S.variants({"epochs": 2}, emotions=True)
    assert v["WSIDNet"]["lam"] == W.PAPER_LAM and v["Backbone"]["branch"] == "holistic"
    assert "k = 4" not in v  # the same run as WSIDNet: runs once
    assert "λ = 1" in v and "λ = 0" not in v  # λ = 0 is the row without emotion supervision: runs once
    assert v["WSIDNet"]["detector_init"] == "none" and v["WSIDNet, no emotion supervision (λ = 0)"]["lam"] == 0.0
    assert v["WSIDNet, mean read-out"]["readout"] == "mean" and v["WSIDNet"].get("readout", "concat") == "concat"
    binary = S.variants({"epochs": 2}, emotions=False)
    assert binary["WSIDNet"]["lam"] == 0.0 and not any(n.startswith("λ =") for n in binary)
    # the main row starts from EmotionROI's emotions; the λ = 0 row has no start; the controls keep the main row's
    assert binary["WSIDNet"]["detector_init"] == "emotionroi"
    assert binary["WSIDNet, no emotion supervision (λ = 0)"]["detector_init"] == "none"
    assert binary["WSIDNet, identity graph"]["detector_init"] == "emotionroi"
    assert S.variants({}, emotions=False, detector_from=None)["WSIDNet"]["detector_init"] == "none"
    with pytest.raises(ValueError, match="no emotion labels"):
        S.variants({"lam": 0.1}, emotions=False)
    with pytest.raises(ValueError, match="unknown variant group"):
        S.variants({}, emotions=True, groups=("tables",))
    for name, settings in v.items():  # every one is a valid config
        W.WSIDNetConfig(**settings)


def test_pointing_game_by_hand():
    import numpy as np

    from vsalib.methods import wsidnet_study as S

    maps = np.zeros((2, 2, 2))
    maps[0, 0, 1] = 1.0  # top-right cell: its centre is (75, 25) on a 100 × 100 image
    maps[1, 1, 0] = 1.0  # bottom-left: (25, 75)
    boxes = np.array([[50, 0, 100, 50], [50, 0, 100, 50]])
    assert S.pointing_hits(maps, boxes, np.array([[100, 100], [100, 100]])).tolist() == [True, False]
    # a wide image: the cell centre scales with it, (150, 25) on 200 × 100
    assert S.pointing_hits(maps[:1], np.array([[140, 0, 160, 30]]), np.array([[200, 100]])).tolist() == [True]


def test_every_graph_normalises_to_finite_values():
    import numpy as np

    from vsalib.emotions import normalized_adjacency

    fold = _fold(["amusement", "fear"])
    for graph in ("auto", "identity", "uniform", "shuffled"):
        _, a, _ = W.emotion_graph(fold, graph)
        a_hat = np.asarray(normalized_adjacency(a))
        assert np.isfinite(a_hat).all() and np.allclose(a_hat, a_hat.T), graph


def test_detector_initialised_from_a_source_dataset(tmp_path):
    from vsalib.data import Protocol, load_dataset, make_splits
    from vsalib.methods import base, wsidnet_study as S
    from vsalib.results import ResultStore

    ds = load_dataset("synthetic", n_images=32, size=48, cache_dir=str(tmp_path / "c"))
    src = load_dataset("synthetic", n_images=24, size=48, seed=3, cache_dir=str(tmp_path / "c"))
    split = make_splits(ds, Protocol("kfold", k=2), seed=0)[:1]
    src_split = make_splits(src, Protocol("kfold", k=2), seed=0)[0]
    store = ResultStore(tmp_path / "r")
    kw = dict(image_size=48, epochs=1, batch_size=8, finetune_from=16, k=2, gcn_width=16, holistic_dim=32,
              cache_dir=tmp_path / "c", progress=False)
    m = W.WSIDNet(lam=0.0, detector_init="synthetic", source=(src, src_split), **kw)
    fold = base.Fold(ds, split[0], "binary")
    m._source_model(fold, store)
    source_rec = store.load(method="wsidnet")
    assert len(source_rec) == 1 and source_rec["params.lam"].iloc[0] == W.PAPER_LAM  # trained with L_detect
    detector = m.build_model(fold).head.detector
    saved = torch.load(source_rec["extra.model_path"].iloc[0], map_location="cpu", weights_only=True)
    assert torch.equal(detector.weight.cpu(), saved["head.detector.weight"])
    (rec,) = base.run(m, ds, split, subset="binary", store=store, progress=False)
    assert rec.params["detector_init"] == "synthetic"
    model = S.load_model(rec, 2)
    out = S.emotion_outputs(model, S.image_batch(model, [load_image(p) for p in ds.paths[:2]], 48))
    assert out["maps"].shape[:2] == (2, 8) and np.allclose(out["emotion"].sum(1), 1, atol=1e-5)


def load_image(path):
    from vsalib.data import open_image

    return open_image(path)


def test_graph_sentence_says_when_the_plus_one_does_not_win():
    from vsalib.real_benchmarks import graph_sentence

    mikels = sentiment_graph_adjacency(MIKELS_EMOTIONS)
    text = graph_sentence(list(MIKELS_EMOTIONS), mikels)
    assert text.startswith("Strongest edges: ") and "2.00" in text and "weaker" not in text
    # anger-fear (both negative) 2.32 beats the best opposite-polarity pair, joy-anger 1.69
    order = ["anger", "fear", "joy"]
    a = np.array([[0, 2.32, 1.69], [2.32, 0, 1.2], [1.69, 1.2, 0]])
    text = graph_sentence(order, a)
    assert "anger–fear 2.32" in text and "(anger–joy, 1.69) is weaker" in text


def test_graph_verdict_reads_the_controls():
    import pandas as pd

    from vsalib.methods import wsidnet_study as S

    def table(main, controls):
        texts = [c.text for c in W.CARD.claims]
        rows = [(texts[0], 6.31, *main)] + [(t, float("nan"), *r) for t, r in zip(texts[1:4], controls)]
        return pd.DataFrame([{"claim": t, "paper gain": p, "our gain": g, "ci95": c, "folds": 3, "verdict": v}
                             for t, p, g, c, v in rows])

    held = (2.0, 1.0, "held")
    flat = (0.1, 1.0, "not resolved")
    text = S.graph_verdict({"EmotionROI": table(held, [flat, flat, flat])})
    assert text.startswith("On EmotionROI, WSIDNet against its Backbone: +2.00 ± 1.00 points (held; the paper +6.31).")
    assert "does not depend on the psychology-based edges" in text
    assert "is what brings the gain" in S.graph_verdict({"E": table(held, [held, held, held])})
    assert "only in part" in S.graph_verdict({"E": table(held, [held, flat, flat])})
    assert "no resolved gain" in S.graph_verdict({"E": table(flat, [flat, flat, flat])})
    assert "have not run there, so" in S.graph_verdict({"E": table(held, [])})
    both = S.graph_verdict({"EmotionROI": table(flat, [flat, flat, flat]), "Twitter I three-agree": table(held, [])})
    assert "have not run there (they ran on EmotionROI), so" in both and "profiles run them" in both
    assert "No run" in S.graph_verdict({})


def test_the_graph_comes_back_from_the_flattened_records():
    import pandas as pd

    from vsalib.real_benchmarks import wsidnet_graph

    runs = pd.DataFrame([
        {"seed": 1, "fold": 0, "params.graph": "auto", "params.detector_init": "none",
         "extra.graph.adjacency": [[0, 2.0], [2.0, 0]], "extra.graph.order": ["joy", "fear"], "extra.graph.kind": "ekman"},
        {"seed": 0, "fold": 0, "params.graph": "auto", "params.detector_init": "none",
         "extra.graph.adjacency": [[0, 1.0], [1.0, 0]], "extra.graph.order": ["joy", "fear"], "extra.graph.kind": "ekman"},
        {"seed": 0, "fold": 0, "params.graph": "shuffled", "params.detector_init": "none",
         "extra.graph.adjacency": [[0, 9.0], [9.0, 0]], "extra.graph.order": ["joy", "fear"], "extra.graph.kind": "shuffled"},
        {"seed": 0, "fold": 0, "params.graph": float("nan"), "params.detector_init": float("nan"),
         "extra.graph.adjacency": float("nan"), "extra.graph.order": float("nan"), "extra.graph.kind": float("nan")},
    ])
    order, a, kind = wsidnet_graph(runs)  # the faithful graph of the first split, not a control's
    assert order == ["joy", "fear"] and a[0, 1] == 1.0 and kind == "ekman"
    assert wsidnet_graph(runs.drop(columns=[c for c in runs if c.startswith("extra.")])) is None


def test_table1_sentence_lists_the_papers_other_rows():
    from vsalib.real_benchmarks import table1_sentence

    text = table1_sentence("twitter1", "five")
    assert text.startswith("The paper's Table 1 there: GCH 67.91, LCH 70.18") and "Wu2019 salient regions 89.50" in text
    assert "WSIDNet" not in text and table1_sentence("synthetic", "binary") == ""
