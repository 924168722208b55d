import math

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.ops import roi_align

from vsalib.backbones import create_backbone
from vsalib.methods.global_cnn import GlobalCNN
from vsalib.regions import scoring as sc


pytestmark = pytest.mark.usefixtures("one_thread")


# -- Senti score (Eq. 1) ------------------------------------------------------------------------
def test_senti_half_half_by_base():
    p = torch.tensor([[0.5, 0.5]])
    assert sc.senti_score(p, log_base=2)[0].item() == pytest.approx(0.0, abs=1e-7)
    assert sc.senti_score(p, log_base=math.e)[0].item() == pytest.approx(1 - math.log(2), abs=1e-7)


def test_senti_certain_is_exactly_one():
    s = sc.senti_score(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    assert not torch.isnan(s).any()
    assert s.tolist() == [1.0, 1.0]
    assert sc.senti_score(torch.tensor([1.0, 0.0]), log_base=math.e).item() == 1.0


def test_senti_hand_computed():
    p = torch.tensor([[0.8, 0.2]], dtype=torch.float64)
    by_hand_2 = 1 + 0.8 * math.log2(0.8) + 0.2 * math.log2(0.2)  # 0.27807...
    by_hand_e = 1 + 0.8 * math.log(0.8) + 0.2 * math.log(0.2)  # 0.49960...
    assert sc.senti_score(p)[0].item() == pytest.approx(by_hand_2, abs=1e-12)
    assert sc.senti_score(p, log_base=math.e)[0].item() == pytest.approx(by_hand_e, abs=1e-12)
    assert by_hand_2 == pytest.approx(0.2780719051, abs=1e-9)


def test_senti_rejects_logits_and_bad_base():
    with pytest.raises(ValueError, match="logits"):
        sc.senti_score(torch.tensor([[2.0, -1.0]]))
    with pytest.raises(ValueError, match="log_base"):
        sc.senti_score(torch.tensor([[0.5, 0.5]]), log_base=1)


# -- AR (Eq. 2), top-K, TMM 2018 preset -------------------------------------------------------------
def test_affective_rank_hand_computed():
    assert sc.affective_rank([0.6], [0.8], alpha=1.0)[0].item() == pytest.approx(1.0)
    assert sc.affective_rank([0.6], [0.8], alpha=0.0)[0].item() == pytest.approx(0.6)
    assert sc.affective_rank([0.6], [0.8], alpha=4.0)[0].item() == pytest.approx(math.sqrt(0.36 + 4 * 0.64))


def test_affective_rank_modes_rank_correctly():
    obj = torch.tensor([0.9, 0.1, 0.5])
    senti = torch.tensor([0.1, 0.9, 0.6])
    assert sc.top_k(sc.affective_rank(obj, senti, mode="obj"), 3).tolist() == [0, 2, 1]
    assert sc.top_k(sc.affective_rank(obj, senti, mode="senti"), 3).tolist() == [1, 2, 0]
    # AR: sqrt(.82), sqrt(.82), sqrt(.61) → tie between 0 and 1 broken by index
    assert sc.top_k(sc.affective_rank(obj, senti, mode="obj+senti"), 3).tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="mode"):
        sc.affective_rank(obj, senti, mode="both")
    with pytest.raises(ValueError, match="Senti >= 0"):
        sc.affective_rank(obj, torch.tensor([-0.1, 0.2, 0.3]))


def test_top_k_keff_and_ties():
    s = torch.tensor([0.3, 0.7, 0.3, 0.9])
    assert sc.top_k(s, 2).tolist() == [3, 1]
    assert sc.top_k(s, 10).tolist() == [3, 1, 0, 2]  # K_eff = N = 4, tie 0 before 2
    assert sc.top_k(s, None).tolist() == [3, 1, 0, 2]
    assert sc.top_k(s, 0).tolist() == []
    assert sc.top_k(torch.zeros(0), 5).tolist() == []
    assert sc.top_k(torch.ones(5), 3).tolist() == [0, 1, 2]


def test_minmax_and_normalize():
    assert sc.minmax([1.0, 3.0, 2.0]).tolist() == [0.0, 1.0, 0.5]
    assert sc.minmax([2.0, 2.0]).tolist() == [0.0, 0.0]  # constant → zeros (documented)
    assert sc.minmax([5.0]).tolist() == [0.0]
    assert sc.minmax(torch.zeros(0)).numel() == 0
    assert sc.normalize([1.0, 4.0], "max").tolist() == [0.25, 1.0]
    assert sc.normalize([0.0, 0.0], "max").tolist() == [0.0, 0.0]


