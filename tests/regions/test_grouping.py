import math
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from vsalib.backbones import Backbone, BackboneInfo, create_backbone
from vsalib.methods.global_cnn import GlobalCNN
from vsalib.regions import grouping as gr
from vsalib.regions.fusion import area_weighted_fusion
from vsalib.regions.cnn import SentimentFns, constant_map_head, model_sentiment_fns
from vsalib.regions.cnn import head_outputs as _head
from vsalib.regions.scoring import (score_masks_crop, score_regions_crop, score_regions_roialign,
                                    whole_image_probs)

PHOTO = Path("/work/shared/datasets/emotion6/images/joy/1.jpg")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _blocks_image(h=48, w=64, seed=0, block=8):
    """Random flat-colour blocks with a little noise: a segmentation with a few dozen segments."""
    rng = np.random.default_rng(seed)
    colours = rng.integers(0, 256, (h // block + 1, w // block + 1, 3))
    img = np.repeat(np.repeat(colours, block, 0), block, 1)[:h, :w]
    img = img + rng.integers(-6, 7, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _grid_labels(h, w, rows, cols):
    ys = np.minimum(np.arange(h) * rows // h, rows - 1)
    xs = np.minimum(np.arange(w) * cols // w, cols - 1)
    return (ys[:, None] * cols + xs[None, :]).astype(np.int64)


# -- similarities by hand -----------------------------------------------------------------------
def test_size_and_fill_on_two_rectangles():
    labels = np.zeros((10, 10), dtype=np.int64)
    labels[0:3, 0:2] = 1  # 2 wide x 3 high = 6 px, box (0, 0, 2, 3)
    labels[4:6, 4:6] = 2  # 2 x 2 = 4 px, box (4, 4, 6, 6)
    boxes = gr.segment_boxes(labels)
    sizes = np.bincount(labels.ravel())
    assert boxes[1].tolist() == [0, 0, 2, 3] and boxes[2].tolist() == [4, 4, 6, 6]
    assert sizes[1:].tolist() == [6, 4]
    assert gr.size_similarity(6, 4, 100) == pytest.approx(1 - 10 / 100)
    assert gr.union_box(boxes[1], boxes[2]).tolist() == [0, 0, 6, 6]  # BB = 36 px
    assert gr.fill_similarity(boxes[1], boxes[2], 6, 4, 100) == pytest.approx(1 - (36 - 6 - 4) / 100)
    assert gr.fill_similarity(boxes[1], boxes[2], 6, 4, 100) == pytest.approx(0.74)
    # two halves of a square fill their box completely
    assert gr.fill_similarity([0, 0, 5, 10], [5, 0, 10, 10], 50, 50, 100) == pytest.approx(1.0)


def test_histogram_intersection_and_cosine_by_hand():
    assert gr.histogram_intersection([0.5, 0.3, 0.2], [0.2, 0.2, 0.6]) == pytest.approx(0.6)
    assert gr.histogram_intersection([0.5, 0.5], [0.5, 0.5]) == pytest.approx(1.0)
    rows = gr.histogram_intersection(np.array([0.5, 0.5]), np.array([[1.0, 0.0], [0.25, 0.75]]))
    np.testing.assert_allclose(rows, [0.5, 0.75])
    assert gr.cosine_similarity([1, 0], [1, 1]) == pytest.approx(1 / math.sqrt(2))
    assert gr.cosine_similarity([0.8, 0.2], [0.2, 0.8]) == pytest.approx(0.32 / 0.68)
    assert gr.cosine_similarity([1, 0], [0, 1]) == pytest.approx(0.0)
    assert gr.cosine_similarity([0.3, 0.7], [0.3, 0.7]) == pytest.approx(1.0)
    assert gr.cosine_similarity([0, 0], [0.5, 0.5]) == 0.0
    np.testing.assert_allclose(gr.merge_histograms([1.0, 0.0], 3, [0.0, 1.0], 1), [0.75, 0.25])


def test_colour_histogram_bins_by_hand():
    img = np.zeros((1, 2, 3), dtype=np.float32)
    img[0, 0] = (0.0, 0.5, 1.0)  # bins 0, 12, 24
    img[0, 1] = (0.039, 0.04, 0.999)  # bins 0, 1, 24
    h = gr.colour_histograms(img, np.zeros((1, 2), dtype=np.int64))
    assert h.shape == (1, 75)
    expect = np.zeros(75)
    expect[[0, 25 + 12, 50 + 24]] += 1
    expect[[0, 25 + 1, 50 + 24]] += 1
    np.testing.assert_allclose(h[0], expect / 6)


# -- incremental descriptors == from scratch ----------------------------------------------------
@pytest.mark.parametrize("space", gr.COLOUR_SPACES)
def test_merged_histograms_equal_union_from_scratch(space):
    img01 = gr.convert_colour(_blocks_image(24, 30, seed=1), space)
    labels = _grid_labels(24, 30, 3, 4)
    n = 12
    sizes = np.bincount(labels.ravel(), minlength=n)
    union = np.where(np.isin(labels, [5, 6]), 0, 1)
    for fn in (gr.colour_histograms, gr.texture_histograms):
        h = fn(img01, labels, n)
        np.testing.assert_allclose(h.sum(1), 1.0)
        merged = gr.merge_histograms(h[5], sizes[5], h[6], sizes[6])
        np.testing.assert_allclose(merged, fn(img01, union, 2)[0], atol=1e-12)


def test_pooled_feature_incremental_equals_union_mask():
    rng = np.random.default_rng(0)
    fmap = torch.from_numpy(rng.normal(size=(4, 5, 7)))
    labels = rng.integers(0, 6, (23, 31))  # ragged segments on a map that does not divide the image
    sums, counts = gr.pool_segment_features(fmap, labels, 6)
    assert counts.tolist() == np.bincount(labels.ravel(), minlength=6).tolist()
    union = np.where(np.isin(labels, [1, 4]), 0, 1)
    us, uc = gr.pool_segment_features(fmap, union, 2)
    np.testing.assert_allclose((sums[1] + sums[4]) / (counts[1] + counts[4]), us[0] / uc[0], atol=1e-12)
    # a mask-weighted average computed directly: each pixel takes its cell's vector
    cells = gr.cell_index(labels.shape, (5, 7))
    f = fmap.numpy().reshape(4, -1)
    m = union == 0
    np.testing.assert_allclose(us[0] / uc[0], f[:, cells[m]].mean(1), atol=1e-12)
    # the whole image on a map that divides it evenly is global average pooling
    s, c = gr.pool_segment_features(fmap, np.zeros((10, 14), dtype=np.int64), 1)
    np.testing.assert_allclose(s[0] / c[0], fmap.numpy().mean((1, 2)), atol=1e-12)


# -- the hierarchy ------------------------------------------------------------------------------
def _check_hierarchy(r: gr.GroupingResult, W: int, H: int):
    n = r.n_initial
    assert len(r) == 2 * n - 1
    assert r.roots.tolist() == [len(r) - 1]
    assert r.boxes[-1].tolist() == [0, 0, W, H]
    assert r.pixels[-1] == r.labels.size
    b = r.boxes
    assert (b[:, 0] >= 0).all() and (b[:, 1] >= 0).all() and (b[:, 2] <= W).all() and (b[:, 3] <= H).all()
    assert (b[:, 2] > b[:, 0]).all() and (b[:, 3] > b[:, 1]).all()
    assert (r.level[:n] == 0).all() and (r.level[n:] >= 1).all()
    for k in range(n, len(r)):
        i, j = r.children[k]
        assert r.parent[i] == k and r.parent[j] == k
        assert r.pixels[k] == r.pixels[i] + r.pixels[j]
        assert r.level[k] == 1 + max(r.level[i], r.level[j])


def test_grouping_ends_in_the_whole_image():
    img = _blocks_image(48, 64)
    cfg = gr.GroupingConfig(sentiment=0, scale=50, min_size=10)
    r = gr.hierarchical_grouping(img, cfg)
    assert r.n_initial > 10
    _check_hierarchy(r, 64, 48)
    assert r.probs is None and r.scale == 1.0
    for i in (0, r.n_initial - 1, r.n_initial + 3, len(r) - 1):
        m = gr.region_mask(r, i)
        assert m.sum() == r.pixels[i]
        ys, xs = np.nonzero(m)
        assert r.boxes[i].tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    assert gr.region_mask(r, len(r) - 1).all()


def test_partition_at_each_merge_step():
    img = _blocks_image(48, 64)
    r = gr.hierarchical_grouping(img, gr.GroupingConfig(sentiment=0, scale=50, min_size=10))
    n, steps = r.n_initial, len(r) - r.n_initial
    np.testing.assert_array_equal(gr.partition_at(r, 0), r.labels)  # the initial segments
    assert (gr.partition_at(r, steps) == len(r) - 1).all()  # one region, the root
    for t in (1, steps // 2, steps - 1):
        p = gr.partition_at(r, t)
        assert len(np.unique(p)) == n - t  # every merge joins two regions into one
        k = n + t - 1  # the region made by the t-th merge covers exactly its mask
        np.testing.assert_array_equal(p == k, gr.region_mask(r, k))
    with pytest.raises(ValueError, match="n_merges"):
        gr.partition_at(r, steps + 1)


def test_grouping_downscaled_maps_boxes_back():
    img = _blocks_image(90, 123, seed=3)
    r = gr.hierarchical_grouping(img, gr.GroupingConfig(sentiment=0, scale=50, min_size=10, max_side=50))
    assert r.labels.shape[1] == 50 and r.scale < 1
    _check_hierarchy(r, 123, 90)
    np.testing.assert_allclose(r.pixel_area[-1], r.labels.size / r.scale ** 2)


def test_single_segment_image():
    r = gr.hierarchical_grouping(np.full((5, 7, 3), 90, np.uint8), gr.GroupingConfig(sentiment=0))
    assert len(r) == 1 and r.boxes[0].tolist() == [0, 0, 7, 5] and r.roots.tolist() == [0]


@pytest.mark.skipif(not PHOTO.is_file(), reason="Emotion6 not available")
def test_real_photo_hierarchy():
    im = Image.open(PHOTO).convert("RGB")
    r = gr.hierarchical_grouping(im, gr.GroupingConfig(sentiment=0))
    _check_hierarchy(r, *im.size)
    assert r.n_initial > 20


# -- filters ------------------------------------------------------------------------------------
def _hand_result(boxes, pixels, size=(600, 600)):
    n = len(boxes)
    return gr.GroupingResult(
        labels=np.zeros((size[1], size[0]), np.int32), boxes=np.asarray(boxes, np.float32),
        pixels=np.asarray(pixels, np.int64), level=np.zeros(n, np.int64), parent=np.full(n, -1),
        children=np.full((n, 2), -1), similarity=np.full(n, np.nan), excluded=np.zeros(n, bool),
        image_size=size)


def test_filters_exact_boundaries():
    r = _hand_result(
        [[0, 0, 500, 100], [0, 0, 501, 100], [0, 0, 100, 500], [0, 0, 100, 501],  # aspect 5 / 5.01
         [0, 0, 20, 20], [0, 0, 20, 20]],
        [1000, 1000, 1000, 1000, 199, 200])
    assert gr.filter_regions(r, gr.GroupingConfig()).tolist() == [0, 2, 5]
    assert gr.filter_regions(r, gr.GroupingConfig(max_aspect=None, min_pixels=None)).tolist() == list(range(6))
    assert gr.filter_regions(r, gr.GroupingConfig(max_aspect=5.01)).tolist() == [0, 1, 2, 3, 5]


def test_area_filter_uses_the_fusion_area():
    r = _hand_result([[0, 0, 300, 600], [0, 0, 301, 600], [0, 0, 600, 600]], [1000, 180000, 180001],
                     size=(600, 600))
    box = gr.GroupingConfig(max_area_frac=0.5)
    assert gr.filter_regions(r, box).tolist() == [0]  # box areas: 0.5, 0.5017, 1.0 of the image
    np.testing.assert_allclose(gr.region_areas(r, box), [180000, 180600, 360000])
    mask = replace(box, region_as="mask")
    assert gr.filter_regions(r, mask).tolist() == [0, 1]  # pixel counts: 1000, 180000, 180001
    np.testing.assert_allclose(gr.region_areas(r, mask), [1000, 180000, 180001])


def test_filter_before_merging_drops_initial_segments():
    labels = np.zeros((30, 30), dtype=np.int64)
    labels[15:, :14] = 1
    labels[:, 14] = 2  # a 1 x 30 stripe: aspect 30
    labels[:, 15:] = 3
    img = _blocks_image(30, 30)
    before = gr.GroupingConfig(sentiment=0, filter_stage="before", min_pixels=0)
    r = gr.hierarchical_grouping(img, before, initial_labels=labels)
    assert r.excluded[:4].tolist() == [False, False, True, False]
    # the stripe is never merged; 0 and 1 merge; 3 is cut off from them: a forest of two trees
    assert len(r) == 5 and r.children[4].tolist() == [0, 1]
    assert sorted(r.roots.tolist()) == [3, 4] and r.parent[2] == -1
    assert gr.filter_regions(r, before).tolist() == [0, 1, 3, 4]
    after = replace(before, filter_stage="after")
    ra = gr.hierarchical_grouping(img, after, initial_labels=labels)
    assert len(ra) == 7 and 2 not in gr.filter_regions(ra, after).tolist()


# -- the sentiment term -------------------------------------------------------------------------
class _Counting:
    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, *a):
        self.calls += 1
        return self.fn(*a)


def _toy_fns(fmap):
    features = _Counting(lambda img: fmap)
    head = _Counting(lambda f: (10 * f).softmax(-1))
    return SentimentFns(features, head)


def test_sentiment_changes_the_merge_order():
    # three stripes A | B | C: A and B share a colour, C differs; B and C share a sentiment, A not
    img = np.zeros((30, 30, 3), np.uint8)
    img[:, :20] = (200, 60, 60)
    img[:, 20:] = (60, 60, 200)
    labels = np.repeat(np.arange(3), 10)[None, :].repeat(30, 0)
    fmap = torch.zeros(2, 3, 3)
    fmap[0, :, 0] = 1.0  # A: positive
    fmap[1, :, 1:] = 1.0  # B, C: negative
    base = gr.GroupingConfig(colour_space="rgb", colour=1, texture=0, size=0, fill=0, sentiment=0)
    r0 = gr.hierarchical_grouping(img, base, initial_labels=labels)
    assert r0.children[3].tolist() == [0, 1]  # colour: s(A, B) = 1 > s(B, C) = 1/3
    fns = _toy_fns(fmap)
    r1 = gr.hierarchical_grouping(img, replace(base, sentiment=1.0), sentiment_fns=fns, initial_labels=labels)
    assert r1.children[3].tolist() == [1, 2]  # + sentiment: 1/3 + 1 > 1 + ~0
    assert r1.similarity[3] == pytest.approx(1 / 3 + 1, abs=1e-6)
    assert fns.features.calls == 1
    np.testing.assert_allclose(r1.probs[:3].argmax(1), [0, 1, 1])


def test_cnn_runs_once_per_image_not_per_pair(monkeypatch):
    h, w = 36, 36
    labels = _grid_labels(h, w, 6, 6)  # 36 segments, 60 adjacent pairs at the start
    rng = np.random.default_rng(0)
    fmap = torch.from_numpy(rng.normal(size=(3, 6, 6))).float()
    pairs = {"n": 0}
    cos = gr.cosine_similarity

    def counting_cos(p, q):
        pairs["n"] += np.atleast_2d(q).shape[0]
        return cos(p, q)

    monkeypatch.setattr(gr, "cosine_similarity", counting_cos)
    fns = _toy_fns(fmap)
    r = gr.hierarchical_grouping(_blocks_image(h, w, block=6), gr.GroupingConfig(), sentiment_fns=fns,
                                 initial_labels=labels)
    assert len(r) == 71
    assert fns.features.calls == 1
    assert fns.head.calls == 1 + 35 == r.params["head_calls"]  # the initial segments, then one per merge
    assert pairs["n"] > 2 * fns.head.calls  # many more pair similarities than head evaluations
    # every region's prediction is the head on its pooled feature
    np.testing.assert_allclose(r.probs, (10 * torch.from_numpy(r.features)).softmax(-1).numpy(), atol=1e-6)


def test_no_model_means_no_sentiment():
    img = _blocks_image(16, 16)
    with pytest.raises(ValueError, match="sentiment"):
        gr.hierarchical_grouping(img, gr.GroupingConfig())
    with pytest.raises(ValueError, match="sentiment"):
        gr.sentiment_regions(img, gr.GroupingConfig())
    out = gr.sentiment_regions(img, gr.GroupingConfig(sentiment=0, min_pixels=0))
    assert out.probs is None and len(out.boxes) == len(out.areas) > 0


# -- with a (tiny, random) model ------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    model = GlobalCNN(create_backbone("tiny", pretrained=False), 2, dropout=0.5)
    with torch.no_grad():
        model.classifier.weight.mul_(20)
    return model.eval()


def test_model_features_once_and_root_equals_whole_image(tiny_model):
    calls = []
    hook = tiny_model.backbone.trunk.register_forward_hook(lambda *a: calls.append(1))
    try:
        img = Image.fromarray(_blocks_image(64, 64, seed=2))  # tiny: 64 px input, 8 x 8 map, 8 x 8 px cells
        tiny_model.train()
        r = gr.hierarchical_grouping(img, gr.GroupingConfig(scale=50, min_size=10), tiny_model)
    finally:
        hook.remove()
    assert tiny_model.training  # the model's mode is restored
    tiny_model.eval()
    assert len(calls) == 1
    _check_hierarchy(r, 64, 64)
    whole = whole_image_probs(tiny_model, img, how="warp")
    torch.testing.assert_close(torch.from_numpy(r.probs[-1]), whole, atol=1e-5, rtol=0)
    assert not torch.allclose(whole, torch.full((2,), 0.5), atol=1e-3)


def test_folded_head_equals_the_pooling_head():
    torch.manual_seed(0)
    tiny = create_backbone("tiny", pretrained=False)
    info = BackboneInfo("tiny_fc", 32, 8, 16, 64, tiny.info.mean, tiny.info.std, "random")
    pooler = nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32 * 4, 16), nn.ReLU(), nn.Dropout(0.5))
    model = GlobalCNN(Backbone(info, tiny.trunk, pooler), 2).eval()
    v = torch.randn(5, 32)
    with torch.no_grad():
        torch.testing.assert_close(constant_map_head(model)(v), _head(model, v[:, :, None, None])[1])
    fns = model_sentiment_fns(model)
    p = fns.head(v)
    torch.testing.assert_close(p.sum(-1), torch.ones(5))


def _scored_blocks(model, region_as: str, method: str):
    """A blocks image grouped with ``model`` and its filtered regions scored as ``region_as``/``method``:
    (image, config, grouping result, sentiment regions, filtered indices)."""
    img = Image.fromarray(_blocks_image(40, 56, seed=4))
    cfg = gr.GroupingConfig(scale=50, min_size=10, min_pixels=30, region_as=region_as, score_method=method)
    res = gr.hierarchical_grouping(img, cfg, model, keep_predictions=True)
    return img, cfg, res, gr.sentiment_regions(img, cfg, model, result=res), gr.filter_regions(res, cfg)


@pytest.mark.parametrize("region_as,method", [("box", "crop"), ("box", "roialign"), ("mask", "crop"),
                                              ("mask", "pooled")])
def test_sentiment_regions_feed_the_fusion(tiny_model, region_as, method):
    img, cfg, res, out, idx = _scored_blocks(tiny_model, region_as, method)
    assert len(idx) > 0 and out.boxes.shape == (len(idx), 4) and out.probs.shape == (len(idx), 2)
    torch.testing.assert_close(out.probs.sum(-1), torch.ones(len(idx)), atol=1e-5, rtol=0)
    expect_area = res.box_area[idx] if region_as == "box" else res.pixels[idx].astype(float)
    np.testing.assert_allclose(out.areas.numpy(), expect_area)
    if method == "pooled":
        np.testing.assert_allclose(out.probs.numpy(), res.probs[idx])
    fused = area_weighted_fusion(whole_image_probs(tiny_model, img), out.probs, out.areas, 56 * 40)
    assert fused.used_regions == len(idx)


def test_masked_crop_of_the_whole_image_is_the_whole_image(tiny_model):
    img = Image.fromarray(_blocks_image(40, 56, seed=5))
    cfg = gr.GroupingConfig(sentiment=0, scale=50, min_size=10, min_pixels=None, max_aspect=None,
                            region_as="mask")
    res = gr.hierarchical_grouping(img, cfg)
    root = len(res) - 1
    p = score_masks_crop(tiny_model, img, res.labels, res.boxes[[root]], [res.leaves(root)], size=cfg.cnn_size)
    torch.testing.assert_close(p[0], whole_image_probs(tiny_model, img, how="warp"), atol=1e-6, rtol=0)


# -- parameters ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name,value", [
    ("scale", 0), ("sigma", -1), ("min_size", -1), ("min_size", 1.5), ("colour", -0.1), ("texture", "1"),
    ("sentiment", float("nan")), ("colour_space", "xyz"), ("max_aspect", 0.5), ("min_pixels", -1),
    ("max_area_frac", 0), ("filter_stage", "during"), ("region_as", "pixels"), ("score_method", "pooled"),
    ("cnn_size", 0), ("max_side", 2.5), ("batch_size", 0), ("drop_duplicates", 1), ("drop_root", "yes"),
])
def test_bad_parameters_name_themselves(name, value):
    with pytest.raises(ValueError, match=name):
        gr.GroupingConfig(**{name: value})


def test_all_weights_zero_is_rejected():
    with pytest.raises(ValueError, match="at least one similarity weight"):
        gr.GroupingConfig(colour=0, texture=0, size=0, fill=0, sentiment=0)


def test_initial_labels_must_match_the_image():
    with pytest.raises(ValueError, match="initial_labels"):
        gr.hierarchical_grouping(np.zeros((10, 10, 3), np.uint8), gr.GroupingConfig(sentiment=0),
                                 initial_labels=np.zeros((5, 5), np.int64))


# -- which regions enter Eq. 3: duplicates and the root -------------------------------------------
def _l_shape():
    """A 10 x 10 image of three segments: 0 an L (rows 0-1 and columns 0-1: 36 px, its box the whole image),
    1 (x 2-5, y 2-9: 32 px) of 0's colour, 2 (x 6-9, y 2-9: 32 px) of another. Colour alone merges 0 and 1
    first (region 3, 68 px), then the root 4: boxes 0, 3 and 4 all span the image."""
    labels = np.full((10, 10), 2, dtype=np.int64)
    labels[:, 2:6] = 1
    labels[:2, :] = 0
    labels[:, :2] = 0
    img = np.zeros((10, 10, 3), np.uint8)
    img[labels != 2] = (200, 40, 40)
    img[labels == 2] = (40, 40, 200)
    cfg = gr.GroupingConfig(colour_space="rgb", colour=1, texture=0, size=0, fill=0, sentiment=0,
                            max_aspect=None, min_pixels=None)
    return img, labels, cfg


def test_duplicate_full_image_boxes_and_the_root():
    img, labels, cfg = _l_shape()
    r = gr.hierarchical_grouping(img, cfg, initial_labels=labels)
    assert r.children[3].tolist() == [0, 1] and r.children[4].tolist() == [2, 3] and r.root == 4
    assert r.boxes.tolist() == [[0, 0, 10, 10], [2, 2, 6, 10], [6, 2, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]]
    assert r.pixels.tolist() == [36, 32, 32, 68, 100]
    # today's Eq. 3 inputs: all five, three of them the whole image at area weight 1
    assert gr.filter_regions(r, cfg).tolist() == [0, 1, 2, 3, 4]
    np.testing.assert_allclose(gr.region_areas(r, cfg)[gr.filter_regions(r, cfg)], [100, 32, 32, 100, 100])
    assert gr.filter_regions(r, replace(cfg, drop_duplicates=True)).tolist() == [0, 1, 2]  # 3, 4: 0's box again
    # the root only: 0 and 3 span the image too but are not the root
    assert gr.filter_regions(r, replace(cfg, drop_root=True)).tolist() == [0, 1, 2, 3]
    assert gr.filter_regions(r, replace(cfg, drop_root=True, drop_duplicates=True)).tolist() == [0, 1, 2]
    # as masks nothing repeats (every merge joins two disjoint sets): only the root goes
    dm = cfg.distinct_masks()
    assert (dm.region_as, dm.score_method, dm.drop_duplicates, dm.drop_root) == ("mask", cfg.score_method, True, True)
    pooled = replace(cfg, score_method="roialign").distinct_masks()  # the scoring family is kept
    assert (pooled.region_as, pooled.score_method) == ("mask", "pooled")
    assert gr.filter_regions(r, replace(cfg, region_as="mask", drop_duplicates=True)).tolist() == [0, 1, 2, 3, 4]
    out = gr.sentiment_regions(img, dm, result=r)
    assert out.areas.tolist() == [36, 32, 32, 68]  # area = pixel count
    assert out.boxes.tolist() == r.boxes[:4].tolist()


def test_dropping_regions_keeps_boxes_areas_probs_and_logits_aligned(tiny_model):
    img, labels, cfg = _l_shape()
    im = Image.fromarray(img)
    r = gr.hierarchical_grouping(img, cfg, initial_labels=labels)
    full = gr.sentiment_regions(im, cfg, tiny_model, result=r)
    assert len(full.probs) == len(full.logits) == 5
    for drop in (dict(drop_duplicates=True), dict(drop_root=True)):
        c = replace(cfg, **drop)
        idx = gr.filter_regions(r, c)
        out = gr.sentiment_regions(im, c, tiny_model, result=r)
        for name in ("boxes", "areas", "probs", "logits"):
            torch.testing.assert_close(getattr(out, name), getattr(full, name)[idx])
    # the distinct masks: the root dropped, areas = pixels, probs = softmax(logits)
    dm = gr.sentiment_regions(im, cfg.distinct_masks(), tiny_model, result=r)
    assert dm.areas.tolist() == [36, 32, 32, 68] and dm.probs.shape == dm.logits.shape == (4, 2)
    torch.testing.assert_close(dm.logits.softmax(-1), dm.probs)


def test_root_of_a_forest_and_of_a_tree_filtered_before():
    labels = np.zeros((30, 30), dtype=np.int64)
    labels[15:, :14] = 1
    labels[:, 14] = 2  # a 1 x 30 stripe: excluded, and it cuts 3 off from 0 and 1
    labels[:, 15:] = 3
    img = _blocks_image(30, 30)
    before = gr.GroupingConfig(sentiment=0, filter_stage="before", min_pixels=0)
    forest = gr.hierarchical_grouping(img, before, initial_labels=labels)
    assert forest.root is None  # region 4 = {0, 1} lacks segment 3
    assert gr.filter_regions(forest, replace(before, drop_root=True)).tolist() == [0, 1, 3, 4]
    labels[:, 15:] = 1  # now 0 and 1 hold every segment that was kept: their merge is the root
    tree = gr.hierarchical_grouping(img, before, initial_labels=labels)
    assert tree.excluded[:3].tolist() == [False, False, True] and tree.root == 3
    assert gr.filter_regions(tree, replace(before, drop_root=True)).tolist() == [0, 1]
    one = gr.hierarchical_grouping(np.full((5, 7, 3), 90, np.uint8), gr.GroupingConfig(sentiment=0))
    assert one.root == 0  # a single segment is its own root
    assert gr.filter_regions(one, gr.GroupingConfig(sentiment=0, min_pixels=0, drop_root=True)).tolist() == []


def test_new_flags_stay_out_of_the_record_params_when_off():
    base = gr.GroupingConfig()
    assert not {"drop_duplicates", "drop_root"} & set(base.record_params())
    assert set(base.record_params()) | {"drop_duplicates", "drop_root"} == set(asdict(base))
    p = base.distinct_masks().record_params()
    assert (p["drop_duplicates"], p["drop_root"], p["region_as"]) == (True, True, "mask")
    assert gr.GroupingConfig(drop_root=np.bool_(True)).drop_root is True


@pytest.mark.parametrize("region_as,method", [("box", "crop"), ("box", "roialign"), ("mask", "crop"),
                                              ("mask", "pooled")])
def test_logits_beside_probabilities(tiny_model, region_as, method):
    img, cfg, res, out, idx = _scored_blocks(tiny_model, region_as, method)
    assert out.logits.shape == out.probs.shape == (len(idx), 2)
    torch.testing.assert_close(out.logits.float().softmax(-1), out.probs, atol=1e-6, rtol=0)
    rgb = torch.from_numpy(np.array(img)).permute(2, 0, 1)
    # the probabilities are bit for bit those of the scoring functions used before logits were kept
    if region_as == "box":
        score = score_regions_crop if method == "crop" else score_regions_roialign
        kw = dict(batch_size=cfg.batch_size) if method == "crop" else {}
        assert torch.equal(out.probs, score(tiny_model, rgb, out.boxes, size=cfg.cnn_size, **kw))
    elif method == "crop":
        leaves = [res.leaves(i) for i in idx.tolist()]
        assert torch.equal(out.probs, score_masks_crop(tiny_model, rgb, res.labels, res.boxes[idx], leaves,
                                                       size=cfg.cnn_size, batch_size=cfg.batch_size))
    else:
        assert torch.equal(out.probs, torch.from_numpy(res.probs[idx]))


def test_pooled_scoring_with_other_sentiment_fns_has_no_logits(tiny_model):
    img = Image.fromarray(_blocks_image(40, 56, seed=4))
    cfg = gr.GroupingConfig(scale=50, min_size=10, min_pixels=30, region_as="mask", score_method="pooled")
    fns = model_sentiment_fns(tiny_model)
    out = gr.sentiment_regions(img, cfg, tiny_model, sentiment_fns=SentimentFns(fns.features, fns.head))
    assert out.probs is not None and out.logits is None
    assert gr.sentiment_regions(img, replace(cfg, sentiment=0), None).logits is None
