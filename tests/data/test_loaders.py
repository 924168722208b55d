"""Dataset loaders, driven by the registry: each file-based dataset has a fixture writer that
builds a tiny layout in tmp_path (real small images; ``Expect.bad`` names the files a test breaks
to see the load refused), and every registered dataset must have one. Real-data smoke tests check
the published counts."""

from __future__ import annotations

import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from vsalib.data import (
    DatasetLayoutError,
    DatasetNotFoundError,
    MissingImagesError,
    UnknownNameError,
    UnreadableImageError,
    check_images,
    is_available,
    list_datasets,
    load_dataset,
    make_splits,
    open_image,
)
from vsalib.data.labels import EKMAN_EMOTIONS, EMOTION6_PROB_COLUMNS
from vsalib.data.registry import dataset_spec, find_dataset_dir
from vsalib.data.twitter import read_twitter2_labels
from vsalib.emotions import MIKELS_EMOTIONS

FILE_DATASETS = [n for n in list_datasets() if dataset_spec(n).needs_files]
KIND_CYCLE = ("rgb", "gray", "cmyk", "gif", "rgba_png", "png", "palette_png")
FIXTURE_SIZE = (40, 32)  # shorter side at MIN_IMAGE_SIDE: no SmallImageWarning on the fixtures


@dataclass
class Expect:
    n: int
    counts: dict
    bad: set = field(default_factory=set)  # paths (relative to the data root) a test breaks: the load must refuse


def _kind(i: int) -> str:
    return KIND_CYCLE[i % len(KIND_CYCLE)]


def _sized(write):
    """``write`` with the fixtures' image size as its default."""
    return lambda path, kind="rgb", **kw: write(path, kind, **{"size": FIXTURE_SIZE, **kw})


# --- fixture writers: build <data root>/<folder>/ in the dataset's published layout ------


def write_twitter1(root: Path, write) -> Expect:
    d, write = root / "twitter1", _sized(write)
    names = [f"1000{i}_42{i}_B{i}.jpg" for i in range(14)]
    labels = [1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0]
    for i, name in enumerate(names):
        write(d / "images" / name, _kind(i), color=(20 * i, 100, 50))
    shutil.copyfile(d / "images" / names[0], d / "images" / names[12])  # a byte-identical retweet
    gt = d / "ground_truth"
    gt.mkdir()
    for fname, count in [("twitter_five_agrees.txt", 8), ("twitter_four_agrees.txt", 11),
                         ("twitter_three_agrees.txt", 14)]:
        (gt / fname).write_text("".join(f"{n} {lab}\n" for n, lab in zip(names[:count], labels[:count])))
    return Expect(8, {"negative": 3, "positive": 5}, {f"twitter1/images/{names[3]}"})


def write_twitter2(root: Path, write) -> Expect:
    d, write = root / "twitter2", _sized(write)
    labels = {i: (1 if i % 3 else -1) for i in range(1, 16)}  # rows 13..15 have no image
    for i in range(1, 13):
        part = d / f"partition{(i - 1) % 5 + 1}"
        kind = {2: "gif", 5: "png"}.get(i, "rgb")  # GIF / PNG saved as .jpg
        write(part / f"{i}.jpg", kind, color=(10 * i, 80, 160))
    rows = ["imageID\tlabel"] + [f"{i}\t{lab}" for i, lab in labels.items()]
    (d / "groundTruthLabel.txt").write_bytes(("\r\n".join(rows) + "\r\n").encode())
    return Expect(12, {"negative": 4, "positive": 8}, {"twitter2/partition3/8.jpg"})


def _distribution(emotion: str, n: int) -> list[float]:
    """A vote distribution whose dominant emotion is the folder's, except for a few rows."""
    p = dict.fromkeys([*EKMAN_EMOTIONS, "neutral"], 0.0)
    if n == 2 and emotion == "anger":
        p.update(neutral=0.6, anger=0.4)  # neutral dominant → dropped by dominant_binary
    elif n == 2 and emotion == "fear":
        p.update(fear=0.4, joy=0.4, neutral=0.2)  # tie → fear (first column)
    else:
        p.update({emotion: 0.7, "neutral": 0.3})
    return list(p.values())


EMOTION6_NUMBERS = (1, 2, 231, 232, 330)


def write_emotion6(root: Path, write) -> Expect:
    d, write = root / "emotion6", _sized(write)
    lines = ["[image_filename]\t[valence]\t[arousal]\t" + "\t".join(f"[prob. {c[2:]}]" for c in EMOTION6_PROB_COLUMNS)]
    for e_i, emotion in enumerate(EKMAN_EMOTIONS):
        for n in EMOTION6_NUMBERS:
            write(d / "images" / emotion / f"{n}.jpg", _kind(e_i + n), color=(40 * e_i, n, 9))
            probs = "\t".join(f"{v:g}" for v in _distribution(emotion, n))
            lines.append(f"{emotion}/{n}.jpg\t{5 + e_i / 10:g}\t4.5\t{probs}")
    (d / "ground_truth.txt").write_text("\n".join(lines) + "\n")
    return Expect(30, {"negative": 20, "positive": 10}, {"emotion6/images/joy/232.jpg"})


