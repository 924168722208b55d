"""The synthetic affective-scenes dataset: determinism, ground truth, caching, and that the
sentiment lives in the region (not in the global colour)."""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from skimage.feature import hog
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from vsalib.data import synthetic
from vsalib.data.registry import load_dataset
from vsalib.data.synthetic import (
    ADJECTIVES,
    DEFAULT_COLOUR_BIAS,
    balanced_emotions,
    generate_scene,
    iter_scenes,
    load_synthetic,
    synthetic_cache_dir,
    write_synthetic,
)
from vsalib.emotions import BINARY_CLASSES, MIKELS_EMOTIONS, POLARITY


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path):
    a = write_synthetic(tmp_path / "a", n_images=16, size=48, seed=5, progress=False)
    b = write_synthetic(tmp_path / "b", n_images=16, size=48, seed=5, progress=False)
    c = write_synthetic(tmp_path / "c", n_images=16, size=48, seed=6, progress=False)
    fa, fb, fc = _files(a), _files(b), _files(c)
    assert len(fa) == 2 * 16 + 2  # images, masks, labels.csv, params.json
    assert fa == fb
    assert fa.keys() == fc.keys()
    differing = [k for k in fa if k.startswith("images/") and fa[k] != fc[k]]
    assert len(differing) == 16
    assert fa["labels.csv"] != fc["labels.csv"]


def test_scene_depends_only_on_seed_and_index():
    short = list(iter_scenes(16, 48, seed=3))
    again = list(iter_scenes(16, 48, seed=3))
    for s, t in zip(short, again):
        assert s.emotion == t.emotion and s.adjective == t.adjective and s.box == t.box
        np.testing.assert_array_equal(s.image, t.image)
        np.testing.assert_array_equal(s.mask, t.mask)
    rng1, rng2 = np.random.default_rng(11), np.random.default_rng(11)
    img1, mask1, box1 = generate_scene(rng1, "awe", 64)
    img2, mask2, box2 = generate_scene(rng2, "awe", 64)
    np.testing.assert_array_equal(img1, img2)
    np.testing.assert_array_equal(mask1, mask2)
    assert box1 == box2


# --------------------------------------------------------------------------- labels


@pytest.mark.parametrize("n", [8, 64, 100])
def test_emotions_are_balanced_and_shuffled(n):
    emotions = balanced_emotions(n, seed=0)
    counts = pd.Series(emotions).value_counts()
    assert set(counts.index) == set(MIKELS_EMOTIONS)
    assert counts.max() - counts.min() <= (0 if n % 8 == 0 else 1)
    assert counts.sum() == n
    assert balanced_emotions(n, seed=0) == emotions
    if n >= 64:
        assert emotions != sorted(emotions, key=MIKELS_EMOTIONS.index)
        assert balanced_emotions(n, seed=1) != emotions


def test_labels_csv_balanced_polarity_and_adjectives(tmp_path):
    folder = write_synthetic(tmp_path / "d", n_images=80, size=40, seed=2, progress=False)
    table = pd.read_csv(folder / "labels.csv")
    assert list(table.columns) == ["file", "emotion", "polarity", "adjective", "x0", "y0", "x1", "y1"]
    assert (table["emotion"].value_counts() == 10).all()
    assert (table["polarity"] == table["emotion"].map(POLARITY)).all()
    assert set(table["file"]) == {f"images/{i:05d}.png" for i in range(80)}
    all_adjectives = {a for words in ADJECTIVES.values() for a in words}
    assert set(table["adjective"]) <= all_adjectives


def test_adjective_noise_controls_mismatch():
    def mismatch(noise: float) -> float:
        scenes = list(iter_scenes(96, 32, seed=0, adjective_noise=noise))
        return np.mean([s.adjective not in ADJECTIVES[s.emotion] for s in scenes])

    assert mismatch(0.0) == 0.0
    assert mismatch(1.0) == 1.0
    assert 0.0 < mismatch(0.3) < 0.6
    assert set(ADJECTIVES) == set(MIKELS_EMOTIONS)


# --------------------------------------------------------------------------- ground truth


