"""Guards against choices made on test data, ignored parameters, and splits paired with another split's model.

Each test builds inputs where the right answer and the tempting wrong one differ: validation and test
prefer different K (or C), β changes the K that validation picks, the two readings of R-CNNGSR Eq. 3
predict different classes, an image has fewer proposals than K. The experiments run on hand-built
regions and hand-built classifiers (the CNN, the proposals and the logistic regression are replaced),
so every number asserted here is worked out by hand in the comments.
"""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from vsalib.backbones import create_backbone
from vsalib.data import Protocol, Split
from vsalib.data.registry import ImageDataset
from vsalib.methods import global_cnn, rcnngsr, sun2016
from vsalib.regions.proposals import Proposals
from vsalib.results import Record, ResultStore

pytestmark = pytest.mark.usefixtures("one_thread")


# -- hand-built datasets, splits and model records ------------------------------------------------

def _dataset(labels, name="handmade"):
    n = len(labels)
    table = pd.DataFrame({"path": [f"/nowhere/{name}/img{i:03d}.jpg" for i in range(n)],
                          "label": np.asarray(labels, dtype=int), "group": [f"g{i}" for i in range(n)]})
    return ImageDataset(name, table, ["negative", "positive"], Path("/nowhere"), Protocol("kfold", k=2))


def _kfold_split(n_train, n_val, n_test, seed=0, fold=0):
    """Rows 0.. are the training part, then the validation part, then the test part (protocol ``kfold2``)."""
    idx = np.arange(n_train + n_val + n_test)
    return Split(idx[:n_train], idx[n_train:n_train + n_val], idx[n_train + n_val:], fold=fold, n_folds=2, seed=seed,
                 kind="kfold", grouped=False)


def _model_record(dataset="handmade", subset="binary", protocol="kfold2", seed=0, fold=0,
                  method="global-finetune", **params):
    return Record(dataset=dataset, subset=subset, protocol=protocol, method=method, seed=seed, fold=fold,
                  params={"backbone": "tiny", "image_size": 32, **params})


# -- Sun2016 on hand-built regions ---------------------------------------------------------------

def _sun_image(g1, *r1s, feat=(0.0, 0.0)):
    """One image: whole-image P(positive) = ``g1``; regions with P(positive) = ``r1s`` in rank order (the
    first has the highest Obj and Senti, so it ranks first under every ranking, α and Obj norm)."""
    n = len(r1s)
    rank = torch.linspace(1.0, 0.0, n) if n > 1 else torch.ones(n)
    return sun2016.ImageRegions(
        boxes=torch.tensor([[0.0, 0.0, 8.0 + i, 8.0 + i] for i in range(n)]).reshape(n, 4), obj=rank.clone(),
        probs=torch.tensor([[1 - r, r] for r in r1s]).reshape(n, 2), feats=torch.zeros(n, 2), senti=rank.clone(),
        global_probs=torch.tensor([1 - g1, g1]), global_feat=torch.tensor(feat, dtype=torch.float32),
        obj_raw=rank.clone())


def _run_sun(tmp_path, monkeypatch, train, val, test, cfg=sun2016.Sun2016Config(), **kw):
    """run_sun2016 on one fold whose parts hold the given ``(ImageRegions, label)`` pairs, the CNN and the
    proposals replaced by those regions."""
    parts = list(train) + list(val) + list(test)
    ds = _dataset([lab for _, lab in parts])
    regions = {p: r for p, (r, _) in zip(ds.paths, parts)}
    split = _kfold_split(len(train), len(val), len(test))
    monkeypatch.setattr(global_cnn, "load_finetuned", lambda rec, n_classes, device=None: object())
    monkeypatch.setattr(sun2016, "dataset_proposals", lambda paths, cfg, **k: [None] * len(paths))
    monkeypatch.setattr(sun2016, "analyse_images",
                        lambda model, paths, props, cfg, size=None, progress=True, cache_file=None:
                        [regions[p] for p in paths])
    args = dict(subset="binary", ks=(1, 2), betas=(0.5,), alphas=(1.0,), early_fusion=False,
                store=ResultStore(tmp_path / "r"), progress=False)
    return sun2016.run_sun2016(ds, [sun2016.FoldInputs(split, _model_record())], cfg, **{**args, **kw})


