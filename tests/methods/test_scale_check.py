"""The check of RoIAlign against crop scoring at both scales (issue 16, item 5): what it compares, which images it
reads, and that it pairs with the fold's own model and is not measured twice."""

import numpy as np
import pytest

from vsalib.data import Protocol, load_dataset, make_splits
from vsalib.methods import base, scale_check
from vsalib.methods.global_cnn import GlobalFinetune
from vsalib.results import ResultStore

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def fold_and_model(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scale")
    ds = load_dataset("synthetic", n_images=24, size=64, cache_dir=str(tmp / "c"))
    split = make_splits(ds, Protocol("kfold", k=2), seed=0)[0]
    store = ResultStore(tmp / "r")
    trainer = GlobalFinetune(image_size=64, epochs=1, batch_size=8, finetune_from=16, cache_dir=tmp / "c",
                             progress=False)
    recs = scale_check.run(trainer, ds, split, subset="binary", store=store, n_images=3, n_boxes=8, progress=False)
    return ds, split, store, trainer, recs


def test_the_scorings_are_named_by_the_models_input_size():
    assert list(scale_check.scorings(224)) == ["crop_jitter2", "roialign224", "roialign600", "roialign224_masked"]
    assert scale_check.scorings(240)["roialign240_masked"] == {"method": "roialign", "mask_surroundings": True}
    assert scale_check.scorings(224)["roialign600"]["shorter_side"] == 600


def test_crop_against_itself_agrees_everywhere_and_moved_boxes_do_not(fold_and_model):
    from vsalib.data import open_image
    from vsalib.methods.global_cnn import load_finetuned

    ds, split, store, trainer, recs = fold_and_model
    ft = store.get(**base.Fold(ds, split, "binary").identity("global-finetune", trainer.params()))
    model = load_finetuned(ft, 2).eval()
    images = [open_image(ds.paths[i]) for i in split.test[:2]]
    out = scale_check.measure(model, images, n_boxes=8, size=64,
                              versus={"same": {"method": "crop"}, "moved": {"method": "crop", "jitter": 3}})
    same, moved = out["same"], out["moved"]
    # the same boxes scored the same way: the same order, so every agreement is exactly 1, both ways
    for k in ("senti_top1", "senti_top1_iou", "senti_top1_iou50", "senti_top10_overlap"):
        assert same[k] == pytest.approx(1.0) and same[f"{k}_from_logits"] == pytest.approx(1.0)
    assert moved["senti_top1_iou"] < 1.0  # scored where the boxes moved to
    assert out["crop"]["images"] == same["images"] == 2 and out["crop"]["seconds_per_image"] > 0
    assert 1 <= out["crop"]["senti_ties"] <= 8


def test_a_fold_writes_one_record_per_scoring_on_a_seeded_sample_of_its_test_images(fold_and_model, monkeypatch):
    ds, split, store, trainer, recs = fold_and_model
    assert [r.params["versus"] for r in recs] == ["crop", *scale_check.scorings(64)]
    fold = base.Fold(ds, split, "binary")
    idx = scale_check.sample_test(fold, 3, 0)
    assert idx == sorted(idx) and set(idx) <= set(split.test.tolist()) and len(set(idx)) == 3
    assert scale_check.sample_test(fold, 3, 0) == idx and scale_check.sample_test(fold, 99, 0) == sorted(split.test)
    with pytest.raises(ValueError, match="n_images"):
        scale_check.sample_test(fold, 0)
    ft_key = store.get(**fold.identity("global-finetune", trainer.params())).key
    for r in recs:  # paired with the fold's own fine-tuned model, the sample kept, and stamped
        assert r.params["global"] == ft_key and r.extra["test_index"] == idx and r.provenance
        assert (r.seed, r.fold) == (split.seed, split.fold) and r.protocol == fold.id.protocol
        if r.params["versus"] != "crop":
            m = r.metrics
            assert 0 <= m["senti_top1"] <= 1 and 0 <= m["senti_top10_overlap_from_logits"] <= 1
            assert m["seconds_per_image"] > 0 and m["images"] == 3
    # the masked diagnostic costs a pass per box, RoIAlign one per image
    by = {r.params["versus"]: r.metrics for r in recs}
    assert by["roialign64_masked"]["seconds_per_image"] > by["roialign64"]["seconds_per_image"]
    # a second call reads the records back instead of measuring again
    monkeypatch.setattr(scale_check, "measure", lambda *a, **k: pytest.fail("measured twice"))
    again = scale_check.run(trainer, ds, split, subset="binary", store=store, n_images=3, n_boxes=8, progress=False)
    assert [r.key for r in again] == [r.key for r in recs]
    assert np.isfinite(again[1].metrics["senti_top1"])
