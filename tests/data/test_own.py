"""A reader's own dataset: a folder with vsalib_labels.csv is found by name, loaded, split; bad CSVs are
named with what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from vsalib.data import DatasetLayoutError, MissingImagesError, load_dataset, make_splits, register_own_dataset
from vsalib.data.registry import _REGISTRY, dataset_layouts, list_datasets

from test_loaders import write_own


@pytest.fixture
def own_root(tmp_path, image_file_writer):
    write_own(tmp_path, image_file_writer, name="my_scenes_t")
    yield tmp_path
    for name in [n for n, s in _REGISTRY.items() if s.own]:  # each test discovers afresh
        del _REGISTRY[name]


def test_a_folder_with_a_labels_csv_is_a_dataset(own_root):
    assert "my_scenes_t" in list_datasets(own_root)
    ds = load_dataset("my_scenes_t", data_root=own_root)
    assert len(ds) == 16 and ds.classes == ["negative", "positive"]
    assert ds.class_counts() == {"negative": 8, "positive": 8}
    assert all(Path(p).is_file() for p in ds.paths)
    assert ds.protocol.kind == "kfold"
    folds = make_splits(ds, seed=0)
    assert len(folds) == 5
    groups = ds.table["group"].to_numpy()
    for s in folds:  # the CSV's groups (two images per "shoot") never straddle train and test
        assert not set(groups[s.train]) & set(groups[s.test])


def test_a_split_column_makes_a_fixed_split(tmp_path, image_file_writer):
    d = tmp_path / "fixed_one"
    rows = ["path,label,split"]
    for i in range(8):
        image_file_writer(d / f"{i}.png", "rgb", color=(30 * i, 0, 0))
        rows.append(f"{i}.png,{i % 2},{'test' if i >= 6 else 'train'}")
    (d / "vsalib_labels.csv").write_text("\n".join(rows) + "\n")
    register_own_dataset("fixed_one", d / "vsalib_labels.csv")
    try:
        ds = load_dataset("fixed_one")
        assert ds.classes == ["0", "1"] and ds.protocol.kind == "fixed"
        (split,) = make_splits(ds, seed=0)
        assert sorted(split.test) == [6, 7]
    finally:
        del _REGISTRY["fixed_one"]


@pytest.mark.parametrize("csv, shown", [
    ("file,label\na.jpg,positive\n", r"no column 'path'; expected a header 'path,label'"),
    ("path,label\n", r"lists no images"),
    ("path,label\na.jpg,positive\n,negative\n", r"empty path or label on data row\(s\) 3"),
    ("path,label\na.jpg,positive\nb.jpg,positive\n", r"a single class \('positive'\)"),
    ("path,label,split\na.jpg,positive,train\nb.jpg,negative,dev\n", r"'split' must be one of train, val, test; "
                                                                      r"data row\(s\) 3 say dev"),
    ("path,label\na.jpg,positive\na.jpg,negative\n", r"lists a.jpg more than once"),
])
def test_a_bad_csv_is_named_with_what_was_expected(tmp_path, image_file_writer, csv, shown):
    err = _load_refused(tmp_path, image_file_writer, csv, DatasetLayoutError, shown)
    assert "vsalib_labels.csv" in str(err)


def test_a_missing_image_is_named(tmp_path, image_file_writer):
    _load_refused(tmp_path, image_file_writer, "path,label\na.jpg,positive\nmissing.jpg,negative\n",
                  MissingImagesError, "missing.jpg")


def _load_refused(tmp_path, write, csv: str, error: type, shown: str) -> Exception:
    """Write a folder with a.jpg, b.jpg and ``csv``; loading it must raise ``error`` matching ``shown``."""
    d = tmp_path / "bad_one"
    write(d / "a.jpg")
    write(d / "b.jpg")
    (d / "vsalib_labels.csv").write_text(csv)
    try:
        with pytest.raises(error, match=shown) as err:
            load_dataset("bad_one", data_root=tmp_path)
        return err.value
    finally:
        _REGISTRY.pop("bad_one", None)


def test_a_benchmark_keeps_its_name(tmp_path, image_file_writer):
    """A folder named like a published benchmark is read by that benchmark's loader, not as a CSV."""
    d = tmp_path / "twitter1"
    image_file_writer(d / "a.jpg")
    (d / "vsalib_labels.csv").write_text("path,label\na.jpg,positive\n")
    list_datasets(tmp_path)
    assert not _REGISTRY["twitter1"].own