def _one(records, method, **params):
    (rec,) = [r for r in records if r.method == method and all(r.params.get(k) == v for k, v in params.items())]
    return rec


# With β = 0.5, an image with Y_global = (0.55, 0.45) and regions (0, 1) then (1, 0):
#   K = 1: (0.55, 0.45 + 0.5)              -> positive
#   K = 2: (0.55 + 0.25, 0.45 + 0.25)      -> negative
FLIP = (0.45, 1.0, 0.0)


def test_k_is_chosen_on_validation_not_on_test(tmp_path, monkeypatch):
    # validation: two negatives, one positive -> K = 2 right on 2/3, K = 1 on 1/3: K = 2
    # test: two positives, one negative -> K = 1 right on 2/3, K = 2 on 1/3 (the oracle would pick K = 1)
    val = [(_sun_image(*FLIP), 0), (_sun_image(*FLIP), 0), (_sun_image(*FLIP), 1)]
    test = [(_sun_image(*FLIP), 1), (_sun_image(*FLIP), 1), (_sun_image(*FLIP), 0)]
    recs = _run_sun(tmp_path, monkeypatch, [], val, test)
    kval = _one(recs, "sun2016-K-val")
    assert kval.metrics["k"] == 2
    assert kval.metrics["val_accuracy"] == pytest.approx(2 / 3)
    assert kval.metrics["accuracy"] == pytest.approx(1 / 3)  # test accuracy at the validation's K
    # the late-fusion records keep both parts apart too
    for k, (acc, vacc) in {1: (2 / 3, 1 / 3), 2: (1 / 3, 2 / 3)}.items():
        lf = _one(recs, "sun2016-lf", ranking="obj+senti", k=k)
        assert (lf.metrics["accuracy"], lf.metrics["val_accuracy"]) == (pytest.approx(acc), pytest.approx(vacc))


def test_k_on_validation_uses_the_configured_beta(tmp_path, monkeypatch):
    # S: Y_global (0.8, 0.2), regions (0.5, 0.5) then (0, 1); positive.
    #   K = 1: class 1 - class 0 = -0.6 + β·0            -> negative for every β (wrong)
    #   K = 2: -0.6 + β/2·(1 + 0) = -0.6 + β/2           -> right only for β > 1.2
    # P (FLIP), positive: K = 1 right for β > 0.1, K = 2 never.
    # validation S, S, P: β = 2 -> K = 1: 1/3, K = 2: 2/3 (K = 2); β = 0.5 -> 1/3 against 0 (K = 1)
    s = (0.2, 0.5, 1.0)
    val = [(_sun_image(*s), 1), (_sun_image(*s), 1), (_sun_image(*FLIP), 1)]
    test = [(_sun_image(*s), 1), (_sun_image(*FLIP), 1)]
    recs = _run_sun(tmp_path, monkeypatch, [], val, test, sun2016.Sun2016Config(beta=2.0))
    kval = _one(recs, "sun2016-K-val")
    assert kval.metrics["k"] == 2 and kval.metrics["val_accuracy"] == pytest.approx(2 / 3)
    assert kval.metrics["accuracy"] == pytest.approx(0.5)  # β = 2, K = 2 on the test part: S right, P wrong


class _KnownClassifier:
    """A stand-in for the logistic regression whose accuracy per C and data part is known: each row is
    ``[part, label, ...]``; it predicts the label on the rows of part p only at ``C = right_c[p]``, the
    other label everywhere else."""

    def __init__(self, c, right_c):
        self.c, self.right_c = c, right_c

    def fit(self, x, y):
        return self

    def predict(self, x):
        part, label = np.asarray(x)[:, 0].round().astype(int), np.asarray(x)[:, 1].round().astype(int)
        right = np.asarray([self.right_c.get(int(p)) == self.c for p in part])
        return np.where(right, label, 1 - label)


