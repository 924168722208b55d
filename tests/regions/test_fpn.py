"""The emotional-region proposer: the pyramid's levels and strides, one anchor size per level, a training
step with torchvision's named losses, and regions with p_emo in eval mode."""

import math

import pytest
import torch

from vsalib.backbones import create_backbone
from vsalib.regions.fpn import MultiLevelFeatures, emotional_region_detector


@pytest.fixture(scope="module")
def backbone():
    return create_backbone("efficientnet_lite0")


def test_levels_are_p2_to_p5_at_strides_4_to_32(backbone):
    feats = MultiLevelFeatures(backbone).eval()
    with torch.no_grad():
        out = feats(torch.randn(1, 3, 128, 128))
    assert list(out) == ["0", "1", "2", "3"]  # P2..P5, no P6
    assert [tuple(v.shape[-2:]) for v in out.values()] == [(32, 32), (16, 16), (8, 8), (4, 4)]
    assert all(v.shape[1] == 256 for v in out.values())
    with pytest.raises(ValueError, match="no multi-level layout"):
        MultiLevelFeatures(create_backbone("tiny", pretrained=False))


def test_one_anchor_size_per_level(backbone):
    model = emotional_region_detector(backbone)
    gen = model.rpn.anchor_generator
    assert gen.sizes == ((32,), (64,), (128,), (256,)) and gen.aspect_ratios == ((1.0,),) * 4
    assert gen.num_anchors_per_location() == [1, 1, 1, 1]
    # the RPN's matcher is the paper's rule: >= 0.7 positive, < 0.3 negative, the best anchor of each region rescued
    m = model.rpn.proposal_matcher
    assert (m.high_threshold, m.low_threshold, m.allow_low_quality_matches) == (0.7, 0.3, True)
    with pytest.raises(ValueError, match="4 sizes"):
        emotional_region_detector(backbone, anchor_sizes=(32, 64))


def test_a_training_step_and_regions_with_p_emo(backbone):
    torch.manual_seed(0)
    model = emotional_region_detector(backbone, min_size=128, max_size=128)
    images = [torch.rand(3, 128, 128), torch.rand(3, 128, 128)]
    targets = [{"boxes": torch.tensor([[20.0, 30.0, 70.0, 90.0]]), "labels": torch.tensor([1])},
               {"boxes": torch.tensor([[60.0, 10.0, 120.0, 60.0]]), "labels": torch.tensor([1])}]
    model.train()
    losses = model(images, targets)
    assert set(losses) == {"loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg"}
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    assert model.backbone.fpn.inner_blocks[0][0].weight.grad is not None  # the pyramid learns
    model.eval()
    with torch.no_grad():
        (det,) = model(images[:1])
    assert det["boxes"].shape[1] == 4 and len(det["scores"]) == len(det["boxes"]) <= 100
    assert ((det["scores"] >= 0) & (det["scores"] <= 1)).all() and (det["labels"] == 1).all()


def test_region_features_score_any_boxes(backbone):
    from vsalib.regions.fpn import region_features

    torch.manual_seed(0)
    model = emotional_region_detector(backbone, min_size=128, max_size=128).train()
    images = [torch.rand(3, 96, 128), torch.rand(3, 128, 128)]
    boxes = [torch.tensor([[0.0, 0.0, 64.0, 48.0], [10.0, 10.0, 120.0, 90.0]]), torch.tensor([[5.0, 5.0, 60.0, 60.0]])]
    feats, p_emo = region_features(model, images, boxes)
    assert [f.shape for f in feats] == [(2, 1024), (1, 1024)] and [len(p) for p in p_emo] == [2, 1]
    assert all(((p >= 0) & (p <= 1)).all() for p in p_emo)
    assert model.training  # its mode is given back
    again, _ = region_features(model, images, boxes)  # eval mode inside: no dropout, no batch statistics
    assert all(torch.equal(a, f) for a, f in zip(again, feats))


def test_box_recall_by_hand():
    from vsalib.regions.fpn import box_recall

    truth = [torch.tensor([[0.0, 0.0, 10.0, 10.0]]), torch.tensor([[0.0, 0.0, 10.0, 10.0], [50.0, 50.0, 60.0, 60.0]])]
    found = [torch.tensor([[0.0, 0.0, 10.0, 8.0], [30.0, 30.0, 40.0, 40.0]]),  # IoU 0.8: found
             torch.tensor([[100.0, 100.0, 110.0, 110.0], [50.0, 50.0, 60.0, 60.0]])]  # the second true box only
    assert box_recall(found, truth) == pytest.approx(2 / 3)
    assert box_recall(found, truth, top=1) == pytest.approx(1 / 3)  # the second image's first box misses
    assert box_recall(found, truth, iou=0.9) == pytest.approx(1 / 3)


def test_the_proposer_trains_on_the_synthetic_true_boxes(backbone, tmp_path):
    import numpy as np

    from vsalib.data import load_dataset, open_image
    from vsalib.regions.fpn import box_recall, train_detector

    ds = load_dataset("synthetic", n_images=8, size=96, cache_dir=str(tmp_path))
    to = lambda p: torch.from_numpy(np.asarray(open_image(p), dtype=np.float32) / 255).permute(2, 0, 1)  # noqa: E731
    images = [to(p) for p in ds.paths]
    boxes = [torch.tensor(b[None]) for b in ds.table[["x0", "y0", "x1", "y1"]].to_numpy(dtype=np.float32)]
    torch.manual_seed(0)
    model = emotional_region_detector(backbone, min_size=96, max_size=96)
    history = train_detector(model, images, boxes, epochs=2, batch_size=4, progress=False)
    assert len(history) == 2 and set(history[0]) >= {"loss_objectness", "loss_classifier"}
    assert all(np.isfinite(v) for h in history for k, v in h.items() if k != "epoch")
    assert not model.training
    with torch.no_grad():
        found = [d["boxes"] for d in model(images)]
    assert 0.0 <= box_recall(found, boxes) <= 1.0


