"""p_obj: how likely a region holds an object, from a frozen object classifier (MultiLevelRCNN's stand-in).

MultiLevelRCNN keeps the COCO object classifier of its Faster R-CNN frozen and reads p_obj, the probability that
a region contains an object, from it (Rao et al., Sec. 4.1). COCO detection weights cannot be had offline; the
nearest frozen object classifier we have is the backbone's own ImageNet classifier. :class:`ObjectClassifier`
applies it to each region as Fast R-CNN applies a classifier to a box: the image's last feature map, RoI-aligned
to the box (7 × 7), pooled as the backbone pools a whole image, through the ImageNet layer; p_obj is the
largest of the 1000 class probabilities. It is trained on nothing of ours (no label can leak through it).
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torchvision.ops import roi_align

from vsalib.backbones import Backbone, imagenet_classifier


class ObjectClassifier(nn.Module):
    """``p_obj`` (and the ImageNet class) of boxes in an image: a frozen copy of ``backbone`` with its
    ImageNet classifier."""

    def __init__(self, backbone: Backbone, output_size: int = 7):
        super().__init__()
        self.backbone = copy.deepcopy(backbone).eval()
        self.fc = imagenet_classifier(backbone.name)
        self.output_size = output_size
        for p in self.parameters():
            p.requires_grad_(False)

    def train(self, mode: bool = True):  # always frozen, batch statistics included
        return super().train(False)

    @torch.no_grad()
    def forward(self, image01: torch.Tensor, boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``image01`` (3, H, W) in [0, 1], ``boxes`` (N, 4) in its pixels → ``(p_obj (N,), ImageNet class (N,))``."""
        if not len(boxes):
            return torch.zeros(0), torch.zeros(0, dtype=torch.long)
        fmap = self.backbone(self.backbone.normalize(image01[None].float()))
        scale = fmap.shape[-1] / image01.shape[-1]
        rois = roi_align(fmap, [boxes.float()], output_size=self.output_size, spatial_scale=scale, sampling_ratio=2,
                         aligned=True)
        probs = self.fc(self.backbone.pool(rois)).softmax(dim=1)
        p, cls = probs.max(dim=1)
        return p, cls


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet class names (torchvision's list; no download)."""
    from torchvision.models import ResNet50_Weights

    return list(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


__all__ = ["ObjectClassifier", "imagenet_class_names"]