def write_emotionroi(root: Path, write) -> Expect:
    return write_emotion6(root, write)  # same folder, same images


def _write_emotion_folders(d: Path, write, per_class: int = 5) -> Expect:
    write = _sized(write)
    for e_i, emotion in enumerate(MIKELS_EMOTIONS):
        for k in range(per_class):
            write(d / emotion / f"{emotion}_{k:04d}.jpg", _kind(e_i + k), color=(30 * e_i, 20 * k, 90))
    (d / "awe" / "readme.txt").write_text("not an image: ignored")
    n_pos = 4 * per_class
    return Expect(8 * per_class, {"negative": n_pos, "positive": n_pos}, {f"{d.name}/amusement/amusement_0000.jpg"})


def write_fi(root: Path, write) -> Expect:
    return _write_emotion_folders(root / "fi", write)


def write_iaps(root: Path, write) -> Expect:
    return _write_emotion_folders(root / "iaps", write)


ARTPHOTO_PREFIXES = ("amusement", "anger", "awe", "contentment", "disgust", "excitement", "fear", "sad")


def write_artphoto(root: Path, write) -> Expect:
    d, write = root / "artphoto", _sized(write)
    for p_i, prefix in enumerate(ARTPHOTO_PREFIXES):
        for k in range(1, 6):
            write(d / f"{prefix}_{k}.jpg", _kind(p_i + k), color=(25 * p_i, 40 * k, 0))
    return Expect(40, {"negative": 20, "positive": 20}, {"artphoto/sad_1.jpg"})


ABSTRACT_HEADER = ",'Amusement','Anger','Awe','Content','Disgust','Excitement','Fear','Sad'"
ABSTRACT_ROWS = {  # votes in the CSV's column order
    "abstract_1.jpg": [5, 0, 1, 0, 0, 0, 0, 0],   # amusement
    "abstract_2.jpg": [0, 4, 0, 0, 1, 0, 0, 0],   # anger
    "abstract_3.jpg": [1, 0, 6, 0, 0, 0, 0, 0],   # awe
    "abstract_4.jpg": [0, 0, 0, 3, 0, 0, 0, 1],   # contentment
    "abstract_5.jpg": [0, 0, 0, 0, 7, 0, 0, 0],   # disgust
    "abstract_6.jpg": [0, 0, 0, 0, 0, 2, 1, 0],   # excitement
    "abstract_7.jpg": [0, 1, 0, 0, 0, 0, 5, 0],   # fear
    "abstract_8.jpg": [0, 0, 0, 0, 0, 0, 0, 4],   # sadness
    "abstract_9.jpg": [3, 0, 0, 0, 0, 0, 0, 0],   # amusement
    "abstract_10.jpg": [0, 0, 0, 0, 0, 0, 0, 2],  # sadness
    "abstract_11.jpg": [0, 0, 0, 0, 0, 0, 4, 0],  # fear
    "abstract_12.jpg": [0, 0, 2, 0, 0, 0, 0, 0],  # awe
    "abstract_13.jpg": [2, 0, 0, 0, 0, 0, 0, 2],  # tie amusement / sad
    "abstract_14.jpg": [0, 3, 3, 0, 0, 0, 0, 0],  # tie anger / awe
    "abstract_15.jpg": [0, 0, 0, 0, 0, 0, 0, 0],  # no votes
}


def write_abstract(root: Path, write, rows=ABSTRACT_ROWS) -> Expect:
    d, write = root / "abstract", _sized(write)
    for i, name in enumerate(rows):
        write(d / name, _kind(i), color=(15 * i, 60, 200))
    lines = [ABSTRACT_HEADER] + [f"'{n}'," + ",".join(map(str, v)) for n, v in rows.items()]
    (d / "ABSTRACT_groundTruth.csv").write_text("\n".join(lines) + "\n")
    return Expect(12, {"negative": 6, "positive": 6}, {"abstract/abstract_5.jpg"})


def write_own(root: Path, write, name: str = "my_scenes") -> Expect:
    """A reader's own dataset (vsalib.data.own): images in any layout and vsalib_labels.csv."""
    d, write = root / name, _sized(write)
    lines = ["path,label,group"]
    for i in range(16):
        label = "positive" if i % 2 else "negative"
        rel = f"photos/{label}/img_{i:02d}.jpg"
        write(d / rel, "rgb", color=(200 if i % 2 else 20, 15 * i, 90))
        lines.append(f"{rel},{label},shoot{i // 2}")
    (d / "vsalib_labels.csv").write_text("\n".join(lines) + "\n")
    return Expect(16, {"negative": 8, "positive": 8}, {f"{name}/photos/positive/img_05.jpg"})