def test_a_killed_proposer_training_resumes_where_it_stopped(backbone, tmp_path):
    import copy

    from vsalib.regions.fpn import train_detector, training_seconds

    images = [torch.rand(3, 64, 64) for _ in range(4)]
    boxes = [torch.tensor([[8.0, 8.0, 40.0, 40.0]])] * 4
    kw = dict(min_size=64, max_size=64, fpn_channels=8, representation=16, rpn_pre_nms=50, rpn_post_nms=20,
              rois_per_image=16, frozen_stages=len(backbone.trunk))

    def fresh():
        torch.manual_seed(0)
        return emotional_region_detector(copy.deepcopy(backbone), **kw)

    whole = train_detector(fresh(), images, boxes, epochs=2, batch_size=2, seed=1, progress=False)

    class DiesInEpochTwo(list):  # the images, until the run is killed halfway through its second epoch
        reads = 0

        def __getitem__(self, i):
            DiesInEpochTwo.reads += 1
            if DiesInEpochTwo.reads > len(self) + 1:
                raise KeyboardInterrupt
            return super().__getitem__(i)

    ckpt = tmp_path / "proposer.pt"
    with pytest.raises(KeyboardInterrupt):
        train_detector(fresh(), DiesInEpochTwo(images), boxes, epochs=2, batch_size=2, seed=1, checkpoint_path=ckpt,
                       progress=False)
    assert ckpt.exists()  # epoch 1 was saved
    resumed_model = fresh()
    resumed = train_detector(resumed_model, images, boxes, epochs=2, batch_size=2, seed=1, checkpoint_path=ckpt,
                             progress=False)
    assert not ckpt.exists()  # removed once training is over
    assert [h["epoch"] for h in resumed] == [0, 1]
    losses = lambda h: {k: v for k, v in h.items() if k != "seconds"}  # noqa: E731
    assert losses(resumed[1]) == pytest.approx(losses(whole[1]), rel=1e-5)  # the same second epoch as an unbroken run
    # each epoch keeps what it took, the one run before the stop too: the whole training's time survives a resume
    assert all(h["seconds"] > 0 for h in resumed) and training_seconds(resumed) == pytest.approx(
        resumed[0]["seconds"] + resumed[1]["seconds"])
    assert training_seconds([{"epoch": 0}], fallback=7.0) == 7.0 and math.isnan(training_seconds([]))


def test_the_cost_knobs_reach_the_model(backbone):
    import copy

    model = emotional_region_detector(copy.deepcopy(backbone), fpn_channels=32, representation=64, rpn_pre_nms=300,
                                      rpn_post_nms=100, rois_per_image=64, frozen_stages=12)
    assert model.backbone.out_channels == 32 and model.roi_heads.box_head.fc7.out_features == 64
    assert model.rpn._pre_nms_top_n == {"training": 300, "testing": 150}
    assert model.roi_heads.fg_bg_sampler.batch_size_per_image == 64
    trunk = model.backbone.body
    frozen = [all(not p.requires_grad for p in m.parameters()) for m in list(trunk.children())[:12]]
    assert all(frozen) and any(p.requires_grad for p in list(trunk.children())[12].parameters())
    with pytest.raises(ValueError, match="fpn_channels must be >= 1"):
        emotional_region_detector(copy.deepcopy(backbone), fpn_channels=0)
    with pytest.raises(ValueError, match="frozen_stages"):
        emotional_region_detector(copy.deepcopy(backbone), frozen_stages=99)


def test_anchors_scale_with_the_image_as_the_papers_did(backbone):
    """The paper's proposer saw 800-px images with anchors of 32..256 px; at 224 px the same share of the image
    is 32·224/800 = 8.96 → 9, then 17.92 → 18, 35.84 → 36, 71.68 → 72 (worked by hand)."""
    from vsalib.methods.multilevel_rcnn import MultiLevelConfig
    from vsalib.regions.anchors import anchor_sizes

    assert anchor_sizes("fixed", 224) == (32, 64, 128, 256)
    assert anchor_sizes("image", 224) == (9, 18, 36, 72)
    assert anchor_sizes("image", 800) == (32, 64, 128, 256)
    assert anchor_sizes("image", 64) == (4, 5, 10, 20)  # 2.56 floored at P2's stride, 5.12, 10.24, 20.48
    with pytest.raises(ValueError, match="anchors='pixels' is not valid; valid: fixed, image"):
        anchor_sizes("pixels", 224)
    model = emotional_region_detector(backbone, anchor_sizes=anchor_sizes("image", 224))
    assert model.rpn.anchor_generator.sizes == ((9,), (18,), (36,), (72,))
    # the reading enters the proposer's key only where it is not the default: the published runs keep theirs
    assert "anchors" not in MultiLevelConfig().proposer_params() and "anchors" not in MultiLevelConfig().params()
    assert MultiLevelConfig(anchors="image").proposer_params()["anchors"] == "image"
    with pytest.raises(ValueError, match="anchors="):
        MultiLevelConfig(anchors="pixels")