TRAIN, VAL, TEST = 0, 1, 2


def test_early_fusion_c_is_chosen_on_validation_not_on_test(tmp_path, monkeypatch):
    right_c = {VAL: 1e-3, TEST: 1e-1}  # validation is right only at C = 0.001, test only at C = 0.1
    monkeypatch.setattr(global_cnn, "logistic_regression", lambda c: _KnownClassifier(c, right_c))

    def part(p, labels):
        return [(_sun_image(*FLIP, feat=(p, lab)), lab) for lab in labels]

    recs = _run_sun(tmp_path, monkeypatch, part(TRAIN, (0, 1, 0, 1)), part(VAL, (0, 1, 1)), part(TEST, (1, 0, 1, 0)),
                    early_fusion=True)
    ff = _one(recs, "sun2016-ff")
    assert ff.metrics["C"] == 1e-3 and ff.metrics["val_accuracy"] == 1.0
    assert ff.metrics["accuracy"] == 0.0  # the C chosen on validation is wrong on every test image
    assert list(ff.extra["y_pred"]) == [0, 1, 0, 1]


def test_frozen_baseline_c_is_chosen_on_validation_not_on_test(tmp_path, monkeypatch):
    split = _kfold_split(4, 3, 4)
    parts = [TRAIN] * 4 + [VAL] * 3 + [TEST] * 4
    labels = [0, 1, 0, 1, 0, 1, 1, 1, 0, 1, 0]
    ds = _dataset(labels)
    feats = torch.tensor([[p, lab] for p, lab in zip(parts, labels)], dtype=torch.float32)
    right_c = {VAL: 0.01, TEST: 1.0}  # neither the grid's first C (the default) nor its last
    tiny = create_backbone("tiny", pretrained=False)
    monkeypatch.setattr(global_cnn, "create_backbone", lambda name, **kw: tiny)
    monkeypatch.setattr(global_cnn.feature_cache, "extract", lambda net, paths, **kw: feats[:, None])
    monkeypatch.setattr(global_cnn, "logistic_regression", lambda c: _KnownClassifier(c, right_c))
    (rec,) = global_cnn.run_frozen(ds, [split], backbone="tiny", image_size=32, store=ResultStore(tmp_path / "r"),
                                   progress=False)
    assert rec.metrics["C"] == 0.01 and rec.metrics["val_accuracy"] == 1.0
    assert rec.metrics["accuracy"] == 0.0
    assert list(rec.extra["y_pred"]) == [0, 1, 0, 1]  # test labels 1, 0, 1, 0, all wrong


# -- Eq. 1's log base, on a model whose softmax output is known ------------------------------------

@pytest.fixture(scope="module")
def constant_model():
    """The tiny CNN with a zero classifier and bias (0, ln 3): softmax (0.25, 0.75) for any input."""
    m = global_cnn.GlobalCNN(create_backbone("tiny", pretrained=False), 2).eval()
    with torch.no_grad():
        m.classifier.weight.zero_()
        m.classifier.bias.copy_(torch.tensor([0.0, math.log(3.0)]))
    return m


