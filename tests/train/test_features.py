"""Feature caching (vsalib.train.features): shapes, views, the incremental on-disk cache, CachedViews."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

from vsalib.backbones import create_backbone
from vsalib.data.images import open_image
from vsalib.train import features
from vsalib.train.features import CachedViews, extract

SIZE = 32  # tiny's input_size is 64; 32 keeps the tests fast


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Never touch the user's ~/.cache: the default cache root points into tmp for every test."""
    monkeypatch.setenv("VSALIB_CACHE", str(tmp_path / "default_cache"))


@pytest.fixture(scope="module")
def backbone():
    torch.manual_seed(0)
    return create_backbone("tiny", pretrained=False).eval()


def _write_png(path, seed: int, size=(40, 36)):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path, format="PNG")
    return str(path)


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    return [_write_png(folder / f"im{i}.png", seed=i, size=(40 + 2 * i, 36)) for i in range(5)]


@pytest.fixture
def counted(monkeypatch):
    """Wrap ``_compute`` to record the paths it is asked to compute, call by call."""
    calls: list[list[str]] = []
    real = features._compute

    def wrapper(backbone, paths, *args, **kwargs):
        calls.append(list(paths))
        return real(backbone, paths, *args, **kwargs)

    monkeypatch.setattr(features, "_compute", wrapper)
    return calls