def test_ar_linear_hand_computed():
    obj = torch.tensor([0.2, 0.6, 1.0])  # minmax → 0, .5, 1
    senti = torch.tensor([0.5, 0.3, 0.4])  # minmax → 1, 0, .5
    ar = sc.ar_linear(obj, senti)
    np.testing.assert_allclose(ar.numpy(), [0.4 * 1 + 0.6 * 0, 0.4 * 0 + 0.6 * 0.5, 0.4 * 0.5 + 0.6 * 1], atol=1e-6)
    raw = sc.ar_linear(obj, senti, w_obj=0.6, normalize_scores=False)
    np.testing.assert_allclose(raw.numpy(), 0.4 * senti.numpy() + 0.6 * obj.numpy(), atol=1e-6)


def test_select_affective_regions():
    obj = torch.tensor([10.0, 1.0, 5.0])  # "max" normalisation → 1, .1, .5
    senti = torch.tensor([0.0, 1.0, 0.9])
    idx = sc.select_affective_regions(obj, senti, 2, obj_norm="max")
    assert idx.tolist() == [2, 1]  # AR: 1.0, 1.005, 1.03


# -- scoring with a classifier ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    model = GlobalCNN(create_backbone("tiny", pretrained=False), 2, dropout=0.5)
    with torch.no_grad():  # non-trivial BN statistics and a classifier that separates something
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
        model.classifier.weight.mul_(20)
    return model.eval()


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (48, 96, 3), dtype=np.uint8))  # W=96, H=48


def test_crop_of_full_image_equals_whole_image_warp(tiny_model, image):
    p_crop = sc.score_regions_crop(tiny_model, image, [[0, 0, 96, 48], [0, 0, 96, 48]])
    p_whole = sc.whole_image_probs(tiny_model, image, how="warp")
    assert p_crop.shape == (2, 2)
    torch.testing.assert_close(p_crop[0], p_whole, atol=1e-6, rtol=0)
    torch.testing.assert_close(p_crop[1], p_whole, atol=1e-6, rtol=0)
    assert not torch.allclose(p_whole, torch.full((2,), 0.5), atol=1e-3)  # the test is not vacuous


def test_roialign_full_box_equals_whole_image_forward(tiny_model, image):
    # size 64 divisible by stride 8: the full box maps onto the 8x8 grid, one sample per cell centre
    p_roi = sc.score_regions_roialign(tiny_model, image, [[0, 0, 96, 48]], size=64)
    p_whole = sc.whole_image_probs(tiny_model, image, size=64)
    torch.testing.assert_close(p_roi[0], p_whole, atol=1e-6, rtol=0)
    p_crop = sc.score_regions(tiny_model, image, [[0, 0, 96, 48]], method="crop", size=64)
    torch.testing.assert_close(p_roi, p_crop, atol=1e-6, rtol=0)


def test_roialign_box_coordinates_on_the_grid(tiny_model, image):
    # left-top quarter of the 96x48 image = [0, 32) x [0, 32) of the 64x64 warp = cells [0, 4) x [0, 4)
    feats = sc.region_features_roialign(tiny_model, image, [[0, 0, 48, 24]], size=64, output_size=4)
    x = tiny_model.backbone.normalize(sc._warp(sc._image_tensor(image, "cpu"), 64)[None])
    with torch.no_grad():
        fmap = tiny_model.feature_map(x)
    torch.testing.assert_close(feats[0], fmap[0, :, :4, :4].mean((1, 2)), atol=1e-6, rtol=0)


def test_roialign_masked_surroundings_by_hand(tiny_model, image, monkeypatch):
    """The diagnostic: each box pooled from the map of its own copy of the image, every pixel outside the box at
    the mean colour (0 once normalised)."""
    whole = [[0, 0, 96, 48]]  # nothing lies outside the whole image: the same as the shared map
    torch.testing.assert_close(sc.score_regions_roialign(tiny_model, image, whole, size=64, mask_surroundings=True),
                               sc.score_regions_roialign(tiny_model, image, whole, size=64), atol=1e-6, rtol=0)
    # [0, 42) x [0, 21) of the 96x48 image is [0, 28) x [0, 28) of the 64 px warp: pixel centres 0.5 .. 27.5 kept,
    # so the mask cuts the stride-8 map's fourth cell in half (a box on cell edges would not show the tiny trunk's
    # small receptive field any context)
    box = [[0, 0, 42, 21]]
    feats = sc.region_features_roialign(tiny_model, image, box, size=64, output_size=4, mask_surroundings=True)
    x = tiny_model.backbone.normalize(sc._warp(sc._image_tensor(image, "cpu"), 64)[None])
    keep = torch.zeros(1, 1, 64, 64)
    keep[..., :28, :28] = 1
    roi = torch.tensor([[0.0, 0, 0, 28, 28]])
    with torch.no_grad():
        by_hand = sc._head(tiny_model, roi_align(tiny_model.feature_map(x * keep), roi, output_size=4,
                                                 spatial_scale=1 / 8, sampling_ratio=-1, aligned=True))[0]
    torch.testing.assert_close(feats, by_hand, atol=1e-6, rtol=0)
    shared = sc.region_features_roialign(tiny_model, image, box, size=64, output_size=4)
    assert not torch.allclose(feats, shared, atol=1e-4)  # the surroundings counted in the shared map
    # each box sees only its own copy: the same scores whether the boxes share a pass or not
    boxes = [[0, 0, 48, 24], [10, 5, 90, 40], [50, 20, 96, 48]]
    together = sc.score_regions_roialign(tiny_model, image, boxes, size=64, mask_surroundings=True)
    monkeypatch.setattr(sc, "MASKED_BATCH", 1)
    torch.testing.assert_close(sc.score_regions_roialign(tiny_model, image, boxes, size=64, mask_surroundings=True),
                               together, atol=1e-6, rtol=0)


