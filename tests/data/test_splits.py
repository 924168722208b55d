"""Splits: grouped stratified k-fold, fixed, ratio, published folds, leakage of ungrouped folds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vsalib.data import (
    ImageDataset,
    Protocol,
    Split,
    UnknownNameError,
    is_available,
    load_dataset,
    make_splits,
    twin_leakage,
    ungrouped_kfold,
)


def make_dataset(n=200, pos_share=0.3, twins=20, protocol=None, extra=None, info=None) -> ImageDataset:
    """n images, ``twins`` pairs sharing a group (same label), labels imbalanced."""
    rng = np.random.default_rng(1)
    labels = (rng.random(n) < pos_share).astype(int)
    groups = np.array([f"g{i}" for i in range(n)], dtype=object)
    for k in range(twins):  # image 2k+1 is a twin of image 2k
        groups[2 * k + 1] = groups[2 * k]
        labels[2 * k + 1] = labels[2 * k]
    table = pd.DataFrame({"path": [f"/x/{i}.jpg" for i in range(n)], "label": labels, "group": groups})
    for name, values in (extra or {}).items():
        table[name] = values
    return ImageDataset("toy", table, ["negative", "positive"], Path("/x"),
                        protocol or Protocol("kfold", k=5), dict(info or {}))


def groups_of(ds, idx):
    return set(ds.table["group"].to_numpy()[idx])


def test_kfold_partitions_rows_keeps_groups_whole_and_stratifies():
    ds = make_dataset()
    splits = make_splits(ds, seed=3)
    assert len(splits) == 5 and [s.fold for s in splits] == list(range(5))
    tests = np.concatenate([s.test for s in splits])
    assert sorted(tests) == list(range(len(ds)))  # every image tested exactly once
    share = ds.labels.mean()
    for s in splits:
        s.check(len(ds))
        assert len(s.train) + len(s.val) + len(s.test) == len(ds)
        assert not groups_of(ds, s.test) & groups_of(ds, s.train)
        assert not groups_of(ds, s.test) & groups_of(ds, s.val)
        assert not groups_of(ds, s.val) & groups_of(ds, s.train)
        assert abs(ds.labels[s.test].mean() - share) < 0.06
        assert abs(ds.labels[s.val].mean() - share) < 0.1
        assert 0.07 < len(s.val) / (len(s.train) + len(s.val)) < 0.13
        assert (s.n_folds, s.seed, s.kind, s.grouped) == (5, 3, "kfold", True)


def test_splits_are_seeded():
    ds = make_dataset()
    a, b, c = make_splits(ds, seed=7), make_splits(ds, seed=7), make_splits(ds, seed=8)
    assert all(np.array_equal(x.test, y.test) and np.array_equal(x.val, y.val) for x, y in zip(a, b))
    assert any(not np.array_equal(x.test, y.test) for x, y in zip(a, c))


def test_val_fraction_zero_gives_empty_val():
    for s in make_splits(make_dataset(), val_fraction=0.0):
        assert s.val.size == 0 and s.sizes()["train"] + s.sizes()["test"] == 200


def test_fixed_protocol_uses_split_column_and_carves_val_from_train():
    split = np.where(np.arange(200) < 150, "train", "test")
    ds = make_dataset(protocol=Protocol("fixed"), extra={"split": split})
    (s,) = make_splits(ds, seed=0, val_fraction=0.2)
    assert s.test.tolist() == list(range(150, 200))
    assert set(s.train) | set(s.val) == set(range(150)) and 25 <= len(s.val) <= 35
    assert not groups_of(ds, s.val) & groups_of(ds, s.train)
    assert s.kind == "fixed"


def test_fixed_protocol_honours_a_val_rows_and_checks_the_column():
    split = np.array(["train"] * 150 + ["val"] * 10 + ["test"] * 40)
    (s,) = make_splits(make_dataset(protocol=Protocol("fixed"), extra={"split": split}))
    assert s.val.tolist() == list(range(150, 160))
    with pytest.raises(ValueError, match="'split' column"):
        make_splits(make_dataset(protocol=Protocol("fixed")))
    with pytest.raises(ValueError, match="holdout"):
        make_splits(make_dataset(protocol=Protocol("fixed"), extra={"split": ["holdout"] * 200}))


def test_ratio_protocol_is_stratified_with_exact_shares():
    labels = np.array([0] * 300 + [1] * 100)
    table = pd.DataFrame({"path": map(str, range(400)), "label": labels, "group": map(str, range(400))})
    ds = ImageDataset("r", table, ["negative", "positive"], Path("."), Protocol("ratio", ratios=(0.75, 0.20, 0.05)))
    (s,) = make_splits(ds, seed=0)
    s.check(400)
    assert s.sizes() == {"train": 300, "test": 80, "val": 20}
    assert np.bincount(labels[s.test]).tolist() == [60, 20]
    assert np.bincount(labels[s.val]).tolist() == [15, 5]
    (again,) = make_splits(ds, seed=0)
    assert np.array_equal(again.test, s.test)


def test_ratio_protocol_keeps_groups_whole():
    ds = make_dataset(protocol=Protocol("ratio", ratios=(0.6, 0.3, 0.1)))
    (s,) = make_splits(ds, seed=2)
    assert not groups_of(ds, s.test) & groups_of(ds, s.train)
    assert 0.25 < len(s.test) / len(ds) < 0.35


def test_published_folds_are_used_when_the_loader_names_a_column():
    partition = np.arange(200) % 4 + 1
    ds = make_dataset(twins=0, extra={"partition": partition}, info={"fold_column": "partition"})
    splits = make_splits(ds)
    assert len(splits) == 4 and splits[0].kind == "kfold-partition"
    assert splits[2].test.tolist() == np.flatnonzero(partition == 3).tolist()
    assert len(make_splits(ds, fold_column=None)) == 5  # drawn folds instead
    with pytest.raises(ValueError, match="nope"):
        make_splits(ds, fold_column="nope")


def test_ungrouped_folds_leak_twins_and_grouped_do_not():
    ds = make_dataset(twins=40)
    grouped, ungrouped = make_splits(ds, seed=0), ungrouped_kfold(ds, seed=0)
    assert twin_leakage(ds, grouped) == 0.0
    # 80 twin images; a twin's partner lands in train about 4 times in 5
    assert 0.2 < twin_leakage(ds, ungrouped) < 0.45
    assert all(not s.grouped and s.kind == "kfold-ungrouped" for s in ungrouped)
    assert sorted(np.concatenate([s.test for s in ungrouped])) == list(range(len(ds)))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"val_fraction": 1.0}, "val_fraction"),
        ({"val_fraction": -0.1}, "val_fraction"),
        ({"protocol": Protocol("kfold", k=1)}, "k must be"),
        ({"protocol": Protocol("kfold", k=500)}, "groups"),
        ({"protocol": Protocol("ratio", ratios=(0.5, 0.2, 0.2))}, "summing to 1"),
        ({"protocol": Protocol("ratio", ratios=(1.0, 0.0, 0.0))}, "non-zero"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_splits(make_dataset(), **kwargs)


def test_unknown_protocol_kind_lists_valid_kinds():
    with pytest.raises(UnknownNameError, match="kfold, fixed, ratio"):
        make_splits(make_dataset(), Protocol("bootstrap"))


def test_split_check_detects_overlap():
    with pytest.raises(ValueError, match="share"):
        Split(train=[0, 1, 2], val=[], test=[2, 3]).check(4)
    with pytest.raises(ValueError, match="outside"):
        Split(train=[0, 9], val=[], test=[1]).check(4)
    with pytest.raises(ValueError, match="at least one split"):
        twin_leakage(make_dataset(), [])


@pytest.mark.realdata
def test_real_twitter1_folds_keep_byte_identical_twins_together():
    if not is_available("twitter1"):
        pytest.skip("Twitter I not found (set VSALIB_DATA)")
    ds = load_dataset("twitter1", subset="three")
    sizes = ds.table["group"].value_counts()
    assert (sizes > 1).sum() == 13  # the 13 retweeted pairs
    splits = make_splits(ds, seed=0)
    for s in splits:
        s.check(len(ds))
        assert not groups_of(ds, s.test) & groups_of(ds, np.concatenate([s.train, s.val]))
    assert twin_leakage(ds, splits) == 0.0
    assert 0 < twin_leakage(ds, ungrouped_kfold(ds, seed=0)) < 0.05


def test_per_category_folds_stratify_by_emotion_and_name_their_protocol():
    from vsalib.data import per_category_kfold
    from vsalib.methods.base import protocol_name

    emotions = np.array(["anger", "disgust", "fear", "joy", "sadness", "surprise"] * 50)[:200]
    ds = make_dataset(extra={"emotion": emotions})
    splits = per_category_kfold(ds, "emotion", k=5, seed=0)
    assert len(splits) == 5
    tests = np.concatenate([s.test for s in splits])
    assert sorted(tests.tolist()) == list(range(200))  # every image tested once
    for s in splits:
        s.check(200)
        assert not groups_of(ds, s.train) & groups_of(ds, s.test)  # twins kept together
        counts = pd.Series(emotions[s.test]).value_counts()
        assert counts.max() - counts.min() <= 2  # one batch of each category: about a fifth of it
        assert protocol_name(s) == "kfold5-per-emotion"  # never the label-stratified folds' name
    assert [s.test.tolist() for s in per_category_kfold(ds, "emotion", seed=0)] == [s.test.tolist() for s in splits]
    with pytest.raises(ValueError, match="no column 'category'"):
        per_category_kfold(ds, "category")