WRITERS = {
    "twitter1": write_twitter1, "twitter2": write_twitter2, "emotion6": write_emotion6,
    "emotionroi": write_emotionroi, "fi": write_fi, "iaps": write_iaps,
    "artphoto": write_artphoto, "abstract": write_abstract,
    "my_scenes": write_own,  # not a published benchmark: found by its vsalib_labels.csv
}


@pytest.fixture
def dataset_writer(tmp_path, image_file_writer):
    """``write(name) -> Expect``: build dataset ``name``'s fixture layout under tmp_path."""
    return lambda name: WRITERS[name](tmp_path, image_file_writer)


@pytest.fixture
def empty_stores(tmp_path, monkeypatch):
    """``VSALIB_RESULTS`` and ``VSALIB_CACHE`` set to empty folders; returns a function listing what they hold."""
    base = tmp_path / "stores"
    folders = [base / "results", base / "cache"]
    for d in folders:
        d.mkdir(parents=True)
    monkeypatch.setenv("VSALIB_RESULTS", str(folders[0]))
    monkeypatch.setenv("VSALIB_CACHE", str(folders[1]))
    return lambda: sorted(str(f.relative_to(base)) for d in folders for f in d.rglob("*"))


# --- registry-driven tests ---------------------------------------------------------------


def test_every_file_based_dataset_has_a_fixture_writer():
    assert set(FILE_DATASETS) <= set(WRITERS), f"write a fixture for {set(FILE_DATASETS) - set(WRITERS)}"


@pytest.mark.parametrize("name", FILE_DATASETS)
def test_loader_reads_its_fixture(name, tmp_path, dataset_writer):
    expect = dataset_writer(name)
    ds = load_dataset(name, data_root=tmp_path)
    assert ds.name == name and len(ds) == expect.n
    assert ds.class_counts() == expect.counts
    assert {"path", "label", "group"} <= set(ds.table.columns)
    assert ds.table["label"].between(0, len(ds.classes) - 1).all()
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in ds.paths)
    assert ds.table.index.tolist() == list(range(len(ds)))
    assert ds.protocol.kind in ("kfold", "fixed", "ratio")


@pytest.mark.parametrize("name", FILE_DATASETS)
def test_a_truncated_image_refuses_the_load_naming_it(name, tmp_path, dataset_writer, image_file_writer):
    expect = dataset_writer(name)
    assert expect.bad, f"{name}'s fixture names no file to break"
    ds = load_dataset(name, data_root=tmp_path)
    assert check_images(ds.paths) == [] and all(open_image(p).mode == "RGB" for p in ds.paths)
    for rel in expect.bad:
        image_file_writer(tmp_path / rel, "truncated")
    with pytest.raises(UnreadableImageError) as err:
        load_dataset(name, data_root=tmp_path)
    msg = str(err.value)
    assert msg.startswith(f"{name}: {len(expect.bad)} of ") and "expected each to be a complete" in msg
    assert all(f"{tmp_path / rel} is truncated or corrupt" in msg for rel in expect.bad)
    for rel in expect.bad:  # repaired (new size and mtime): checked again, and loads
        image_file_writer(tmp_path / rel, "rgb", size=FIXTURE_SIZE)
    assert len(load_dataset(name, data_root=tmp_path)) == expect.n


@pytest.mark.parametrize("name", FILE_DATASETS)
def test_protocol_splits_work_on_the_fixture(name, tmp_path, dataset_writer):
    dataset_writer(name)
    ds = load_dataset(name, data_root=tmp_path)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class")
        splits = make_splits(ds, seed=0)
    for s in splits:
        s.check(len(ds))
        assert len(s.test) and len(s.train)