@pytest.mark.parametrize("size", [32, 64, 128])
def test_box_is_tight_around_a_nonempty_mask_inside_the_image(size):
    for scene in iter_scenes(48, size, seed=size):
        img, mask, (x0, y0, x1, y1) = scene.image, scene.mask, scene.box
        assert img.shape == (size, size, 3) and img.dtype == np.uint8
        assert mask.shape == (size, size) and mask.dtype == bool
        assert mask.any()
        assert 0 <= x0 < x1 <= size and 0 <= y0 < y1 <= size
        inside = np.zeros_like(mask)
        inside[y0:y1, x0:x1] = True
        assert not (mask & ~inside).any()  # the box contains the mask
        # ... tightly: every side of the box touches the mask
        assert mask[y0, x0:x1].any() and mask[y1 - 1, x0:x1].any()
        assert mask[y0:y1, x0].any() and mask[y0:y1, x1 - 1].any()
        # the object is never cut by the image border
        assert not (mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())
        side = max(x1 - x0, y1 - y0)
        assert 0.05 * size <= side <= 0.35 * size + 2  # +2: rasterisation
        assert scene.polarity == POLARITY[scene.emotion]


@pytest.mark.parametrize("emotion", MIKELS_EMOTIONS)
def test_glyphs_fit_in_the_unit_disc(emotion):
    for seed in range(20):
        for kind, role, data in synthetic._GLYPH_FUNCS[emotion](np.random.default_rng(seed)):
            assert role in ("body", "detail")
            if kind == "disc":
                x, y, r = data
                assert math.hypot(x, y) + r <= 1.0 + 1e-9
            else:
                assert np.linalg.norm(np.asarray(data), axis=1).max() <= 1.0 + 1e-9


def test_written_masks_match_the_boxes(tmp_path):
    folder = write_synthetic(tmp_path / "m", n_images=16, size=64, seed=9, progress=False)
    table = pd.read_csv(folder / "labels.csv")
    for row in table.itertuples():
        mask = np.asarray(Image.open(folder / "masks" / Path(row.file).name))
        assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 255}
        ys, xs = np.nonzero(mask)
        assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (row.x0, row.y0, row.x1, row.y1)
        img = Image.open(folder / row.file)
        assert img.mode == "RGB" and img.size == (64, 64)


# --------------------------------------------------------------------------- loading and caching


@pytest.mark.parametrize("labels", ["binary", "emotion"])
def test_load_dataset_synthetic_table(tmp_path, labels):
    ds = load_dataset("synthetic", n_images=64, size=64, cache_dir=tmp_path, labels=labels)
    assert len(ds) == 64
    columns = ["path", "label", "group", "emotion", "polarity", "adjective"]
    columns += ["x0", "y0", "x1", "y1", "mask_path"]
    assert list(ds.table.columns) == columns
    assert ds.root == synthetic_cache_dir(64, 64, 0, tmp_path)
    assert ds.root.parent.name == "synthetic" and ds.root.name == "n64_s64_seed0_v1"
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in ds.table["path"])
    assert all(Path(p).is_file() for p in ds.table["mask_path"])
    assert ds.table["group"].is_unique
    assert ds.protocol.kind == "kfold" and ds.protocol.k == 5
    assert ds.info["seed"] == 0 and ds.info["size"] == 64 and ds.info["n_images"] == 64
    if labels == "binary":
        assert ds.classes == list(BINARY_CLASSES)
        assert (ds.labels == ds.table["polarity"].to_numpy()).all()
        assert ds.class_counts() == {"negative": 32, "positive": 32}
    else:
        assert ds.classes == list(MIKELS_EMOTIONS)
        assert [ds.classes[i] for i in ds.labels] == ds.table["emotion"].tolist()
        assert set(ds.class_counts().values()) == {8}


