"""Sun2016 as a method: one image analysed, fallback without proposals, records of a fold."""

import numpy as np
import pytest
import torch
from PIL import Image

from vsalib.backbones import create_backbone
from vsalib.data import Protocol, load_dataset, make_splits
from vsalib.methods import global_cnn, sun2016
from vsalib.regions.proposals import Proposals
from vsalib.results import ResultStore


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = global_cnn.GlobalCNN(create_backbone("tiny", pretrained=False), 2).eval()
    with torch.no_grad():
        m.classifier.weight.mul_(20)
    return m


def test_config_rejects_unknown_choices():
    with pytest.raises(ValueError, match="obj\\+senti"):
        sun2016.Sun2016Config(ranking="objsenti")
    with pytest.raises(ValueError, match="roialign"):
        sun2016.Sun2016Config(scoring="warp")


def test_analyse_image_scores_and_ranks(model):
    im = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 80, 3), dtype=np.uint8))
    boxes = torch.tensor([[0, 0, 80, 64], [10, 10, 40, 40], [40, 20, 80, 60]], dtype=torch.float32)
    props = Proposals(boxes, torch.tensor([2.0, 1.0, 4.0]), "test", (80, 64))
    cfg = sun2016.Sun2016Config(obj_norm="max")
    r = sun2016.analyse_image(model, im, cfg, props, size=64)
    assert r.probs.shape == (3, 2) and torch.allclose(r.probs.sum(1), torch.ones(3))
    assert torch.allclose(r.obj, torch.tensor([0.5, 0.25, 1.0]))
    # Eq. 1 with log base 2
    s = r.probs
    assert torch.allclose(r.senti, 1 + (s * torch.log2(s)).sum(1), atol=1e-6)
    # Eq. 2 ranking, then Eq. 3 by hand for K = 2
    ar = torch.sqrt(r.obj ** 2 + r.senti ** 2)
    top2 = torch.argsort(ar, descending=True)[:2]
    assert r.top(2).tolist() == top2.tolist()
    fused = r.late_fusion(2, beta=0.5)
    assert torch.allclose(fused.scores, r.global_probs + 0.25 * r.probs[top2].sum(0), atol=1e-6)
    assert fused.used_regions == 2 and not fused.fallback
    # obj-only ranking picks the highest objectness
    assert r.top(1, "obj").tolist() == [2]


def test_image_without_proposals_falls_back_and_says_so(model):
    im = Image.new("RGB", (48, 48), (120, 120, 120))  # flat: EdgeBoxes finds nothing
    r = sun2016.analyse_image(model, im, sun2016.Sun2016Config(), size=48)
    assert len(r.boxes) == 0 and r.note
    res = r.late_fusion(3)
    assert res.fallback and torch.equal(res.scores, r.global_probs)
    assert "region" in res.reason.lower() or "proposal" in res.reason.lower()


def test_run_sun2016_writes_table1_records(tmp_path):
    ds = load_dataset("synthetic", n_images=24, size=64, cache_dir=str(tmp_path / "c"))
    splits = make_splits(ds, Protocol("kfold", k=2), seed=0)[:1]
    store = ResultStore(tmp_path / "r")
    ft = global_cnn.run_finetune(ds, splits, image_size=64, epochs=1, finetune_from=16, store=store,
                                 cache_dir=tmp_path / "c", progress=False)
    folds = [sun2016.FoldInputs(splits[0], ft[0])]
    recs = sun2016.run_sun2016(ds, folds, subset="binary", ks=(1, 2), betas=(0.5,), alphas=(1.0,), store=store,
                               cache_dir=tmp_path / "c", progress=False)
    methods = {r.method for r in recs}
    assert methods == {"sun2016-global", "sun2016-lf", "sun2016-lf-beta", "sun2016-lf-alpha", "sun2016-ff",
                       "sun2016-K-val"}
    lf = [r for r in recs if r.method == "sun2016-lf"]
    assert {(r.params["ranking"], r.params["k"]) for r in lf} == {(m, k) for m in sun2016.RANKINGS for k in (1, 2)}
    g = next(r for r in recs if r.method == "sun2016-global")
    assert g.metrics["accuracy"] == pytest.approx(ft[0].metrics["accuracy"])  # same model, same transform
    kval = next(r for r in recs if r.method == "sun2016-K-val")
    assert kval.metrics["k"] in (1, 2)
    # a rerun finds the fold complete and computes nothing
    again = sun2016.run_sun2016(ds, folds, subset="binary", ks=(1, 2), betas=(0.5,), alphas=(1.0,), store=store,
                                cache_dir=tmp_path / "c", progress=False)
    assert len(again) == len(recs)


def test_top1_hit_rate_counts_iou():
    r = sun2016.ImageRegions(torch.tensor([[0.0, 0, 10, 10], [20, 20, 40, 40]]), torch.tensor([1.0, 0.1]),
                             torch.tensor([[0.5, 0.5], [0.5, 0.5]]), torch.zeros(2, 3), torch.zeros(2),
                             torch.tensor([0.5, 0.5]), torch.zeros(3))
    assert sun2016.top1_hit_rate([r], np.array([[0, 0, 10, 12]]), "obj") == 1.0
    assert sun2016.top1_hit_rate([r], np.array([[20, 20, 40, 40]]), "obj") == 0.0


def test_k_curves_by_subset_keep_latest_run_per_fold():
    import pandas as pd

    cfg = sun2016.Sun2016Config()
    base = {f"params.{k}": v for k, v in vars(cfg).items() if k not in ("k", "ranking")}
    rows = []
    for sub, acc in (("five", 0.9), ("four", 0.8)):
        for fold in (0, 1):
            for k in (1, 2):
                rows.append({"dataset": "twitter1", "subset": sub, "method": "sun2016-lf", "seed": 0, "fold": fold,
                             "params.ranking": "obj+senti", "params.k": k, "params.backbone": "b",
                             "metrics.accuracy": acc + 0.01 * fold, "created": "2026-02", **base})
    rows.append({**rows[0], "metrics.accuracy": 0.1, "created": "2026-01"})  # superseded
    c = sun2016.k_curves_by_subset(pd.DataFrame(rows), "twitter1", cfg, backbone="b").set_index(["subset", "k"])
    assert c.loc[("five", 1), "mean"] == pytest.approx(90.5) and c.loc[("five", 1), "runs"] == 2
    assert c.loc[("four", 2), "mean"] == pytest.approx(80.5)