@pytest.mark.parametrize("name", FILE_DATASETS)
def test_missing_dataset_says_where_it_looked(name, tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset(name, data_root=tmp_path / "empty")
    spec = dataset_spec(name)
    assert str(tmp_path / "empty" / spec.folder) in str(err.value)
    assert not is_available(name, data_root=tmp_path / "empty")


@pytest.mark.parametrize("name", ["twitter1", "emotion6"])
def test_data_root_that_does_not_exist_is_named_as_such(name, tmp_path, monkeypatch):
    missing = tmp_path / "no" / "such" / "folder"
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset(name, data_root=missing)
    assert f"data_root '{missing}' does not exist" in str(err.value)
    assert str(missing / dataset_spec(name).folder) in str(err.value)  # still says where it looked
    a_file = tmp_path / "file.txt"
    a_file.write_text("not a folder")
    with pytest.raises(DatasetNotFoundError, match="is a file, not a folder"):
        load_dataset(name, data_root=a_file)
    # the environment variable pointing nowhere is named too (when no data_root is given)
    monkeypatch.setenv("VSALIB_DATA", str(missing))
    monkeypatch.setattr("vsalib.data.registry._REPO_ROOT", tmp_path / "repo")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(DatasetNotFoundError, match=f"VSALIB_DATA='{missing}' does not exist"):
        load_dataset(name)
    # an existing but empty data root keeps the plain "not found" message
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset(name, data_root=tmp_path / "empty")
    assert "does not exist" not in str(err.value)


def test_no_datasets_switch_hides_every_default_root_but_not_an_explicit_one(tmp_path, monkeypatch, dataset_writer):
    """VSALIB_NO_DATASETS=1 (the book's fresh-clone build and the test run's notebooks): the variable, the folder
    beside the repository and the home folder are not searched; a data_root passed on purpose still is."""
    dataset_writer("twitter1")
    root = tmp_path
    monkeypatch.setenv("VSALIB_DATA", str(root))
    assert is_available("twitter1")
    monkeypatch.setenv("VSALIB_NO_DATASETS", "1")
    assert not is_available("twitter1") and is_available("synthetic")  # generated: needs no files
    with pytest.raises(DatasetNotFoundError, match="VSALIB_NO_DATASETS=1 hides every data root"):
        load_dataset("twitter1")
    assert len(load_dataset("twitter1", data_root=root)) > 0


@pytest.mark.parametrize("name", FILE_DATASETS)
def test_unknown_option_and_value_list_the_valid_ones(name, tmp_path, dataset_writer):
    dataset_writer(name)
    spec = dataset_spec(name)
    with pytest.raises(UnknownNameError, match="valid options"):
        load_dataset(name, data_root=tmp_path, colour="blue")
    for option, values in spec.options.items():
        with pytest.raises(UnknownNameError) as err:
            load_dataset(name, data_root=tmp_path, **{option: "no-such-value"})
        assert all(repr(v) in str(err.value) for v in values)


# --- Twitter I ---------------------------------------------------------------------------


def test_twitter1_subsets_and_agreement(tmp_path, dataset_writer):
    dataset_writer("twitter1")
    sizes = {s: len(load_dataset("twitter1", data_root=tmp_path, subset=s)) for s in ("five", "four", "three")}
    assert sizes == {"five": 8, "four": 11, "three": 14}
    three = load_dataset("twitter1", data_root=tmp_path, subset="three")
    assert three.table["agree"].tolist() == [5] * 8 + [4] * 3 + [3] * 3
    assert set(load_dataset("twitter1", data_root=tmp_path).table["agree"]) == {5}
    assert three.classes == ["negative", "positive"]


def test_twitter1_byte_identical_images_share_a_group(tmp_path, dataset_writer):
    dataset_writer("twitter1")
    table = load_dataset("twitter1", data_root=tmp_path, subset="three").table
    assert table["group"].iloc[0] == table["group"].iloc[12]
    assert table["group"].nunique() == 13
    assert load_dataset("twitter1", data_root=tmp_path, subset="three").info["twin_groups"] == 1


def test_twitter1_missing_image_names_file_and_label_file(tmp_path, dataset_writer):
    dataset_writer("twitter1")
    victim = next((tmp_path / "twitter1" / "images").glob("10001_*"))
    victim.unlink()
    with pytest.raises(MissingImagesError) as err:
        load_dataset("twitter1", data_root=tmp_path)
    assert victim.name in str(err.value) and "twitter_five_agrees.txt" in str(err.value)


def test_twitter1_rejects_conflicting_labels_and_bad_lines(tmp_path, dataset_writer):
    dataset_writer("twitter1")
    gt = tmp_path / "twitter1" / "ground_truth"
    four = (gt / "twitter_four_agrees.txt").read_text().splitlines()
    name, lab = four[0].split()
    (gt / "twitter_four_agrees.txt").write_text("\n".join([f"{name} {1 - int(lab)}"] + four[1:]) + "\n")
    with pytest.raises(DatasetLayoutError, match="different labels"):
        load_dataset("twitter1", data_root=tmp_path, subset="four")
    (gt / "twitter_three_agrees.txt").write_text("a.jpg 1\nb.jpg positive\n")
    with pytest.raises(DatasetLayoutError, match="line 2"):
        load_dataset("twitter1", data_root=tmp_path, subset="three")


@pytest.mark.parametrize("subset, fname", [("five", "twitter_five_agrees.txt"),
                                           ("three", "twitter_four_agrees.txt")])
@pytest.mark.parametrize("text", ["", "\n  \n"], ids=["empty", "blank"])
def test_twitter1_empty_label_file_is_an_error(tmp_path, dataset_writer, subset, fname, text):
    dataset_writer("twitter1")
    label_file = tmp_path / "twitter1" / "ground_truth" / fname
    label_file.write_text(text)
    with pytest.raises(DatasetLayoutError, match="has no rows") as err:
        load_dataset("twitter1", data_root=tmp_path, subset=subset)
    assert str(label_file) in str(err.value)


# --- Twitter II --------------------------------------------------------------------------


def test_twitter2_drops_rows_without_images_and_keeps_partitions(tmp_path, dataset_writer):
    dataset_writer("twitter2")
    ds = load_dataset("twitter2", data_root=tmp_path)
    assert ds.info["label_rows"] == 15 and ds.info["rows_without_image"] == 3
    assert ds.info["rows_without_image_ids"] == ["13", "14", "15"]
    assert sorted(ds.table["partition"].unique()) == [1, 2, 3, 4, 5]
    splits = make_splits(ds)
    assert len(splits) == 5 and splits[0].kind == "kfold-partition"
    assert all(set(ds.table["partition"].iloc[s.test]) == {s.fold + 1} for s in splits)


def test_twitter2_image_without_a_row_is_an_error(tmp_path, dataset_writer, image_file_writer):
    dataset_writer("twitter2")
    image_file_writer(tmp_path / "twitter2" / "partition3" / "99.jpg")
    with pytest.raises(DatasetLayoutError, match="99.jpg"):
        load_dataset("twitter2", data_root=tmp_path)


@pytest.mark.parametrize(
    "text",
    [
        "imageID\tlabel\r\n1\t1\r\n2\t-1\r\n3\t0\r\n",
        "Image\tSentiment\n1.jpg\tpositive\n2.jpg\tnegative\n3.jpg\tNegative\n",
        "\ufeff1\t1\n2\t-1\n3\t-1\n",
        "id,text,label\n'0001','nice',1\n'0002','bad',-1\n'3','meh',0\n",
    ],
)
def test_twitter2_label_file_formats(tmp_path, text):
    path = tmp_path / "groundTruthLabel.txt"
    path.write_bytes(text.encode("utf-8"))
    labels = read_twitter2_labels(path)
    assert labels.to_dict() == {"1": 1, "2": 0, "3": 0}


def test_twitter2_label_file_errors(tmp_path):
    path = tmp_path / "groundTruthLabel.txt"
    path.write_text("id\tlabel\n1\t1\n2\tmaybe\n")
    with pytest.raises(DatasetLayoutError, match="line 3"):
        read_twitter2_labels(path)
    path.write_text("id\tlabel\n1\t1\n1\t-1\n")
    with pytest.raises(DatasetLayoutError, match="conflicting"):
        read_twitter2_labels(path)


def test_twitter2_missing_partition_folders_are_named(tmp_path, dataset_writer):
    dataset_writer("twitter2")
    root = tmp_path / "twitter2"
    for i in (2, 4):
        shutil.rmtree(root / f"partition{i}")
    with pytest.raises(DatasetLayoutError) as err:
        load_dataset("twitter2", data_root=tmp_path)
    msg = str(err.value)
    assert "partition2, partition4 missing" in msg and str(root) in msg
    assert "partition1" not in msg.split("missing")[0]


def test_twitter2_empty_partition_folder_is_an_error(tmp_path, dataset_writer):
    dataset_writer("twitter2")
    for f in (tmp_path / "twitter2" / "partition3").iterdir():
        f.unlink()
    with pytest.raises(DatasetLayoutError, match="partition3 hold no images"):
        load_dataset("twitter2", data_root=tmp_path)


# --- Emotion6 / EmotionROI ---------------------------------------------------------------


def test_emotion6_label_variants(tmp_path, dataset_writer):
    dataset_writer("emotion6")
    six = load_dataset("emotion6", data_root=tmp_path, labels="emotion")
    assert six.classes == list(EKMAN_EMOTIONS) and set(six.class_counts().values()) == {5}
    assert {"valence", "arousal", *EMOTION6_PROB_COLUMNS} <= set(six.table.columns)
    dom = load_dataset("emotion6", data_root=tmp_path, labels="dominant_binary")
    assert len(dom) == 29 and "anger/2.jpg" not in set(dom.table["image"])  # neutral dominant
    fear2 = dom.table.set_index("image").loc["fear/2.jpg"]
    assert (fear2["dominant"], fear2["label"]) == ("fear", 0)  # fear = joy tie → fear
    assert dom.info["dominant"]["dropped"] == 1 and dom.info["dominant"]["ties"] == 1
    assert load_dataset("emotion6", data_root=tmp_path).protocol.ratios == (0.75, 0.20, 0.05)


def test_emotion6_missing_and_unlisted_images(tmp_path, dataset_writer, image_file_writer):
    dataset_writer("emotion6")
    extra = image_file_writer(tmp_path / "emotion6" / "images" / "joy" / "7.jpg")
    with pytest.raises(DatasetLayoutError, match="joy/7.jpg"):
        load_dataset("emotion6", data_root=tmp_path)
    extra.unlink()
    (tmp_path / "emotion6" / "images" / "sadness" / "231.jpg").unlink()
    with pytest.raises(MissingImagesError, match="ground_truth.txt") as err:
        load_dataset("emotion6", data_root=tmp_path)
    assert "sadness/231.jpg" in str(err.value)


def test_emotion6_rejects_a_malformed_ground_truth(tmp_path, dataset_writer):
    dataset_writer("emotion6")
    (tmp_path / "emotion6" / "ground_truth.txt").write_text("image\tvalence\njoy/1.jpg\t5\n")
    with pytest.raises(DatasetLayoutError, match="10 tab-separated columns"):
        load_dataset("emotion6", data_root=tmp_path)


def test_emotionroi_split_by_image_number(tmp_path, dataset_writer):
    dataset_writer("emotionroi")
    ds = load_dataset("emotionroi", data_root=tmp_path)
    assert ds.table["split"].value_counts().to_dict() == {"train": 18, "test": 12}
    assert (ds.table["split"] == np.where(ds.table["number"] <= 231, "train", "test")).all()
    assert ds.protocol.kind == "fixed" and "stimuli_path" not in ds.table
    assert ds.table["p_joy"].notna().all()  # Emotion6's distribution joined when present
    (s,) = make_splits(ds)
    assert set(ds.table["split"].iloc[s.test]) == {"test"}


def test_emotionroi_uses_published_split_files_and_stimuli_maps(tmp_path, dataset_writer, image_file_writer):
    dataset_writer("emotionroi")
    d = tmp_path / "emotion6"
    names = [f"{e}/{n}.jpg" for e in EKMAN_EMOTIONS for n in EMOTION6_NUMBERS]
    (d / "training_testing_split").mkdir()
    (d / "training_testing_split" / "training.txt").write_text("\n".join(names[:20]) + "\n")
    (d / "training_testing_split" / "testing.txt").write_text("\n".join(names[20:]) + "\n")
    for name in names:
        image_file_writer(d / "ground_truth" / name, "gray")
    ds = load_dataset("emotionroi", data_root=tmp_path, labels="emotion")
    assert ds.table["split"].value_counts().to_dict() == {"train": 20, "test": 10}
    assert ds.info["split_source"].endswith("training_testing_split")
    assert all(Path(p).is_file() for p in ds.table["stimuli_path"])
    assert Path(ds.table["stimuli_path"].iloc[0]).parts[-3:] == ("ground_truth", "anger", "1.jpg")
    (d / "ground_truth" / "joy" / "1.jpg").unlink()
    with pytest.raises(DatasetLayoutError, match="joy/1.jpg"):
        load_dataset("emotionroi", data_root=tmp_path)


def test_emotionroi_does_not_need_emotion6_ground_truth(tmp_path, dataset_writer):
    dataset_writer("emotionroi")
    (tmp_path / "emotion6" / "ground_truth.txt").unlink()
    ds = load_dataset("emotionroi", data_root=tmp_path)
    assert len(ds) == 30 and "p_joy" not in ds.table
    assert not is_available("emotion6", data_root=tmp_path)


def test_emotion6_non_numeric_value_names_file_line_and_column(tmp_path, dataset_writer):
    dataset_writer("emotion6")
    gt = tmp_path / "emotion6" / "ground_truth.txt"
    lines = gt.read_text().splitlines()
    fields = lines[3].split("\t")  # line 4 of the file (the header is line 1)
    fields[1] = "abc"
    lines[3] = "\t".join(fields)
    gt.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetLayoutError) as err:
        load_dataset("emotion6", data_root=tmp_path)
    msg = str(err.value)
    assert str(gt) in msg and "line 4" in msg and "'valence'" in msg and "'abc'" in msg
    # a blank line above it still counts: the bad value is now on line 5; a bad probability is named too
    fields[1], fields[6] = "5", "0.2x"
    gt.write_text("\n".join([lines[0], "", lines[1], lines[2], "\t".join(fields), *lines[4:]]) + "\n")
    with pytest.raises(DatasetLayoutError, match=r"line 5, column 'p_joy' \(header '\[prob. joy\]'\): '0.2x'"):
        load_dataset("emotion6", data_root=tmp_path)
    with pytest.raises(DatasetLayoutError, match="line 5"):  # EmotionROI joins the same file
        load_dataset("emotionroi", data_root=tmp_path)