def test_load_uses_cache_and_env(tmp_path, monkeypatch):
    first = load_synthetic(None, n_images=16, size=32, cache_dir=tmp_path)
    stamp = (first.root / "labels.csv").stat().st_mtime_ns

    def fail(*args, **kwargs):
        raise AssertionError("regenerated although the cache was complete")

    monkeypatch.setattr(synthetic, "write_synthetic", fail)
    again = load_synthetic(None, n_images=16, size=32, cache_dir=tmp_path)
    assert (again.root / "labels.csv").stat().st_mtime_ns == stamp
    pd.testing.assert_frame_equal(first.table, again.table)
    monkeypatch.undo()

    monkeypatch.setenv("VSALIB_CACHE", str(tmp_path / "env"))
    ds = load_synthetic(None, n_images=8, size=32, seed=4)
    assert ds.root == tmp_path / "env" / "synthetic" / "n8_s32_seed4_v1"


def test_half_written_cache_does_not_count(tmp_path):
    target = synthetic_cache_dir(16, 32, 0, tmp_path)
    target.parent.mkdir(parents=True)
    leftover = target.parent / f".{target.name}.tmp-dead"
    (leftover / "images").mkdir(parents=True)
    (leftover / "labels.csv").write_text("file,emotion\n")
    ds = load_synthetic(None, n_images=16, size=32, cache_dir=tmp_path)
    assert len(ds) == 16 and ds.root == target
    # a folder at the target without labels.csv (e.g. an interrupted copy) is regenerated
    shutil.rmtree(target)
    (target / "images").mkdir(parents=True)
    (target / "images" / "00000.png").write_bytes(b"junk")
    ds = load_synthetic(None, n_images=16, size=32, cache_dir=tmp_path)
    assert len(ds) == 16 and (target / "labels.csv").is_file()
    Image.open(ds.table["path"][0]).verify()