def test_the_layouts_appendix_covers_every_benchmark():
    t = dataset_layouts()
    assert {"twitter1", "twitter2", "emotion6", "fi", "iaps", "artphoto", "abstract"} <= set(t["dataset"])
    row = t.set_index("dataset").loc["twitter1"]
    assert row["marker file"] == "ground_truth/twitter_five_agrees.txt" and row["folder"] == "twitter1/"
    assert "five" in row["options"] and row["what the loader reads"]
    assert "synthetic" not in set(t["dataset"])


# -- bad CSVs refused before anything trains (issue 32) ----------------------------------------------------
def _own_folder(tmp_path, image_file_writer, labels, name="bad_own", paths=None):
    d = tmp_path / "data" / name
    rows = ["path,label"]
    for i, label in enumerate(labels):
        p = paths[i] if paths else f"{i}.png"
        if not paths:
            image_file_writer(d / p, "rgb", color=(20 * i % 255, 0, 0), size=(40, 32))
        rows.append(f"{p},{label}")
    d.mkdir(parents=True, exist_ok=True)
    (d / "vsalib_labels.csv").write_text("\n".join(rows) + "\n")
    return d


@pytest.fixture
def empty_stores(tmp_path, monkeypatch):
    """The results store and the cache, empty; ``untouched()`` asserts that a refused load left them so."""
    stores = [tmp_path / "results", tmp_path / "cache"]
    monkeypatch.setenv("VSALIB_RESULTS", str(stores[0]))
    monkeypatch.setenv("VSALIB_CACHE", str(stores[1]))

    def untouched() -> None:
        assert all(not s.exists() or not any(s.rglob("*")) for s in stores), "a refused load wrote to the store/cache"

    yield untouched
    for name in [n for n, s in _REGISTRY.items() if s.own]:  # each test discovers its own folders afresh
        del _REGISTRY[name]


def test_a_relative_path_that_climbs_out_is_refused_before_any_file_is_opened(tmp_path, image_file_writer,
                                                                              empty_stores, monkeypatch):
    secret = tmp_path / "outside" / "secret.png"
    image_file_writer(secret, "rgb", size=(40, 32))
    d = tmp_path / "data" / "climber"
    for i in range(4):
        image_file_writer(d / f"{i}.png", "rgb", size=(40, 32))
    rows = ["path,label"] + [f"{i}.png,{'positive' if i % 2 else 'negative'}" for i in range(4)]
    rows.append("../../outside/secret.png,positive")
    rows.append("sub/../../../outside/secret.png,negative")
    (d / "vsalib_labels.csv").write_text("\n".join(rows) + "\n")
    touched = []
    import os

    real_isfile, real_open = os.path.isfile, open
    monkeypatch.setattr(os.path, "isfile", lambda p: touched.append(str(p)) or real_isfile(p))
    with pytest.raises(DatasetLayoutError) as err:
        load_dataset("climber", data_root=tmp_path / "data")
    msg = str(err.value)
    assert f"{d / 'vsalib_labels.csv'}" in msg and "leave the dataset's folder" in msg
    assert "6 ('../../outside/secret.png')" in msg and "7 ('sub/../../../outside/secret.png')" in msg
    assert "expected a path relative to that folder that stays inside it, or an absolute path" in msg
    assert not any("secret" in t for t in touched)  # never looked up, let alone opened
    empty_stores()
    # an absolute path is the user's own choice, as documented
    rows[-2:] = [f"{secret},positive"]
    (d / "vsalib_labels.csv").write_text("\n".join(rows) + "\n")
    monkeypatch.setattr(os.path, "isfile", real_isfile)
    assert len(load_dataset("climber", data_root=tmp_path / "data")) == 5