# Senti = 1 + 0.25·log 0.25 + 0.75·log 0.75:
#   base 2: 1 - 0.5 - 0.75·0.4150375 = 0.1887219
#   base e: 1 - 0.3465736 - 0.75·0.2876821 = 0.4376649
@pytest.mark.parametrize("log_base, senti", [(2.0, 0.1887219), (math.e, 0.4376649)])
@pytest.mark.parametrize("scoring", ["roialign", "crop"])
def test_analyse_image_senti_uses_the_configured_log_base(constant_model, log_base, senti, scoring):
    im = Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    boxes = torch.tensor([[0, 0, 64, 64], [8, 8, 40, 40], [30, 20, 60, 60]], dtype=torch.float32)
    props = Proposals(boxes, torch.tensor([1.0, 2.0, 4.0]), "test", (64, 64))
    cfg = sun2016.Sun2016Config(log_base=log_base, scoring=scoring)
    r = sun2016.analyse_image(constant_model, im, cfg, props, size=32)
    torch.testing.assert_close(r.probs, torch.tensor([[0.25, 0.75]] * 3), atol=1e-6, rtol=0)
    torch.testing.assert_close(r.senti, torch.full((3,), senti), atol=1e-5, rtol=0)
    # Eq. 2 with Obj / max = (0.25, 0.5, 1)
    ar = torch.sqrt(torch.tensor([0.25, 0.5, 1.0]) ** 2 + senti ** 2)
    torch.testing.assert_close(r.ranking_scores("obj+senti"), ar, atol=1e-5, rtol=0)


# -- Eq. 3 with fewer regions than K ---------------------------------------------------------------

def test_late_fusion_divides_by_k_eff_on_the_method_path(tmp_path, monkeypatch):
    # one region (0, 1), Y_global (0.6, 0.4), β = 0.5, K = 3:
    #   K_eff = 1: (0.6, 0.4 + 0.5)   -> positive
    #   nominal K = 3: (0.6, 0.4 + 0.5/3 = 0.567) -> negative
    r = _sun_image(0.4, 1.0)
    fused = r.late_fusion(3, beta=0.5)
    torch.testing.assert_close(fused.scores, torch.tensor([0.6, 0.9]))
    assert fused.used_regions == 1 and fused.prediction == 1 and not fused.fallback
    acc, preds, fallbacks = sun2016.late_fusion_accuracy([r, _sun_image(0.4, 1.0)], [1, 1], 3, 0.5)
    assert acc == 1.0 and preds.tolist() == [1, 1] and fallbacks == 0
    # the same through the experiment's records (K = 3 > N = 1)
    recs = _run_sun(tmp_path, monkeypatch, [], [(_sun_image(0.4, 1.0), 1)], [(_sun_image(0.4, 1.0), 1)] * 2,
                    ks=(1, 3))
    for ranking in sun2016.RANKINGS:
        lf = _one(recs, "sun2016-lf", ranking=ranking, k=3)
        assert lf.metrics["accuracy"] == 1.0 and lf.metrics["val_accuracy"] == 1.0
    assert _one(recs, "sun2016-lf-objnorm", norm="minmax", k=3).metrics["accuracy"] == 1.0
    assert _one(recs, "sun2016-K-val").metrics["accuracy"] == 1.0


def test_records_say_what_k_was_where_a_test_image_has_fewer_regions_than_k(tmp_path, monkeypatch):
    # test images with 3, 1 and 0 regions; K = 1, 2, 3:
    #   K = 1: K_eff 1, 1, 0 -> mean 2/3, min 0, one image below K
    #   K = 2: K_eff 2, 1, 0 -> mean 1,   min 0, two below
    #   K = 3: K_eff 3, 1, 0 -> mean 4/3, min 0, two below
    test = [(_sun_image(0.4, 1.0, 0.0, 0.5), 1), (_sun_image(0.4, 1.0), 1), (_sun_image(0.4), 0)]
    val = [(_sun_image(0.4, 1.0, 0.0, 0.5), 1)]
    recs = _run_sun(tmp_path, monkeypatch, [], val, test, ks=(1, 2, 3))
    want = {1: {"mean": pytest.approx(2 / 3), "min": 0, "images_below_k": 1},
            2: {"mean": pytest.approx(1.0), "min": 0, "images_below_k": 2},
            3: {"mean": pytest.approx(4 / 3), "min": 0, "images_below_k": 2}}
    for k, kw in want.items():
        for ranking in sun2016.RANKINGS:
            assert _one(recs, "sun2016-lf", ranking=ranking, k=k).extra["k_effective"] == kw
        assert _one(recs, "sun2016-lf-objnorm", norm="minmax", k=k).extra["k_effective"] == kw
    kval = _one(recs, "sun2016-K-val")
    assert kval.extra["k_effective"] == want[kval.metrics["k"]]
    assert _one(recs, "sun2016-lf-beta", beta=0.5).extra["k_effective"] == want[1]  # the configured K = 1
    assert "k_effective" not in _one(recs, "sun2016-global").extra  # no K there
    # test images with 3 and 2 regions: K = 1, 2 have no such key (the records are as before), K = 3 has it
    full = [(_sun_image(0.4, 1.0, 0.0, 0.5), 1), (_sun_image(0.4, 1.0, 0.0), 1)]
    recs = _run_sun(tmp_path / "full", monkeypatch, [], val, full, ks=(1, 2, 3))
    for r in recs:
        k = r.metrics["k"] if r.method == "sun2016-K-val" else r.params.get("k")
        if k is None or k <= 2:
            assert "k_effective" not in r.extra, (r.method, r.params)
        else:
            assert r.extra["k_effective"] == {"mean": pytest.approx(2.5), "min": 2, "images_below_k": 1}