def _edit_rows(gt: Path, edit) -> None:
    """Rewrite ``gt`` with ``edit(line_number, fields) -> fields`` applied to every data line."""
    lines = gt.read_text().splitlines()
    rows = [lines[0]] + ["\t".join(edit(i, line.split("\t"))) for i, line in enumerate(lines[1:], start=2)]
    gt.write_text("\n".join(rows) + "\n")


def test_emotion6_empty_field_and_short_row_name_line_and_column(tmp_path, dataset_writer, empty_stores):
    dataset_writer("emotion6")
    gt = tmp_path / "emotion6" / "ground_truth.txt"
    edits = {3: lambda f: f[:2] + [""] + f[3:],  # arousal empty
             6: lambda f: f[:8],  # short row: no surprise, no neutral
             11: lambda f: f[:7] + [" "] + f[8:]}  # sadness whitespace only
    _edit_rows(gt, lambda i, f: edits[i](f) if i in edits else f)
    for name in ("emotion6", "emotionroi"):  # EmotionROI joins the same file
        with pytest.raises(DatasetLayoutError) as err:
            load_dataset(name, data_root=tmp_path)
        msg = str(err.value)
        assert msg.startswith(f"{gt}: 3 line(s) lack a value: ")
        assert "line 3 (column(s) '[arousal]' empty)" in msg
        assert "line 6 (8 of 10 fields: column(s) '[prob. surprise]' and '[prob. neutral]' missing)" in msg
        assert "line 11 (column(s) '[prob. sadness]' empty)" in msg
        assert "expected 10 tab-separated fields on every line, none empty" in msg
    assert empty_stores() == []