@pytest.mark.parametrize("labels, shown", [
    (["negative"] * 6 + ["positive"] * 5 + ["positve"] * 2,
     r"look like one name written two ways: 'positive' and 'positve'; expected each class spelt one way.*"
     r"Labels: negative: 6, positive: 5, positve: 2"),
    (["negative"] * 6 + ["positive"] * 5 + ["Positive"],
     r"'positive' and 'Positive'.*Labels: negative: 6, positive: 5, Positive: 1"),
    (["0"] * 6 + ["1"] * 5 + ["positive"] * 2,
     r"mixes integer indices and names \(0, 1 beside positive\).*expected either names or indices throughout. "
     r"Labels: 0: 6, 1: 5, positive: 2"),
    (["0"] * 6 + ["2"] * 6,
     r"uses the indices 0, 2 but no image has 1; expected integer labels 0..K-1 without gaps.*Labels: 0: 6, 2: 6"),
])
def test_labels_that_would_make_a_wrong_model_are_refused(tmp_path, image_file_writer, empty_stores, labels, shown):
    d = _own_folder(tmp_path, image_file_writer, labels)
    with pytest.raises(DatasetLayoutError, match=shown) as err:
        load_dataset("bad_own", data_root=tmp_path / "data")
    assert str(d / "vsalib_labels.csv") in str(err.value)
    empty_stores()


def test_distinct_names_are_not_taken_for_misspellings(tmp_path, image_file_writer, empty_stores):
    _own_folder(tmp_path, image_file_writer, ["class1"] * 5 + ["class2"] * 5 + ["negative"] * 5 + ["positive"] * 5)
    assert load_dataset("bad_own", data_root=tmp_path / "data").classes == ["negative", "positive", "class1", "class2"]


def test_a_class_in_one_group_is_refused_before_the_split(tmp_path, image_file_writer, empty_stores):
    ds_dir = _own_folder(tmp_path, image_file_writer, ["negative"] * 10 + ["positive"])
    ds = load_dataset("bad_own", data_root=tmp_path / "data")
    with pytest.raises(ValueError, match=r"dataset 'bad_own': 5-fold cross-validation needs at least 2 groups of "
                                         r"every class .*too small: 'positive': 1 image\(s\) in 1 group\(s\)"):
        make_splits(ds, seed=0)
    assert ds_dir.is_dir()


def test_a_class_with_fewer_groups_than_folds_is_warned_about(tmp_path, image_file_writer, empty_stores):
    from vsalib.data.splits import SmallClassWarning

    _own_folder(tmp_path, image_file_writer, ["negative"] * 10 + ["positive"] * 3)
    ds = load_dataset("bad_own", data_root=tmp_path / "data")
    with pytest.warns(SmallClassWarning, match=r"'positive': 3 image\(s\) in 3 group\(s\), fewer groups than the 5"):
        assert len(make_splits(ds, seed=0)) == 5


def test_a_split_column_must_put_every_class_in_train_and_test(tmp_path, image_file_writer, empty_stores):
    d = tmp_path / "data" / "fixed_bad"
    rows = ["path,label,split"]
    for i in range(8):
        image_file_writer(d / f"{i}.png", "rgb", size=(40, 32))
        rows.append(f"{i}.png,{'positive' if i < 2 else 'negative'},{'train' if i < 6 and i >= 2 else 'test'}")
    (d / "vsalib_labels.csv").write_text("\n".join(rows) + "\n")
    ds = load_dataset("fixed_bad", data_root=tmp_path / "data")
    with pytest.raises(ValueError, match=r"dataset 'fixed_bad': its split column leaves class\(es\) 'positive' "
                                         r"\(train 0, test 2\) out of the training or the test part"):
        make_splits(ds, seed=0)