# -- R-CNNGSR: each fusion reading computed with its own rule ------------------------------------------

def _gsr_image(g1, r1, region_areas, image_area=100.0):
    n = len(region_areas)
    return rcnngsr.ImageRegions(torch.tensor([1 - g1, g1]), torch.zeros(n, 4),
                                torch.tensor(region_areas, dtype=torch.float32),
                                torch.tensor([[1 - r1, r1]] * n), image_area)


def _ratio_split(n_train, n_val, n_test, seed=0):
    idx = np.arange(n_train + n_val + n_test)
    return Split(idx[:n_train], idx[n_train:n_train + n_val], idx[n_train + n_val:], fold=0, n_folds=1, seed=seed,
                 kind="ratio", grouped=False)


def _patch_rcnngsr(monkeypatch, regions_by_path):
    monkeypatch.setattr(global_cnn, "load_finetuned", lambda rec, n_classes, device=None: object())
    monkeypatch.setattr(rcnngsr, "dataset_regions",
                        lambda model, paths, grouping, **kw: [regions_by_path[p] for p in paths])


# X: Y_global (0.7, 0.3), two regions (0, 1) of 10 % of the image each:
#   "sum" (Eq. 3 as printed): (0.7, 0.3 + 0.2)    -> negative
#   "average":                (0.7, 0.3 + 1.0)    -> positive
# Y: Y_global (0.8, 0.2), eight regions (0.4, 0.6) of 50 % each (area ratios sum to 4):
#   "sum":     (0.8 + 1.6, 0.2 + 2.4)             -> positive
#   "average": (0.8 + 0.4, 0.2 + 0.6)             -> negative
X_IMAGE = (0.3, 1.0, [10.0, 10.0])
Y_IMAGE = (0.2, 0.6, [50.0] * 8)


def test_rcnngsr_records_use_their_own_fusion_reading(tmp_path, monkeypatch):
    images = [X_IMAGE, X_IMAGE, X_IMAGE, Y_IMAGE, X_IMAGE, Y_IMAGE]  # train, train, val, test × 3
    ds = _dataset([1] * 6)
    _patch_rcnngsr(monkeypatch, {p: _gsr_image(*im) for p, im in zip(ds.paths, images)})
    split = _ratio_split(2, 1, 3)
    tr = _model_record(protocol="ratio", method="rcnngsr-train", xi1=1e-3, xi2=5e-4)
    recs = rcnngsr.run_rcnngsr(ds, [tr], [split], rcnngsr.RCNNGSRConfig(), sentiment=("with",),
                               store=ResultStore(tmp_path / "r"), progress=False)
    by_reading = {r.params["reading"]: r for r in recs}
    assert set(by_reading) == {"sum", "average"}
    assert list(by_reading["sum"].extra["y_pred"]) == [1, 0, 1]  # test part: Y, X, Y
    assert list(by_reading["average"].extra["y_pred"]) == [0, 1, 0]
    assert by_reading["sum"].metrics["accuracy"] == pytest.approx(2 / 3)
    assert by_reading["average"].metrics["accuracy"] == pytest.approx(1 / 3)
    assert by_reading["sum"].metrics["global_accuracy"] == 0.0  # f(x) alone says negative everywhere


