"""p_obj from the backbone's frozen ImageNet classifier, per region."""

import pytest
import torch

from vsalib.backbones import WeightsUnavailableError, create_backbone, imagenet_classifier
from vsalib.regions.objects import ObjectClassifier, imagenet_class_names


def test_p_obj_is_a_probability_per_box_from_a_frozen_classifier():
    clf = ObjectClassifier(create_backbone("efficientnet_lite0"))
    assert not any(p.requires_grad for p in clf.parameters())
    clf.train()
    assert not clf.training  # frozen, batch statistics included
    torch.manual_seed(0)
    image = torch.rand(3, 96, 128)
    boxes = torch.tensor([[0.0, 0.0, 128.0, 96.0], [10.0, 10.0, 60.0, 50.0]])
    p, cls = clf(image, boxes)
    assert p.shape == (2,) and ((p > 0) & (p <= 1)).all() and ((cls >= 0) & (cls < 1000)).all()
    assert torch.equal(clf(image, boxes)[0], p)  # deterministic
    assert clf(image, torch.zeros(0, 4))[0].shape == (0,)
    assert len(imagenet_class_names()) == 1000


def test_a_backbone_without_an_imagenet_classifier_says_so():
    with pytest.raises(WeightsUnavailableError, match="no ImageNet classifier"):
        imagenet_classifier("tiny")
    fc = imagenet_classifier("efficientnet_lite0")
    assert fc.in_features == 1280 and fc.out_features == 1000
