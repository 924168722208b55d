"""load_dataset checks every image once: unreadable files refuse the load (each one named, nothing
written), small images warn, files found clean are cached and checked again when they change;
generated datasets are not checked."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from vsalib.data import UnreadableImageError, load_dataset
from vsalib.data import images
from vsalib.data.images import MIN_IMAGE_SIDE, SmallImageWarning, image_check_dir

from test_loaders import EKMAN_EMOTIONS, EMOTION6_NUMBERS, WRITERS, empty_stores  # noqa: F401 (a fixture)


@pytest.fixture
def decoded(monkeypatch):
    """The paths the image check decodes, in a list that grows as it does."""
    seen: list[str] = []
    real = images.open_image

    def counting(path):
        seen.append(str(path))
        return real(path)

    monkeypatch.setattr(images, "open_image", counting)
    return seen


def _twitter1(root: Path, write) -> list[Path]:
    """Twitter I's fixture; its images in file-name order (the first 8 rows are the ``five`` subset)."""
    WRITERS["twitter1"](root, write)
    lines = (root / "twitter1" / "ground_truth" / "twitter_three_agrees.txt").read_text().split("\n")
    return [root / "twitter1" / "images" / line.split()[0] for line in lines if line]


def test_every_unreadable_file_is_named_and_nothing_is_written(tmp_path, image_file_writer, empty_stores, decoded):
    files = _twitter1(tmp_path, image_file_writer)
    cut, empty, text = files[1], files[4], files[6]
    for path, kind in ((cut, "truncated"), (empty, "empty"), (text, "not_image")):
        image_file_writer(path, kind)
    for attempt in (1, 2):  # a failing check is not cached: the second load decodes every file again
        with pytest.raises(UnreadableImageError) as err:
            load_dataset("twitter1", data_root=tmp_path)
        assert len(decoded) == 8 * attempt
    msg = str(err.value)
    assert msg.startswith("twitter1: 3 of 8 image file(s) cannot be read (expected each to be a complete JPEG")
    assert f"{cut} is truncated or corrupt (expected complete image data" in msg
    assert f"{empty} is not an image Pillow can identify (expected JPEG" in msg and "the file is empty (0 bytes)" in msg
    assert f"{text} is not an image Pillow can identify" in msg and "the file has 27 bytes but no image header" in msg
    assert "html" not in msg and "404" not in msg  # never the file's contents
    assert str(files[0]) not in msg
    assert empty_stores() == []


def test_a_clean_check_is_cached_and_subsets_share_it(tmp_path, image_file_writer, empty_stores, decoded):
    files = _twitter1(tmp_path, image_file_writer)
    load_dataset("twitter1", data_root=tmp_path)  # subset five: 8 images
    assert sorted(decoded) == sorted(map(str, files[:8]))
    (cache_file,) = image_check_dir().iterdir()  # one JSON, no temporary file left behind
    assert cache_file.suffix == ".json" and empty_stores() == ["cache/image_checks", f"cache/image_checks/{cache_file.name}"]
    record = json.loads(cache_file.read_text())
    assert record["version"] == images.CHECK_CACHE_VERSION and len(record["files"]) == 8
    load_dataset("twitter1", data_root=tmp_path)
    assert len(decoded) == 8  # nothing decoded again
    load_dataset("twitter1", data_root=tmp_path, subset="three")  # 14 images: only the 6 new ones
    assert sorted(decoded[8:]) == sorted(map(str, files[8:]))
    assert len(json.loads(cache_file.read_text())["files"]) == 14


def test_a_changed_file_is_checked_again(tmp_path, image_file_writer, empty_stores, decoded):
    files = _twitter1(tmp_path, image_file_writer)
    load_dataset("twitter1", data_root=tmp_path)
    st = os.stat(files[2])
    os.utime(files[2], ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # touched: a new mtime
    load_dataset("twitter1", data_root=tmp_path)
    assert decoded[8:] == [str(files[2])]
    cached = empty_stores(), (image_check_dir() / os.listdir(image_check_dir())[0]).read_bytes()
    image_file_writer(files[5], "truncated")  # replaced by a corrupt file: a new size and mtime
    with pytest.raises(UnreadableImageError, match=f"1 of 8 image file\\(s\\) cannot be read.*\n  {files[5]} is "):
        load_dataset("twitter1", data_root=tmp_path)
    assert decoded[9:] == [str(files[5])]
    assert (empty_stores(), (image_check_dir() / os.listdir(image_check_dir())[0]).read_bytes()) == cached


def test_small_images_warn_listing_them_also_when_cached(tmp_path, image_file_writer, empty_stores, decoded):
    files = _twitter1(tmp_path, image_file_writer)
    small = [files[0], files[7]]
    for path in small:
        image_file_writer(path, "rgb", size=(60, MIN_IMAGE_SIDE - 1))
    for _ in range(2):
        with pytest.warns(SmallImageWarning) as record:
            load_dataset("twitter1", data_root=tmp_path)
        (warning,) = record
        msg = str(warning.message)
        assert msg.startswith(f"twitter1: 2 of 8 image(s) have a shorter side below {MIN_IMAGE_SIDE} px")
        assert f"{small[0]} (60x31 px), {small[1]} (60x31 px)" in msg and "expected at least 32 px" in msg
        assert warning.filename == __file__  # points at the caller of load_dataset
    assert len(decoded) == 8  # the second warning came from the cache


def test_a_broken_stimuli_map_refuses_emotionroi(tmp_path, image_file_writer, empty_stores):
    WRITERS["emotionroi"](tmp_path, image_file_writer)
    maps = tmp_path / "emotion6" / "ground_truth"
    for e in EKMAN_EMOTIONS:
        for n in EMOTION6_NUMBERS:
            image_file_writer(maps / e / f"{n}.jpg", "gray", size=(40, 32))
    image_file_writer(maps / "fear" / "2.jpg", "truncated")
    with pytest.raises(UnreadableImageError, match=f"emotionroi: 1 of 60 .*\n  {maps / 'fear' / '2.jpg'} is truncated"):
        load_dataset("emotionroi", data_root=tmp_path)
    assert empty_stores() == []
    assert len(load_dataset("emotion6", data_root=tmp_path)) == 30  # Emotion6 does not read the maps


def test_generated_datasets_are_not_checked(tmp_path, monkeypatch, empty_stores):
    def fail(path):
        raise AssertionError(f"decoded {path}")

    monkeypatch.setattr(images, "open_image", fail)
    ds = load_dataset("synthetic", n_images=8, size=32, cache_dir=tmp_path / "synthetic_cache")
    assert len(ds) == 8 and not image_check_dir().exists()


def test_a_cache_that_cannot_be_written_does_not_block_the_load(tmp_path, image_file_writer, monkeypatch, decoded):
    _twitter1(tmp_path, image_file_writer)
    blocker = tmp_path / "cache_is_a_file"
    blocker.write_text("")
    monkeypatch.setenv("VSALIB_CACHE", str(blocker))
    for _ in range(2):
        assert len(load_dataset("twitter1", data_root=tmp_path)) == 8
    assert len(decoded) == 16 and blocker.read_text() == ""
