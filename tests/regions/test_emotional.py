"""MultiLevelRCNN's region pieces by hand: anchor labels under the paper's IoU rules, Eq. 3, top-K with
padding and a mask."""

import pytest
import torch

from vsalib.regions.emotional import IGNORED, NEGATIVE, POSITIVE, label_anchors, s_emo, top_regions


def test_anchor_labels_follow_the_three_iou_rules():
    gt = torch.tensor([[0.0, 0.0, 10.0, 10.0], [40.0, 40.0, 50.0, 50.0]])
    anchors = torch.tensor([
        [0.0, 0.0, 10.0, 10.0],    # IoU 1 with the first region: positive
        [0.0, 0.0, 10.0, 5.0],     # IoU 0.5: between 0.3 and 0.7, and not the best for any region: ignored
        [20.0, 20.0, 30.0, 30.0],  # IoU 0 with both: negative
        [40.0, 40.0, 45.0, 50.0],  # IoU 0.5 with the second region, its highest: rescued, positive
        [40.0, 40.0, 42.0, 50.0],  # IoU 0.2: below 0.3 with all: negative
    ])
    assert label_anchors(anchors, gt).tolist() == [POSITIVE, IGNORED, NEGATIVE, POSITIVE, NEGATIVE]
    # without the second region, the rescued anchor has IoU 0 with everything: negative
    assert label_anchors(anchors, gt[:1])[3].item() == NEGATIVE
    assert label_anchors(anchors, torch.zeros(0, 4)).tolist() == [NEGATIVE] * 5
    # a region that meets no anchor at all rescues none of them
    far = torch.tensor([[100.0, 100.0, 110.0, 110.0]])
    assert label_anchors(anchors[2:3], far).tolist() == [NEGATIVE]


def test_s_emo_orders_otherwise_than_p_emo():
    p_emo, p_obj = torch.tensor([0.6, 0.5]), torch.tensor([0.1, 0.6])
    s = s_emo(p_emo, p_obj)
    assert s.tolist() == pytest.approx([(0.36 + 0.01) ** 0.5, (0.25 + 0.36) ** 0.5])
    assert torch.argsort(p_emo, descending=True).tolist() == [0, 1]
    assert torch.argsort(s, descending=True).tolist() == [1, 0]  # the object probability lifts region 1


def test_top_regions_pad_with_the_whole_image_and_mask():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 10.0, 10.0], [20.0, 20.0, 40.0, 40.0]])
    scores = torch.tensor([0.9, 0.8, 0.5])
    out, sc, mask = top_regions(boxes, scores, (64, 48), k=4, nms_iou=0.5)
    # the second box overlaps the first with IoU 0.81: NMS drops it; two real regions, two padded slots
    assert mask.tolist() == [True, True, False, False]
    assert out[0].tolist() == [0, 0, 10, 10] and out[1].tolist() == [20, 20, 40, 40]
    assert out[2].tolist() == [0, 0, 64, 48] and sc.tolist() == pytest.approx([0.9, 0.5, 0.0, 0.0])
    out, _, mask = top_regions(boxes, scores, (64, 48), k=2, nms_iou=None)  # no NMS: the two best
    assert mask.all() and out[1].tolist() == [1, 1, 10, 10]
    with pytest.raises(ValueError, match="k must be"):
        top_regions(boxes, scores, (64, 48), k=0)