def test_emotion6_probabilities_must_sum_to_one(tmp_path, dataset_writer, empty_stores):
    from vsalib.data.emotion6 import PROBABILITY_SUM_TOLERANCE

    dataset_writer("emotion6")
    gt = tmp_path / "emotion6" / "ground_truth.txt"
    neutral = {5: "0.33"}  # line 5 sums to 1.03: values re-rounded to two decimals pass
    _edit_rows(gt, lambda i, f: f[:-1] + [neutral[i]] if i in neutral else f)
    assert len(load_dataset("emotion6", data_root=tmp_path)) == 30
    before = empty_stores()  # the good load's image check
    neutral = {4: "0.1", 9: "0.6"}  # 0.7 + 0.1 = 0.8 and 0.7 + 0.6 = 1.3
    _edit_rows(gt, lambda i, f: f[:-1] + [neutral[i]] if i in neutral else f)
    with pytest.raises(DatasetLayoutError) as err:
        load_dataset("emotion6", data_root=tmp_path, labels="dominant_binary")
    msg = str(err.value)
    assert msg.startswith(f"{gt}: the 7 probabilities (columns '[prob. anger]' to '[prob. neutral]') of 2 line(s) ")
    assert "line 4 (sum 0.8), line 9 (sum 1.3);" in msg and "line 5" not in msg
    assert f"expected a sum within {PROBABILITY_SUM_TOLERANCE} of 1 on every line" in msg
    assert empty_stores() == before and not any(f.startswith("results") for f in before)


