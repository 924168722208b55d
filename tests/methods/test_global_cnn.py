"""The global CNN baseline on a tiny synthetic dataset: records, resume, comparison table."""

import numpy as np
import pandas as pd
import pytest
import torch

from vsalib.backbones import create_backbone
from vsalib.data import Protocol, load_dataset, make_splits
from vsalib.methods import global_cnn
from vsalib.results import ResultStore


@pytest.fixture(scope="module")
def tiny_setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("gcnn")
    ds = load_dataset("synthetic", n_images=32, size=48, cache_dir=str(root / "cache"))
    splits = make_splits(ds, Protocol("kfold", k=2), seed=0)
    return ds, splits, root


def test_global_cnn_param_groups_and_start():
    b = create_backbone("tiny", pretrained=False)
    m = global_cnn.GlobalCNN(b, 2, start=1)
    groups = m.param_groups()
    assert set(groups) == {"conv", "classifier"}
    n_conv = sum(p.numel() for p in groups["conv"])
    assert n_conv == sum(p.numel() for p in b.trunk[1:].parameters())
    assert all(not p.requires_grad for p in b.trunk[0].parameters())
    h = b.forward_to(torch.randn(2, 3, 32, 32), 1)
    assert m(h).shape == (2, 2)


def test_run_frozen_writes_one_record_per_fold_and_resumes(tiny_setup, monkeypatch):
    ds, splits, root = tiny_setup
    store = ResultStore(root / "results")
    recs = global_cnn.run_frozen(ds, splits, image_size=48, store=store, cache_dir=root / "cache", progress=False)
    assert [r.fold for r in recs] == [0, 1] and len(store) == 2
    for r, s in zip(recs, splits):
        assert 0.0 <= r.metrics["accuracy"] <= 1.0
        assert r.metrics["C"] in global_cnn.C_GRID
        y_true = np.asarray(r.extra["y_true"])
        assert np.array_equal(y_true, ds.labels[s.test])
        assert r.metrics["accuracy"] == pytest.approx(np.mean(np.asarray(r.extra["y_pred"]) == y_true))
    # a second call finds every fold in the store and extracts nothing
    monkeypatch.setattr(global_cnn.feature_cache, "extract", lambda *a, **k: pytest.fail("re-extracted"))
    again = global_cnn.run_frozen(ds, splits, image_size=48, store=store, cache_dir=root / "cache", progress=False)
    assert [r.metrics for r in again] == [r.metrics for r in recs]


def test_run_finetune_records_saved_weights_and_gradcam_model(tiny_setup):
    ds, splits, root = tiny_setup
    store = ResultStore(root / "results-ft")
    recs = global_cnn.run_finetune(ds, splits[:1], image_size=48, epochs=2, batch_size=8, finetune_from=16,
                                   store=store, cache_dir=root / "cache", progress=False)
    (rec,) = recs
    assert rec.method == "global-finetune" and rec.params["finetune_from"] == 16
    assert len(rec.extra["history"]) == 2 and rec.metrics["epochs_run"] == 2
    model = global_cnn.load_finetuned(rec, len(ds.classes))
    assert model.start == 0
    x = torch.randn(1, 3, 48, 48, device=next(model.parameters()).device)  # loaded where training runs
    with torch.no_grad():
        assert model(x).shape == (1, 2)
    # same seed, same data: the same accuracy again (repeatable on CPU)
    store2 = ResultStore(root / "results-ft2")
    rec2 = global_cnn.run_finetune(ds, splits[:1], image_size=48, epochs=2, batch_size=8, finetune_from=16,
                                   store=store2, cache_dir=root / "cache", checkpoint_dir=root / "ck2",
                                   progress=False)[0]
    assert rec2.metrics["accuracy"] == rec.metrics["accuracy"]
    assert rec2.extra["history"] == rec.extra["history"]


def test_paper_comparison_matches_published_rows():
    runs = pd.DataFrame([
        {"dataset": "twitter1", "subset": "five", "method": "global-frozen", "params.backbone": "efficientnet_lite0",
         "metrics.accuracy": a, "fold": i % 2, "seed": 0, "created": f"2026-01-0{i + 1}"}
        for i, a in enumerate([0.5, 0.5, 0.8, 0.9])  # the first two are superseded by later runs of the same folds
    ])
    table = global_cnn.paper_comparison(runs)
    row = table[(table["paper"] == "sun2016") & (table["paper method"] == "VGG16") & (table["dataset"] == "twitter1-5")]
    assert row["paper accuracy"].item() == 83.51
    assert row["ours"].item() == pytest.approx(85.0)
    assert row["runs"].item() == 2
    # a dataset without runs stays empty
    e6 = table[(table["paper"] == "rcnngsr") & (table["dataset"] == "emotion6")]
    assert (e6["runs"] == 0).all() and e6["ours"].isna().all()


def test_finetune_gain_hand_numbers():
    runs = pd.DataFrame([
        {"dataset": "twitter1", "subset": "five", "method": m, "params.backbone": "efficientnet_lite0",
         "metrics.accuracy": a, "fold": 0, "seed": 0, "created": "2026-01-01"}
        for m, a in (("global-frozen", 0.80), ("global-finetune", 0.85))
    ])
    g = global_cnn.finetune_gain(global_cnn.paper_comparison(runs)).set_index("dataset")
    assert g.loc["twitter1-5", "paper gain"] == pytest.approx(86.56 - 83.51, abs=0.01)
    assert g.loc["twitter1-5", "our gain"] == pytest.approx(5.0)
    assert np.isnan(g.loc["twitter1-4", "our gain"])
