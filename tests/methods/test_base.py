"""The method contract: the fold's leak guard, pairing by identity, the registry and the fold runner."""

from pathlib import Path

import numpy as np
import pytest

from vsalib import provenance, report
from vsalib.data import Protocol, load_dataset, make_splits
from vsalib.data.registry import UnknownNameError
from vsalib.methods import base
from vsalib.results import Record, ResultStore


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    ds = load_dataset("synthetic", n_images=24, size=32, cache_dir=str(tmp_path_factory.mktemp("c")))
    return ds, make_splits(ds, Protocol("kfold", k=3), seed=0)


def test_test_labels_are_reached_only_by_score(data):
    ds, splits = data
    fold = base.Fold(ds, splits[0], "binary")
    assert np.array_equal(fold.labels("train"), ds.labels[splits[0].train])
    assert np.array_equal(fold.labels("val"), ds.labels[splits[0].val])
    with pytest.raises(PermissionError, match="Fold.score"):
        fold.labels("test")
    y = ds.labels[splits[0].test]
    s = fold.score(y)
    assert s["accuracy"] == 1.0 and np.array_equal(s["y_true"], y)
    assert fold.score(1 - y)["accuracy"] == 0.0
    with pytest.raises(ValueError, match="predictions for the"):
        fold.score(y[:-1])
    with pytest.raises(ValueError, match="unknown part"):
        fold.index("dev")
    assert fold.paths("test") == [ds.paths[i] for i in splits[0].test]
    assert str(fold.id) == "synthetic/binary kfold3-grouped seed 0 fold 0"


def test_models_are_paired_with_their_folds_by_identity(data):
    ds, splits = data
    folds = base.folds_of(ds, splits, "binary")
    recs = [f.record("global-finetune", {}, {"accuracy": 0.5}) for f in folds]
    assert base.pair_by_identity(folds, reversed(recs)) == recs  # order does not matter
    with pytest.raises(base.FoldMismatchError, match="was trained for .* fold 1, not for .* fold 0"):
        base.check_pairing(folds[0], recs[1])
    other = Record(dataset="synthetic", subset="five", protocol="kfold3-grouped", method="m", seed=0, fold=0)
    with pytest.raises(base.FoldMismatchError):
        base.check_pairing(folds[0], other)  # another subset's model
    with pytest.raises(base.FoldMismatchError, match="no model was trained for"):
        base.pair_by_identity(folds, recs[:2])


def test_choose_on_validation_takes_the_first_best():
    assert base.choose_on_validation([1, 2, 3, 4], {1: 0.5, 2: 0.7, 3: 0.7, 4: 0.6}.get) == (2, 0.7)
    with pytest.raises(ValueError):
        base.choose_on_validation([], float)


def test_registry_and_settings():
    assert "majority" in base.list_methods()
    with pytest.raises(UnknownNameError, match="valid names: .*majority"):
        base.create_method("nope")
    with pytest.raises(UnknownNameError, match="has no setting 'K'"):
        base.create_method("majority", K=3)


#: Settings that keep a method's paper schedule out of a unit test (AttrAttention's epoch is 1,000 steps;
#: MultiLevelRCNN's proposer trains 10 epochs with 2,000 RPN boxes and its heads 100 epochs per λ, 600 s here).
SHORT = {"attr-attention": dict(iterations=10, max_epochs=2, dim=32),
         "multilevel-rcnn": dict(fpn_channels=32, representation=64, detector_epochs=1, frozen_stages=12,
                                 rpn_pre_nms=200, rpn_post_nms=100, rois_per_image=64, candidates=20, head_epochs=5,
                                 hidden=32, lams=(0.0, 1.0))}


@pytest.mark.parametrize("name", base.list_methods())
def test_every_registered_method_runs_a_fold_with_provenance(name, data, tmp_path):
    """Every method on the contract: one synthetic fold, records with provenance (its own, and those of
    the model it is built on), read back on a second run, and its paper's table rebuilt from the store."""
    ds, splits = data
    store = ResultStore(tmp_path)
    method = base.create_method(name, **SHORT.get(name, {}))
    recs = base.run(method, ds, splits[:1], subset="binary", store=store, progress=False)
    trainer = getattr(method, "trainer", None)
    made_by_trainer = trainer.done(base.Fold(ds, splits[0], "binary"), store) if trainer is not None else []
    assert recs and made_by_trainer is not None
    assert len(store) == len(recs) + len(made_by_trainer)
    for r in store.records():
        assert base.FoldId.of(r) == base.Fold(ds, splits[0], "binary").id
        assert r.provenance["method"]["family"] == provenance.method_family(r.method)
        assert r.provenance["method"]["version"] is not None
        if r.method != method.cost_method or "accuracy" in r.metrics:  # every record scores, but the record of a
            assert 0.0 <= r.metrics["accuracy"] <= 1.0  # method's region step may measure that alone (MultiLevelRCNN's)
    again = base.run(base.create_method(name, **SHORT.get(name, {})), ds, splits[:1], subset="binary", store=store,
                     progress=False)
    assert sorted(r.key for r in again) == sorted(r.key for r in recs) and len(store) == len(recs) + len(made_by_trainer)
    if method.card is not None:  # the card's rows that these records give are filled from the store
        table = report.card_table(method.card, store.load(), ds.name, "binary").set_index("row")
        ours = {r.name for r in method.card.rows if r.method in {rec.method for rec in store.records()}}
        assert ours, f"no row of {method.card.key}'s card is made by {name}"
        filled = [row for row in ours if table.loc[row, "runs"]]  # a method's variants (WSIDNet's graph
        assert filled, f"no row of {method.card.key}'s card is filled by {name}'s records"  # controls) run apart
        for row in filled:
            assert table.loc[row, "runs"] == 1 and 0 <= table.loc[row, "ours"] <= 100, row