def test_crop_context_equals_grown_box(tiny_model, image):
    a = sc.score_regions_crop(tiny_model, image, [[20, 10, 40, 30]], context=5)
    b = sc.score_regions_crop(tiny_model, image, [[15, 5, 45, 35]])
    torch.testing.assert_close(a, b)
    c = sc.score_regions_crop(tiny_model, image, [[40, 20, 50, 30]], context=100)  # clipped to the image
    torch.testing.assert_close(c, sc.whole_image_probs(tiny_model, image)[None], atol=1e-6, rtol=0)


def test_probs_valid_features_consistent_and_batching(tiny_model, image):
    boxes = torch.tensor([[0, 0, 50, 40], [10.5, 3.2, 90.1, 47.9], [60, 20, 61, 21], [-5, -5, 200, 100],
                          [30, 30, 30, 30]])
    for method in sc.METHODS:
        out = sc.region_outputs(tiny_model, image, boxes, method)
        assert out.probs.shape == (5, 2) and out.features.shape == (5, 32) and out.logits.shape == (5, 2)
        assert torch.isfinite(out.probs).all() and (out.probs >= 0).all()
        torch.testing.assert_close(out.probs.sum(1), torch.ones(5))
        torch.testing.assert_close(out.logits, tiny_model.classifier(out.features), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(sc.region_features(tiny_model, image, boxes, method), out.features)
    small = sc.score_regions_crop(tiny_model, image, boxes, batch_size=2)
    torch.testing.assert_close(small, sc.score_regions_crop(tiny_model, image, boxes), atol=1e-6, rtol=0)
    # the device's default batch (CROP_BATCH, channels-last) gives what one contiguous pass over every crop gives
    crops = [sc._warp(sc._image_tensor(image, "cpu")[:, 0:40, 0:50], 64)]
    x = sc._normalize(tiny_model, torch.stack(crops))
    with torch.no_grad():
        one = tiny_model.classifier(tiny_model.backbone.pool(tiny_model.feature_map(x))).softmax(-1)
    torch.testing.assert_close(sc.score_regions_crop(tiny_model, image, [[0, 0, 50, 40]], size=64), one,
                               atol=1e-6, rtol=0)
    assert sc._crop_batch(None, "cpu") == sc.CROP_BATCH["cpu"] and sc._crop_batch(None, "cuda") == sc.CROP_BATCH["cuda"]
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        sc.score_regions_crop(tiny_model, image, boxes, batch_size=0)


def test_zero_boxes_skip_the_cnn(tiny_model, image):
    calls = []
    h = tiny_model.backbone.register_forward_hook(lambda *a: calls.append(1))
    try:
        for method in sc.METHODS:
            assert sc.score_regions(tiny_model, image, np.zeros((0, 4)), method=method).shape == (0, 2)
            assert sc.score_regions(tiny_model, image, [], method=method).shape == (0, 2)
            assert sc.region_features(tiny_model, image, [], method=method).shape == (0, 32)
    finally:
        h.remove()
    assert calls == []


def test_unknown_method_bad_boxes_and_start(tiny_model, image):
    with pytest.raises(ValueError, match="unknown region scoring method 'rcnn'.*crop, roialign"):
        sc.score_regions(tiny_model, image, [[0, 0, 5, 5]], method="rcnn")
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        sc.score_regions(tiny_model, image, [[0, 0, 5]])
    staged = GlobalCNN(create_backbone("tiny", pretrained=False), 2, start=1)
    with pytest.raises(ValueError, match="start=1"):
        sc.score_regions_crop(staged, image, [[0, 0, 5, 5]])


def test_eval_mode_during_scoring_and_restored(image):
    torch.manual_seed(1)
    model = GlobalCNN(create_backbone("tiny", pretrained=False), 3, dropout=0.9).train()
    a = sc.score_regions_roialign(model, image, [[0, 0, 40, 40]] * 3)
    assert model.training  # previous mode restored
    torch.testing.assert_close(a[0], a[1])  # dropout inactive: identical boxes agree
    b = sc.score_regions_roialign(model.eval(), image, [[0, 0, 40, 40]])
    torch.testing.assert_close(a[:1], b)
    assert a.shape == (3, 3)


def test_device_follows_model(tiny_model, image):
    p = sc.score_regions_crop(tiny_model, image, [[0, 0, 8, 8]])
    assert p.device == next(tiny_model.parameters()).device
    assert sc.score_regions_roialign(tiny_model, image, [[0, 0, 8, 8]], device="cpu").device.type == "cpu"
    with pytest.raises(ValueError, match="model is on cpu"):
        sc.score_regions_crop(tiny_model, image, [[0, 0, 8, 8]], device="meta")
    if torch.cuda.is_available():  # pragma: no cover - GPU machines only
        import copy

        gpu = copy.deepcopy(tiny_model).cuda()
        for method in sc.METHODS:
            assert sc.score_regions(gpu, image, [[0, 0, 8, 8]], method=method).device.type == "cuda"


def test_tensor_and_path_images(tiny_model, image, tmp_path):
    t = torch.from_numpy(np.array(image)).permute(2, 0, 1)
    path = tmp_path / "im.png"
    image.save(path)
    ref = sc.score_regions_crop(tiny_model, image, [[5, 5, 30, 30]])
    torch.testing.assert_close(sc.score_regions_crop(tiny_model, t, [[5, 5, 30, 30]]), ref)
    torch.testing.assert_close(sc.score_regions_crop(tiny_model, t.float() / 255, [[5, 5, 30, 30]]), ref)
    torch.testing.assert_close(sc.score_regions_crop(tiny_model, path, [[5, 5, 30, 30]]), ref)
    assert sc.whole_image_probs(tiny_model, path, how="center").shape == (2,)


def test_efficientnet_lite0_both_methods():
    torch.manual_seed(0)
    model = GlobalCNN(create_backbone("efficientnet_lite0"), 2).eval()
    rng = np.random.default_rng(1)
    img = Image.fromarray(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8))
    boxes = [[0, 0, 96, 96], [10, 10, 60, 70], [40, 5, 95, 50], [0, 50, 30, 96], [20.5, 20.5, 80.2, 90.9]]
    for method, kw in (("crop", {"size": 96}), ("roialign", {})):
        out = sc.region_outputs(model, img, boxes, method, **kw)
        assert out.probs.shape == (5, 2) and out.features.shape == (5, 1280)
        assert torch.isfinite(out.probs).all()
        torch.testing.assert_close(out.probs.sum(1), torch.ones(5))