def _forbid_compute(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("_compute called although the features are cached")

    monkeypatch.setattr(features, "_compute", boom)


def _by_hand(backbone, path, stop=None):
    x = backbone.preprocess(False, SIZE)(open_image(path)).unsqueeze(0)
    with torch.no_grad():
        out = []
        for xv in (x, torch.flip(x, dims=[3])):
            out.append(backbone.forward_to(xv, stop) if stop is not None else backbone.pool(backbone(xv)))
    return torch.cat(out)  # (views, ...)


def _cache_files(root):
    return sorted((root / "features").glob("*.pt"))


# -- shapes and views --------------------------------------------------------------------
def test_pooled_shape_and_flip_view(backbone, images, tmp_path):
    f = extract(backbone, images, size=SIZE, views=2, cache_dir=tmp_path / "c", progress=False, batch_size=2)
    assert f.shape == (len(images), 2, backbone.pooled_dim)
    assert f.dtype == torch.float32 and f.device.type == "cpu"
    for i, p in enumerate(images):
        assert torch.allclose(f[i], _by_hand(backbone, p), atol=1e-5)
    assert not torch.allclose(f[:, 0], f[:, 1], atol=1e-4)  # the flipped view is a different view
    one = extract(backbone, images, size=SIZE, views=1, cache_dir=tmp_path / "c", progress=False)
    assert one.shape == (len(images), 1, backbone.pooled_dim)
    assert torch.allclose(one[:, 0], f[:, 0], atol=1e-5)


@pytest.mark.parametrize("stop, shape", [(1, (8, 16, 16)), (2, (16, 8, 8))])
def test_stop_gives_intermediate_activation(backbone, images, tmp_path, stop, shape):
    f = extract(backbone, images[:3], stop=stop, size=SIZE, views=2, cache_dir=tmp_path / "c", progress=False)
    assert f.shape == (3, 2, *shape)
    for i, p in enumerate(images[:3]):
        assert torch.allclose(f[i], _by_hand(backbone, p, stop), atol=1e-5)
    # running the rest of the trunk on the cached activation gives the full feature map
    with torch.no_grad():
        rest = backbone.pool(backbone.forward_from(f[:, 0], stop))
    full = extract(backbone, images[:3], size=SIZE, views=1, cache_dir=tmp_path / "c", progress=False)
    assert torch.allclose(rest, full[:, 0], atol=1e-5)


def test_default_size_is_backbone_input_size(backbone, images, tmp_path):
    f = extract(backbone, images[:1], stop=3, views=1, cache_dir=tmp_path / "c", progress=False)
    assert f.shape == (1, 1, 32, backbone.info.input_size // 8, backbone.info.input_size // 8)


def test_bad_views_raises(backbone, images, tmp_path):
    with pytest.raises(ValueError, match="views"):
        extract(backbone, images, views=3, size=SIZE, cache_dir=tmp_path / "c", progress=False)


# -- the cache ---------------------------------------------------------------------------
def test_second_call_reads_the_cache(backbone, images, tmp_path, monkeypatch):
    root = tmp_path / "c"
    first = extract(backbone, images, size=SIZE, views=2, cache_dir=root, progress=False)
    assert len(_cache_files(root)) == 1
    _forbid_compute(monkeypatch)
    again = extract(backbone, images, size=SIZE, views=2, cache_dir=root, progress=False)
    assert torch.equal(again, first)
    # any subset, in any order, also comes from the cache, row for row
    order = [3, 0, 4]
    sub = extract(backbone, [images[i] for i in order], size=SIZE, views=2, cache_dir=root, progress=False)
    assert torch.equal(sub, first[order])
    # relative paths name the same files
    monkeypatch.chdir(os.path.dirname(images[0]))
    rel = extract(backbone, [os.path.basename(p) for p in images], size=SIZE, views=2, cache_dir=root,
                  progress=False)
    assert torch.equal(rel, first)


def test_use_cache_false_neither_reads_nor_writes(backbone, images, tmp_path, counted):
    root = tmp_path / "c"
    extract(backbone, images, size=SIZE, cache_dir=root, progress=False)
    assert len(counted) == 1
    f = extract(backbone, images, size=SIZE, cache_dir=root, use_cache=False, progress=False)
    assert len(counted) == 2 and counted[1] == [os.path.abspath(p) for p in images]
    assert f.shape == (len(images), 1, backbone.pooled_dim)
    other = tmp_path / "never"
    extract(backbone, images, size=SIZE, cache_dir=other, use_cache=False, progress=False)
    assert not other.exists()


def test_incremental_cache_computes_only_missing(backbone, images, tmp_path, counted):
    root = tmp_path / "c"
    head = extract(backbone, images[:2], size=SIZE, views=2, cache_dir=root, progress=False)
    assert counted == [[os.path.abspath(p) for p in images[:2]]]
    full = extract(backbone, images, size=SIZE, views=2, cache_dir=root, progress=False)
    assert len(counted) == 2 and counted[1] == [os.path.abspath(p) for p in images[2:]]
    assert len(_cache_files(root)) == 1  # one cache file per folder and settings
    assert torch.equal(full[:2], head)
    uncached = extract(backbone, images, size=SIZE, views=2, use_cache=False, progress=False)
    assert torch.allclose(full, uncached, atol=1e-5)
    n_calls = len(counted)  # (the uncached run above was one more call)
    extract(backbone, images[1:4], size=SIZE, views=2, cache_dir=root, progress=False)
    assert len(counted) == n_calls  # a cached subset computes nothing


def test_settings_are_part_of_the_key(backbone, images, tmp_path, counted):
    root = tmp_path / "c"
    extract(backbone, images[:2], size=SIZE, views=1, cache_dir=root, progress=False)
    extract(backbone, images[:2], size=SIZE, views=2, cache_dir=root, progress=False)
    extract(backbone, images[:2], size=SIZE + 8, views=1, cache_dir=root, progress=False)
    extract(backbone, images[:2], stop=2, size=SIZE, views=1, cache_dir=root, progress=False)
    assert len(counted) == 4
    assert len(_cache_files(root)) == 4


def test_modified_file_is_recomputed(backbone, images, tmp_path, counted):
    root = tmp_path / "c"
    before = extract(backbone, images, size=SIZE, views=2, cache_dir=root, progress=False)
    old = os.stat(images[2])
    _write_png(images[2], seed=99, size=(50, 40))  # new content, new size
    os.utime(images[2], ns=(old.st_atime_ns, old.st_mtime_ns + 5_000_000_000))  # and surely a new mtime
    after = extract(backbone, images, size=SIZE, views=2, cache_dir=root, progress=False)
    assert counted[-1] == [os.path.abspath(images[2])]
    assert torch.allclose(after[2], _by_hand(backbone, images[2]), atol=1e-5)
    assert not torch.allclose(after[2], before[2], atol=1e-3)
    keep = [0, 1, 3, 4]
    assert torch.equal(after[keep], before[keep])


def test_same_size_rewrite_is_recomputed_by_content(backbone, tmp_path, counted):
    """An uncompressed image rewritten with other pixels keeps its size: its bytes tell."""
    path = tmp_path / "same" / "a.bmp"
    path.parent.mkdir()

    def write(seed):
        rng = np.random.default_rng(seed)
        Image.fromarray(rng.integers(0, 256, (36, 40, 3), dtype=np.uint8)).save(path, format="BMP")

    write(1)
    root = tmp_path / "c"
    before = extract(backbone, [path], size=SIZE, cache_dir=root, progress=False)
    old = os.stat(path)
    write(2)
    os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns))  # even with the old mtime put back
    assert os.stat(path).st_size == old.st_size
    after = extract(backbone, [path], size=SIZE, cache_dir=root, progress=False)
    assert len(counted) == 2
    assert not torch.allclose(after, before, atol=1e-3)
    assert torch.allclose(after[0], _by_hand(backbone, str(path))[:1], atol=1e-5)