# -- splits paired with another split's model ------------------------------------------------------

@pytest.mark.parametrize("wrong, shown", [
    (dict(fold=0), r"trained for .*fold 0, not for .*fold 1"),  # fold 1's split with fold 0's model
    (dict(seed=3), r"trained for .*seed 3 fold 1, not for .*seed 0 fold 1"),
    (dict(dataset="other"), r"trained for other/.*not for handmade/"),
    (dict(subset="four"), r"trained for handmade/four .*not for handmade/binary "),
    (dict(protocol="ratio"), r"trained for handmade/binary ratio .*not for handmade/binary kfold2 "),
])
def test_run_sun2016_refuses_another_splits_model(tmp_path, monkeypatch, wrong, shown):
    ds = _dataset([0, 1] * 6)
    folds = [sun2016.FoldInputs(_kfold_split(4, 2, 6), _model_record()),  # a right pair first
             sun2016.FoldInputs(_kfold_split(4, 2, 6, fold=1), _model_record(**{"fold": 1, **wrong}))]
    monkeypatch.setattr(global_cnn, "load_finetuned", lambda *a, **k: pytest.fail("ran before checking every fold"))
    store = ResultStore(tmp_path / "r")
    with pytest.raises(ValueError, match=shown):
        sun2016.run_sun2016(ds, folds, subset="binary", ks=(1,), store=store, progress=False)
    assert len(store) == 0  # checked before any work: no fold wrote a record


def test_run_rcnngsr_pairs_splits_and_models_by_identity(tmp_path, monkeypatch):
    ds = _dataset([1] * 8)
    regions = {p: _gsr_image(*X_IMAGE) for p in ds.paths}
    _patch_rcnngsr(monkeypatch, regions)
    splits = [_ratio_split(4, 1, 3, seed=0), _ratio_split(3, 1, 4, seed=1)]
    trained = [_model_record(protocol="ratio", method="rcnngsr-train", seed=s, xi1=1e-3, xi2=5e-4) for s in (0, 1)]
    store = ResultStore(tmp_path / "r")
    recs = rcnngsr.run_rcnngsr(ds, trained[::-1], splits, rcnngsr.RCNNGSRConfig(), sentiment=("with",),
                               store=store, progress=False)
    assert len(recs) == 4
    for r in recs:  # each split's records name its own model, whatever the order of train_records
        assert r.params["global"] == trained[r.seed].key
        assert len(r.extra["test_index"]) == len(splits[r.seed].test)


@pytest.mark.parametrize("records, shown", [
    ([dict(seed=1)], r"no trained model was trained for .*seed 0 fold 0 \(have: .*seed 1 fold 0\)"),
    ([dict(dataset="other")], r"trained for handmade.*\(have: other"),
    ([dict(protocol="kfold2")], r"ratio seed 0 fold 0 \(have: .* kfold2 seed 0"),
    ([dict(), dict()], r"share one identity"),  # two models of the same split: which one is meant?
    ([], r"\(have: none\)"),
])
def test_run_rcnngsr_refuses_a_split_without_its_own_model(tmp_path, monkeypatch, records, shown):
    ds = _dataset([1] * 8)
    _patch_rcnngsr(monkeypatch, {p: _gsr_image(*X_IMAGE) for p in ds.paths})
    trained = [_model_record(**{"protocol": "ratio", "method": "rcnngsr-train", **r}) for r in records]
    store = ResultStore(tmp_path / "r")
    with pytest.raises(ValueError, match=shown):
        rcnngsr.run_rcnngsr(ds, trained, [_ratio_split(4, 1, 3)], rcnngsr.RCNNGSRConfig(), store=store,
                            progress=False)
    assert len(store) == 0