def test_majority_class_by_hand(data, tmp_path):
    ds, splits = data
    fold = base.Fold(ds, splits[0], "binary")
    m = base.create_method("majority")
    trained = m.train(fold, ResultStore(tmp_path))
    y_tr = ds.labels[splits[0].train]
    assert trained.model == int(np.bincount(y_tr).argmax()) and trained.fold == fold.id
    (rec,) = m.evaluate(fold, trained)
    assert rec.metrics["accuracy"] == pytest.approx(float((ds.labels[splits[0].test] == trained.model).mean()))


def test_the_runner_refuses_a_model_made_for_another_fold(data, tmp_path):
    ds, splits = data

    from dataclasses import dataclass

    @dataclass(frozen=True)
    class NoKnobs:
        pass

    class Wrong(base.Method):
        name = "wrong"
        Config = NoKnobs

        def train(self, fold, store):
            other = base.Fold(ds, splits[1], "binary")
            return base.Trained(fold.id, None, other.record("wrong-train", {}, {}))

        def evaluate(self, fold, model):
            raise AssertionError("never reached")

    with pytest.raises(base.FoldMismatchError):
        base.run(Wrong(), ds, splits[:1], subset="binary", store=ResultStore(tmp_path), progress=False)

    class WrongFold(Wrong):
        def train(self, fold, store):
            return base.Trained(base.Fold(ds, splits[1], "binary").id)

    with pytest.raises(base.FoldMismatchError, match="made a model for"):
        base.run(WrongFold(), ds, splits[:1], subset="binary", store=ResultStore(tmp_path), progress=False)


def test_annotations_are_labels_too(data):
    ds, splits = data
    fold = base.Fold(ds, splits[0], "binary")
    assert list(fold.annotations("emotion", "train")) == list(ds.table["emotion"].to_numpy()[splits[0].train])
    with pytest.raises(PermissionError, match="test part's 'emotion'"):
        fold.annotations("emotion", "test")
    with pytest.raises(KeyError, match="no column 'valence_x'"):
        fold.annotations("valence_x", "val")
    assert fold.has_column("emotion") and not fold.has_column("valence_x")


def test_a_stored_record_without_its_weights_is_trained_again_when_its_model_is_needed(data, tmp_path):
    """A record read from the published snapshot holds numbers, not weights: a method that loads the model
    (Sun2016 on its global model, WSIDNet's detection branch) retrains that fold instead of failing."""
    from dataclasses import dataclass

    ds, splits = data

    @dataclass(frozen=True)
    class NoKnobs:
        pass

    trained = []

    class Saves(base.OneRecordPerFold, base.Method):
        name = "saves-weights"
        Config = NoKnobs

        def params(self):
            return {}

        def train(self, fold, store):
            trained.append(fold.id)
            path = tmp_path / "weights" / f"model_{fold.id.fold}.txt"
            path.parent.mkdir(exist_ok=True)
            path.write_text("w")
            return base.Trained(fold.id, str(path))

        def evaluate(self, fold, t):
            return [fold.record(self.name, self.params(), {"accuracy": 0.5}, extra={"model_path": t.model})]

    store, fold, m = ResultStore(tmp_path / "store"), base.Fold(ds, splits[0], "binary"), Saves()
    (rec,) = base.run_fold(m, fold, store)
    assert base.missing_weights([rec]) == [] and len(trained) == 1
    base.run_fold(m, fold, store, need_weights=True)
    assert len(trained) == 1  # stored with its weights: read back
    (tmp_path / "weights" / "model_0.txt").unlink()
    assert base.missing_weights(list(store.records())) == [rec.extra["model_path"]]
    base.run_fold(m, fold, store)
    assert len(trained) == 1  # the numbers alone suffice here
    with pytest.warns(UserWarning, match="its weights are not") as caught:
        (again,) = base.run_fold(m, fold, store, need_weights=True)
    assert len(trained) == 2 and base.missing_weights([again]) == [] and again.key == rec.key
    assert not any("trained again scores" in str(w.message) for w in caught)  # the same accuracy: no warning
    (tmp_path / "weights" / "model_0.txt").unlink()
    Saves.evaluate = lambda self, fold, t: [fold.record(self.name, self.params(), {"accuracy": 0.75},
                                                        extra={"model_path": t.model})]
    with pytest.warns(UserWarning) as caught:
        base.run_fold(m, fold, store, need_weights=True)
    assert [("its weights are not" in str(w.message), "trained again scores 0.75, the stored record 0.5" in str(w.message))
            for w in caught] == [(True, False), (False, True)]
    assert base._same_score(0.7878788113594055, 26 / 33) and not base._same_score(0.75, 0.5)  # float32 of 26/33
    assert base._same_score(None, None) and not base._same_score(None, 0.5)
    # caches made with a model are keyed on its weights too: a model trained again gets its own caches
    rec = next(iter(store.records()))
    first = base.model_identity(rec)
    assert first.startswith(rec.key + "@")
    Path(rec.extra["model_path"]).write_text("other weights")
    assert base.model_identity(rec) not in (first, rec.key)
    # run() passes need_weights to every fold: read back with weights, trained again without
    (tmp_path / "weights" / "model_0.txt").unlink()
    n = len(trained)
    base.run(m, ds, splits[:1], subset="binary", store=store, progress=False)
    assert len(trained) == n
    with pytest.warns(UserWarning, match="its weights are not"):
        base.run(m, ds, splits[:1], subset="binary", store=store, progress=False, need_weights=True)
    assert len(trained) == n + 1