@pytest.mark.parametrize("text", ["HEADER\n", "HEADER\n\n  \n", ""], ids=["header", "header+blank", "empty"])
def test_emotion6_ground_truth_without_rows_is_an_error(tmp_path, dataset_writer, text):
    dataset_writer("emotion6")
    gt = tmp_path / "emotion6" / "ground_truth.txt"
    header = gt.read_text().splitlines()[0]
    gt.write_text(text.replace("HEADER", header))
    with pytest.raises(DatasetLayoutError, match="has no rows|is empty") as err:
        load_dataset("emotion6", data_root=tmp_path)
    assert str(gt) in str(err.value)


# --- FI / IAPS / ArtPhoto / Abstract -----------------------------------------------------


@pytest.mark.parametrize("name", ["fi", "iaps"])
def test_emotion_folders_give_eight_classes_and_reject_unknown_folders(
    name, tmp_path, dataset_writer, image_file_writer
):
    dataset_writer(name)
    ds = load_dataset(name, data_root=tmp_path, labels="emotion")
    assert ds.classes == list(MIKELS_EMOTIONS) and set(ds.class_counts().values()) == {5}
    (tmp_path / name / "sadness").rename(tmp_path / name / "Sad")  # published spelling
    assert load_dataset(name, data_root=tmp_path).class_counts() == {"negative": 20, "positive": 20}
    image_file_writer(tmp_path / name / "neutral" / "x.jpg")
    with pytest.raises(DatasetLayoutError, match="neutral"):
        load_dataset(name, data_root=tmp_path)


def test_fi_protocol_is_80_15_5():
    assert dataset_spec("fi").folder == "fi"
    from vsalib.data.fi import FI_PROTOCOL

    assert (FI_PROTOCOL.kind, FI_PROTOCOL.ratios) == ("ratio", (0.80, 0.15, 0.05))


def test_artphoto_reads_prefixes_and_rejects_unknown_ones(tmp_path, dataset_writer, image_file_writer):
    dataset_writer("artphoto")
    ds = load_dataset("artphoto", data_root=tmp_path, labels="emotion")
    assert ds.table.set_index("image").loc["sad_2.jpg", "emotion"] == "sadness"
    assert set(ds.class_counts().values()) == {5}
    bad = image_file_writer(tmp_path / "artphoto" / "nested" / "joyful_1.jpg")
    with pytest.raises(DatasetLayoutError) as err:
        load_dataset("artphoto", data_root=tmp_path)
    assert str(bad) in str(err.value)


