"""open_image (by content, any mode → RGB), check_images, content_hash, ImageTableDataset."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from vsalib.data.images import (
    UnreadableImageError,
    check_images,
    content_hash,
    list_image_files,
    open_image,
    scan_images,
)

RED = (200, 30, 60)


@pytest.mark.parametrize("kind", ["rgb", "gray", "cmyk", "gif", "png", "png16", "rgba_png", "palette_png"])
def test_open_image_returns_rgb_for_every_readable_kind(tmp_path, image_file_writer, kind):
    path = image_file_writer(tmp_path / f"x_{kind}.jpg", kind, size=(12, 10))  # all named .jpg
    im = open_image(path)
    assert im.mode == "RGB"
    assert im.size == (12, 10)


def test_open_image_keeps_colours_of_jpeg_png_gif_and_cmyk(tmp_path, image_file_writer):
    for kind, tol in [("rgb", 6), ("png", 0), ("gif", 8), ("cmyk", 8)]:
        arr = np.asarray(open_image(image_file_writer(tmp_path / f"{kind}.jpg", kind, color=RED)), dtype=int)
        assert np.abs(arr[5, 5] - np.array(RED)).max() <= tol, kind


def test_grayscale_becomes_three_equal_channels(tmp_path, image_file_writer):
    arr = np.asarray(open_image(image_file_writer(tmp_path / "g.jpg", "gray")))
    assert arr.shape[2] == 3
    assert (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all()


@pytest.mark.parametrize("kind", ["rgba_png", "palette_png"])
def test_transparency_is_composited_on_white(tmp_path, image_file_writer, kind):
    arr = np.asarray(open_image(image_file_writer(tmp_path / "t.png", kind, color=RED, size=(12, 10))))
    assert tuple(arr[5, 1]) == (255, 255, 255)  # transparent left half
    assert tuple(arr[5, 10]) == RED  # opaque right half


def test_sixteen_bit_png_is_scaled_to_eight_bits(tmp_path, image_file_writer):
    arr = np.asarray(open_image(image_file_writer(tmp_path / "d.png", "png16")))
    assert abs(int(arr[0, 0, 0]) - 127) <= 1


def test_truncated_jpeg_raises_naming_file_and_expectation(tmp_path, image_file_writer):
    path = image_file_writer(tmp_path / "cut.jpg", "truncated")
    with pytest.raises(UnreadableImageError) as err:
        open_image(path)
    assert str(path) in str(err.value)
    assert "truncated" in str(err.value) and "expected" in str(err.value)


@pytest.mark.parametrize("kind, described", [("not_image", "the file has 27 bytes but no image header Pillow knows"),
                                             ("empty", "the file is empty (0 bytes)")])
def test_non_image_raises_naming_file_and_size_never_its_bytes(tmp_path, image_file_writer, kind, described):
    path = image_file_writer(tmp_path / f"{kind}.jpg", kind)
    with pytest.raises(UnreadableImageError, match="not an image") as err:
        open_image(path)
    msg = str(err.value)
    assert str(path) in msg and "expected JPEG, PNG, GIF, BMP, TIFF or WebP content" in msg and described in msg
    assert "html" not in msg and "b'" not in msg  # a system file's contents must not reach a notebook


def test_bytes_that_pillow_quotes_are_not_shown(tmp_path, image_file_writer, monkeypatch):
    path = image_file_writer(tmp_path / "a.png", "png")

    def broken(*args, **kwargs):
        raise SyntaxError("broken PNG file (chunk b'pass')")

    monkeypatch.setattr("vsalib.data.images.Image.open", broken)
    with pytest.raises(UnreadableImageError) as err:
        open_image(path)
    assert str(err.value).endswith("Pillow says: broken PNG file (chunk <bytes>))") and "pass" not in str(err.value)


def test_missing_file_raises_unreadable_and_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        open_image(tmp_path / "nope.jpg")
    assert issubclass(UnreadableImageError, ValueError)


def test_check_images_reports_every_bad_file_by_name(tmp_path, image_file_writer):
    good = [image_file_writer(tmp_path / f"{k}.jpg", k) for k in ("rgb", "gif", "cmyk", "rgba_png")]
    bad = [image_file_writer(tmp_path / f"{k}.jpg", k) for k in ("truncated", "not_image", "empty")]
    missing = tmp_path / "gone.jpg"
    report = check_images(good + bad + [missing])
    assert [p for p, _ in report] == [str(p) for p in bad + [missing]]
    assert all(str(p) in reason for p, reason in report)
    assert check_images(good, progress=True) == []
    assert check_images(good + bad, workers=1) == report[:3]  # the same answer without threads


def test_scan_images_gives_each_size_in_order(tmp_path, image_file_writer):
    paths = [image_file_writer(tmp_path / f"{i}.jpg", "rgb", size=(10 + i, 20)) for i in range(5)]
    paths.insert(2, image_file_writer(tmp_path / "cut.jpg", "truncated"))
    results = scan_images(paths, workers=3)
    assert [size for _, size in results] == [(10, 20), (11, 20), None, (12, 20), (13, 20), (14, 20)]
    assert results[2][0].startswith(f"{paths[2]} is truncated")


def test_content_hash_is_sha1_of_bytes(tmp_path, image_file_writer):
    a = image_file_writer(tmp_path / "a.jpg", "rgb")
    b = tmp_path / "copy_of_a.jpg"
    b.write_bytes(a.read_bytes())
    c = image_file_writer(tmp_path / "c.jpg", "rgb", color=(1, 2, 3))
    assert content_hash(a) == hashlib.sha1(a.read_bytes()).hexdigest()
    assert content_hash(a) == content_hash(b) != content_hash(c)


def test_list_image_files_sorts_naturally_and_skips_non_images(tmp_path, image_file_writer):
    for name in ("10.jpg", "2.JPG", "1.png", ".hidden.jpg"):
        image_file_writer(tmp_path / name, "rgb")
    (tmp_path / "notes.txt").write_text("x")
    assert [p.name for p in list_image_files(tmp_path)] == ["1.png", "2.JPG", "10.jpg"]


def test_importing_vsalib_data_does_not_import_torch():
    code = (
        "import sys, vsalib.data, vsalib.data.images, vsalib.data.labels, vsalib.data.splits; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.fixture
def small_table(tmp_path, image_file_writer):
    kinds = ["rgb", "gif", "rgba_png", "cmyk"]
    paths = [str(image_file_writer(tmp_path / f"{i}.jpg", k, size=(8, 6))) for i, k in enumerate(kinds)]
    return pd.DataFrame({"path": paths, "label": [0, 1, 1, 0], "group": ["a", "b", "c", "d"]})


def test_image_table_dataset_returns_tensor_label_and_row(small_table):
    torch = pytest.importorskip("torch")
    from vsalib.data import ImageTableDataset

    ds = ImageTableDataset(small_table, indices=[3, 1])
    assert isinstance(ds, torch.utils.data.Dataset) and len(ds) == 2
    x, label, row = ds[1]
    assert x.shape == (3, 6, 8) and x.dtype == torch.float32 and 0 <= x.min() <= x.max() <= 1
    assert (label, row) == (1, 1)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=2)))
    assert batch[0].shape == (2, 3, 6, 8) and batch[2].tolist() == [3, 1]


def test_image_table_dataset_applies_transform_and_accepts_image_dataset(small_table, tmp_path):
    pytest.importorskip("torch")
    from vsalib.data import ImageDataset, ImageTableDataset, Protocol

    dataset = ImageDataset("tiny", small_table, ["negative", "positive"], tmp_path, Protocol("kfold"))
    ds = ImageTableDataset(dataset, transform=lambda im: im.size, return_index=False)
    assert ds[0] == ((8, 6), 0)


def test_image_table_dataset_pickles_for_worker_processes(small_table):
    pytest.importorskip("torch")
    import pickle

    from vsalib.data import ImageTableDataset

    ds = pickle.loads(pickle.dumps(ImageTableDataset(small_table, indices=[2])))
    assert type(ds).__name__ == "ImageTableDataset" and ds[0][2] == 2


def test_image_table_dataset_rejects_bad_tables(small_table):
    pytest.importorskip("torch")
    from vsalib.data.images import ImageTableDataset

    with pytest.raises(ValueError, match="label"):
        ImageTableDataset(small_table.drop(columns="label"))
    with pytest.raises(IndexError):
        ImageTableDataset(small_table, indices=[0, 9])
