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