def test_a_copied_dataset_keeps_its_cache(backbone, images, tmp_path, counted):
    """Re-extracting or copying a dataset gives every file a new modification time, not new bytes: the
    features are read from the cache, not recomputed."""
    root = tmp_path / "c"
    before = extract(backbone, images, size=SIZE, cache_dir=root, progress=False)
    for p in images:
        st = os.stat(p)
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 7_000_000_000))
    after = extract(backbone, images, size=SIZE, cache_dir=root, progress=False)
    assert len(counted) == 1 and torch.equal(after, before)
    seen = []
    features.cached_per_image(images, lambda p: seen.append(p) or 1, tmp_path / "per_image.pt", progress=False)
    for p in images:
        st = os.stat(p)
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    features.cached_per_image(images, lambda p: seen.append(p) or 1, tmp_path / "per_image.pt", progress=False)
    assert seen == list(images)  # computed once


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupt_cache_file_is_recomputed(backbone, images, tmp_path, counted, damage):
    root = tmp_path / "c"
    good = extract(backbone, images, size=SIZE, views=2, cache_dir=root, progress=False)
    (file,) = _cache_files(root)
    data = file.read_bytes()
    file.write_bytes({"garbage": b"this is not a torch file" * 10, "truncated": data[: len(data) // 2],
                      "empty": b""}[damage])
    again = extract(backbone, images, size=SIZE, views=2, cache_dir=root, progress=False)
    assert len(counted) == 2 and counted[1] == [os.path.abspath(p) for p in images]
    assert torch.allclose(again, good, atol=1e-5)
    # and the cache is healthy again
    assert torch.load(file, weights_only=True)["feats"].shape == good.shape


def test_cache_dir_argument_and_env(backbone, images, tmp_path, monkeypatch):
    explicit = tmp_path / "explicit"
    extract(backbone, images[:2], size=SIZE, cache_dir=explicit, progress=False)
    assert len(_cache_files(explicit)) == 1
    assert _cache_files(explicit)[0].name.startswith("tiny_")

    env = tmp_path / "from_env"
    monkeypatch.setenv("VSALIB_CACHE", str(env))
    extract(backbone, images[:2], size=SIZE, progress=False)
    assert len(_cache_files(env)) == 1
    assert features.cache_root() == env
    assert features.cache_root(explicit) == explicit

    monkeypatch.delenv("VSALIB_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    from pathlib import Path

    assert features.cache_root() == Path(tmp_path / "home") / ".cache" / "vsalib"


def test_no_temporary_files_left_in_cache(backbone, images, tmp_path):
    root = tmp_path / "c"
    extract(backbone, images[:2], size=SIZE, cache_dir=root, progress=False)
    extract(backbone, images, size=SIZE, cache_dir=root, progress=False)
    assert [p.suffix for p in (root / "features").iterdir()] == [".pt"]


# -- CachedViews -------------------------------------------------------------------------
def _view_feats(n=5, views=2, dim=3):
    # feats[j, v] is filled with 10 * j + v, so an item tells which row and view it came from
    f = torch.zeros(n, views, dim)
    for j in range(n):
        for v in range(views):
            f[j, v] = 10 * j + v
    return f


def test_cached_views_train_draws_both_views():
    feats = _view_feats()
    ds = CachedViews(feats, labels=[0, 1, 2, 0, 1], train=True)
    torch.manual_seed(0)
    seen = {int(ds[i % len(ds)][0][0]) % 10 for i in range(200)}
    assert seen == {0, 1}
    # and per item: each row shows up with both of its views
    per_item = {(int(x[0]) // 10, int(x[0]) % 10) for x, _, _ in (ds[i % 5] for i in range(200))}
    assert per_item == {(j, v) for j in range(5) for v in range(2)}


def test_cached_views_eval_always_centre_view():
    ds = CachedViews(_view_feats(), labels=[0, 1, 2, 0, 1], train=False)
    assert all(int(ds[i % 5][0][0]) % 10 == 0 for i in range(50))


def test_cached_views_returns_feature_label_index_with_indices():
    feats = _view_feats()
    labels = np.array([0, 1, 2, 0, 1])
    ds = CachedViews(feats, labels, indices=[3, 1], train=False)
    assert len(ds) == 2
    x, y, j = ds[0]
    assert j == 3 and int(y) == 0 and torch.equal(x, feats[3, 0])
    x, y, j = ds[1]
    assert j == 1 and int(y) == 1 and torch.equal(x, feats[1, 0])
    assert y.dtype == torch.long
    full = CachedViews(feats, labels, train=False)
    assert len(full) == 5 and [full[i][2] for i in range(5)] == list(range(5))
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=2)))
    assert batch[0].shape == (2, 3) and batch[1].tolist() == [0, 1] and batch[2].tolist() == [3, 1]


class _Planted:
    """Unpickling this (weights_only=False) runs code: it creates ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        from pathlib import Path

        return (Path.touch, (Path(self.marker),))


def test_load_cache_reads_with_weights_only_and_old_pickles_are_a_miss(tmp_path):
    from vsalib.regions.proposals import Proposals
    from vsalib.train.loop import atomic_torch_save

    props = Proposals(torch.rand(4, 4), torch.rand(4), "edgeboxes", (40, 36), "", {"n": 4, "alpha": np.float64(.65)})
    # an old cache: a plain pickle of Proposals objects (needs weights_only=False) -> recomputed
    old = tmp_path / "old.pt"
    torch.save({"img|1|2": props}, old)
    assert features.load_cache(old) == {}
    # a planted file never runs its code
    marker = tmp_path / "code-ran"
    planted = tmp_path / "planted.pt"
    torch.save({"img|1|2": _Planted(marker)}, planted)
    assert features.load_cache(planted) == {} and not marker.exists()
    # what vsalib writes now loads with weights_only=True and gives the same objects back
    new = tmp_path / "new.pt"
    atomic_torch_save({"img|1|2": props}, new)
    torch.load(new, weights_only=True)
    back = features.load_cache(new)["img|1|2"]
    assert type(back) is Proposals and torch.equal(back.boxes, props.boxes)
    assert torch.equal(back.objectness, props.objectness) and back.params == props.params
    assert type(back.params["alpha"]) is np.float64


def test_per_image_seconds_reads_attributes_and_keys_and_skips_unknown_times():
    from types import SimpleNamespace

    from vsalib.regions.proposals import Proposals

    timed = [SimpleNamespace(seconds=0.5), {"seconds": 1.5}, {"seconds": float("nan")}, {}, SimpleNamespace()]
    assert features.per_image_seconds(timed) == pytest.approx(1.0)  # (0.5 + 1.5) / 2: the unknown ones left out
    assert features.per_image_seconds([{}], fallback=0.25) == 0.25  # an old cache: this run's time
    assert np.isnan(features.per_image_seconds([]))
    # the dataclasses the caches hold carry the field, 'unknown' by default
    made = Proposals(torch.zeros(0, 4), torch.zeros(0), "edgeboxes", (10, 10))
    assert np.isnan(features.per_image_seconds([made]))
    made.seconds = 2.0
    assert features.per_image_seconds([made, {}]) == 2.0


def test_extract_leaves_the_backbone_as_it_found_it(backbone, images, tmp_path):
    """The caller's backbone comes back on its own device and in its own mode (extraction runs it in eval
    mode on the best device: a GPU where there is one)."""
    backbone.train()
    extract(backbone, images[:2], size=SIZE, cache_dir=tmp_path / "c", progress=False)
    assert backbone.training and next(backbone.parameters()).device.type == "cpu"