def test_shared_map_at_fast_rcnn_scale(tiny_model, image):
    assert sc.shared_map_size(48, 96, 600) == (500, 1000)  # the longer side capped at 1000
    assert sc.shared_map_size(375, 500, 600) == (600, 800)
    with pytest.raises(ValueError, match="shorter_side"):
        sc.shared_map_size(10, 10, 0)
    # the 96x48 image at shorter side 64 is 128x64 (aspect kept): its left-top quarter [0, 48) x [0, 24) is
    # [0, 64) x [0, 32) of the resized image = cells [0, 8) x [0, 4) of the stride-8 map (one sample per cell
    # centre at output 4 x 8; by default it is pooled to the 8 x 8 a whole 64 px image gives, the head's shape)
    feats = sc.region_features_roialign(tiny_model, image, [[0, 0, 48, 24]], size=64, shorter_side=64,
                                        output_size=(4, 8))
    x = torch.nn.functional.interpolate(sc._image_tensor(image, "cpu")[None], size=(64, 128), mode="bilinear",
                                        align_corners=False, antialias=True)
    with torch.no_grad():
        fmap = tiny_model.feature_map(tiny_model.backbone.normalize(x))
    assert fmap.shape[-2:] == (8, 16)
    torch.testing.assert_close(feats[0], fmap[0, :, :4, :8].mean((1, 2)), atol=1e-5, rtol=0)
    p = sc.score_regions_roialign(tiny_model, image, [[0, 0, 48, 24], [10, 5, 90, 40]], size=64, shorter_side=64)
    assert p.shape == (2, 2) and torch.allclose(p.sum(1), torch.ones(2))