def test_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    calls = {"n": 0}
    real_save = synthetic._save_png

    def flaky(array, path):
        calls["n"] += 1
        if calls["n"] > 5:
            raise KeyboardInterrupt
        real_save(array, path)

    monkeypatch.setattr(synthetic, "_save_png", flaky)
    with pytest.raises(KeyboardInterrupt):
        write_synthetic(tmp_path / "out", n_images=16, size=32, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_losing_a_race_keeps_the_finished_folder(tmp_path):
    winner = write_synthetic(tmp_path / "w", n_images=8, size=32, seed=0, progress=False)
    before = _files(winner)
    loser = write_synthetic(tmp_path / ".w.tmp-loser", n_images=8, size=32, seed=0, progress=False)
    synthetic._install(loser, winner, overwrite=False)  # what a slower concurrent writer does
    assert not loser.exists()
    assert _files(winner) == before


def test_loading_while_another_process_installs_the_folder_reads_theirs(tmp_path, monkeypatch):
    # the race a two-worker grid met: this process looks (folder missing), another installs it, then this
    # process's write_synthetic finds a finished folder where it meant to write
    folder = synthetic.synthetic_cache_dir(8, 32, 0, tmp_path)
    real_write = synthetic.write_synthetic

    def another_process_wins(out_dir, *args, **kwargs):
        real_write(out_dir, *args, **kwargs)  # theirs, installed first
        return real_write(out_dir, *args, **kwargs)  # ours: refuses to clobber

    monkeypatch.setattr(synthetic, "write_synthetic", another_process_wins)
    ds = synthetic.load_synthetic(n_images=8, size=32, seed=0, cache_dir=tmp_path)
    assert len(ds) == 8 and (folder / "labels.csv").is_file()
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # no temporary folder left


def test_write_refuses_to_clobber_without_overwrite(tmp_path):
    out = write_synthetic(tmp_path / "o", n_images=8, size=32, seed=0, progress=False)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_synthetic(out, n_images=8, size=32, seed=1, progress=False)
    write_synthetic(out, n_images=8, size=32, seed=1, progress=False, overwrite=True)
    assert json.loads((out / "params.json").read_text())["seed"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["o"]


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_images": 7}, "n_images must be >= 8"),
        ({"n_images": 8.0}, "n_images must be an int"),
        ({"size": 31}, "size must be >= 32"),
        ({"seed": -1}, "seed must be a non-negative int"),
        ({"colour_bias": 0.9}, r"colour_bias must be a number in \[0, 0.5\]"),
        ({"adjective_noise": 1.5}, r"adjective_noise must be a number in \[0, 1"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        list(iter_scenes(**{"n_images": 8, "size": 32, **kwargs}))


def test_bad_loader_arguments(tmp_path):
    with pytest.raises(ValueError, match="labels must be one of"):
        load_synthetic(None, n_images=8, size=32, labels="valence", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="emotion must be one of"):
        generate_scene(np.random.default_rng(0), "joy", 64)
    with pytest.raises(Exception, match="valid values"):
        load_dataset("synthetic", labels="valence", cache_dir=tmp_path)


# --------------------------------------------------------------------------- the signal is in the region


def _colour_features(img: np.ndarray) -> np.ndarray:
    """Global colour histograms: joint 4x4x4 RGB plus 16 bins per channel."""
    q = (img // 64).reshape(-1, 3).astype(int)
    joint = np.bincount(q[:, 0] * 16 + q[:, 1] * 4 + q[:, 2], minlength=64)
    per_channel = [np.bincount((img[..., c] // 16).ravel(), minlength=16) for c in range(3)]
    return np.concatenate([joint, *per_channel]) / (img.shape[0] * img.shape[1])


def _crop_hog(img: np.ndarray, box, side: int = 32) -> np.ndarray:
    """HOG of the square crop around the ground-truth box, resized to ``side``."""
    x0, y0, x1, y1 = box
    c = max(x1 - x0, y1 - y0) + 2
    padded = np.pad(img, ((c, c), (c, c), (0, 0)), mode="edge")
    top = int(round((y0 + y1 - c) / 2)) + c
    left = int(round((x0 + x1 - c) / 2)) + c
    crop = Image.fromarray(padded[top : top + c, left : left + c]).convert("L")
    grey = np.asarray(crop.resize((side, side), Image.BILINEAR), dtype=float) / 255
    return hog(grey, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2))


def _cv_accuracy(x: np.ndarray, y: np.ndarray) -> float:
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    return float(cross_val_score(model, x, y, cv=cv).mean())


@pytest.fixture(scope="module")
def scenes_96():
    return list(iter_scenes(480, 96, seed=1))


def test_global_colour_is_weak_but_the_region_is_strong(scenes_96):
    y = np.array([s.polarity for s in scenes_96])
    emotions = np.array([s.emotion for s in scenes_96])
    colour = _cv_accuracy(np.array([_colour_features(s.image) for s in scenes_96]), y)
    crops = np.array([_crop_hog(s.image, s.box) for s in scenes_96])
    crop = _cv_accuracy(crops, y)
    crop_emotion = _cv_accuracy(crops, emotions)
    print(f"\nbinary accuracy: colour histogram {colour:.3f}, ground-truth crop HOG {crop:.3f}; "
          f"8-way crop HOG {crop_emotion:.3f}")
    assert colour < 0.70
    assert crop > 0.80
    assert crop > colour + 0.15
    assert crop_emotion > 0.60  # the eight glyph families are distinguishable


def test_colour_bias_is_the_colour_knob():
    def colour_accuracy(bias: float) -> float:
        scenes = list(iter_scenes(320, 48, seed=2, colour_bias=bias))
        x = np.array([_colour_features(s.image) for s in scenes])
        return _cv_accuracy(x, np.array([s.polarity for s in scenes]))

    strong = colour_accuracy(0.2)
    default = colour_accuracy(DEFAULT_COLOUR_BIAS)
    print(f"\ncolour-histogram binary accuracy: colour_bias=0.2 {strong:.3f}, default {default:.3f}")
    assert strong > 0.8
    assert strong > default + 0.15


def test_generation_speed(tmp_path):
    start = time.perf_counter()
    write_synthetic(tmp_path / "speed", n_images=1000, size=128, seed=0, progress=False)
    elapsed = time.perf_counter() - start
    print(f"\nwrote 1000 synthetic images at 128 px in {elapsed:.2f} s")
    assert len(list((tmp_path / "speed" / "images").iterdir())) == 1000