def test_abstract_majority_votes_and_tie_rules(tmp_path, dataset_writer):
    dataset_writer("abstract")
    dropped = load_dataset("abstract", data_root=tmp_path, labels="emotion")
    expected = {"rows": 15, "tied_rows": 2, "no_vote_rows": 1, "dropped": 3}
    assert {k: dropped.info[k] for k in expected} == expected
    emotions = dropped.table.set_index("image")["emotion"]
    assert emotions["abstract_4.jpg"] == "contentment" and emotions["abstract_8.jpg"] == "sadness"
    assert "abstract_13.jpg" not in emotions
    first = load_dataset("abstract", data_root=tmp_path, ties="first").table.set_index("image")
    assert len(first) == 14 and "abstract_15.jpg" not in first.index  # no votes: always dropped
    assert first.loc["abstract_13.jpg", "emotion"] == "amusement"  # CSV order: Amusement first
    assert first.loc["abstract_14.jpg", "emotion"] == "anger"  # Anger before Awe in the CSV
    assert first.loc["abstract_14.jpg", "votes_awe"] == 3 and first.loc["abstract_14.jpg", "votes"] == 6


def test_abstract_missing_image_and_bad_header(tmp_path, dataset_writer):
    dataset_writer("abstract")
    (tmp_path / "abstract" / "abstract_2.jpg").unlink()
    with pytest.raises(MissingImagesError, match="ABSTRACT_groundTruth.csv") as err:
        load_dataset("abstract", data_root=tmp_path)
    assert "abstract_2.jpg" in str(err.value)
    (tmp_path / "abstract" / "ABSTRACT_groundTruth.csv").write_text(",'Joy','Anger'\n'a.jpg',1,2\n")
    with pytest.raises(DatasetLayoutError, match="8 emotions"):
        load_dataset("abstract", data_root=tmp_path)


# --- real data (skipped when absent) -----------------------------------------------------


def _require(name: str) -> None:
    if not is_available(name):
        pytest.skip(f"{name} not found under the data root (set VSALIB_DATA)")


@pytest.mark.realdata
@pytest.mark.parametrize("subset, n, pos, neg", [("five", 882, 581, 301), ("four", 1116, 689, 427),
                                                 ("three", 1269, 769, 500)])
def test_real_twitter1_counts(subset, n, pos, neg):
    _require("twitter1")
    ds = load_dataset("twitter1", subset=subset)
    assert len(ds) == n and ds.class_counts() == {"negative": neg, "positive": pos}
    assert ds.table["agree"].min() == {"five": 5, "four": 4, "three": 3}[subset]


@pytest.mark.realdata
def test_real_emotion6_counts():
    _require("emotion6")
    from vsalib.data.emotion6 import PROBABILITY_SUM_TOLERANCE, read_emotion6_ground_truth

    table = read_emotion6_ground_truth(find_dataset_dir("emotion6"))
    sums = table[list(EMOTION6_PROB_COLUMNS)].sum(axis=1)
    assert (sums - 1).abs().max() < PROBABILITY_SUM_TOLERANCE / 1000  # published: within 1.7e-6 of 1
    assert load_dataset("emotion6").class_counts() == {"negative": 1320, "positive": 660}
    dom = load_dataset("emotion6", labels="dominant_binary")
    assert dom.class_counts() == {"negative": 913, "positive": 742} and dom.info["dominant"]["dropped"] == 325
    assert set(load_dataset("emotion6", labels="emotion").class_counts().values()) == {330}


@pytest.mark.realdata
def test_real_emotionroi_split():
    _require("emotionroi")
    ds = load_dataset("emotionroi")
    assert ds.table["split"].value_counts().to_dict() == {"train": 1386, "test": 594}
    assert ds.class_counts() == {"negative": 1320, "positive": 660}


@pytest.mark.realdata
def test_real_twitter2_counts():
    _require("twitter2")
    ds = load_dataset("twitter2")
    assert len(ds) == 603 and ds.class_counts() == {"negative": 133, "positive": 470}
    assert sorted(ds.table["partition"].unique()) == [1, 2, 3, 4, 5]


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["twitter1", "emotion6"])
def test_real_images_open(name):
    _require(name)
    paths = load_dataset(name).paths
    sample = [paths[i] for i in np.random.default_rng(0).choice(len(paths), 40, replace=False)]
    assert check_images(sample) == []


def test_loaders_called_directly_still_check_their_options(tmp_path, dataset_writer):
    from vsalib.data.abstract import load_abstract
    from vsalib.data.twitter import load_twitter1

    dataset_writer("twitter1")
    dataset_writer("abstract")
    with pytest.raises(UnknownNameError, match="five, four, three"):
        load_twitter1(tmp_path / "twitter1", subset="two")
    with pytest.raises(UnknownNameError, match="'drop', 'first'"):
        load_abstract(tmp_path / "abstract", ties="random")
