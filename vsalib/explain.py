"""Grad-CAM maps (Selvaraju et al., ICCV 2017) through the ``grad-cam`` package.

``gradcam(model, x, target_layer)`` returns one map in [0, 1] per image, at the input's size, for
the predicted class (or ``classes``). ``overlay`` blends a map onto its image for display.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def gradcam(model: nn.Module, x: torch.Tensor, target_layer: nn.Module,
            classes: list[int] | None = None) -> np.ndarray:
    """Grad-CAM maps ``(B, H, W)`` in [0, 1] for a batch of preprocessed images ``x``."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model.eval()
    targets = None if classes is None else [ClassifierOutputTarget(int(c)) for c in classes]
    with GradCAM(model=model, target_layers=[target_layer]) as cam:
        return cam(input_tensor=x, targets=targets)


def overlay(image01: np.ndarray, cam: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """An RGB image in [0, 1] (H, W, 3) with a jet-coloured map blended on top."""
    from pytorch_grad_cam.utils.image import show_cam_on_image

    return show_cam_on_image(image01.astype(np.float32), cam, use_rgb=True, image_weight=1 - alpha)


def denormalize(x: torch.Tensor, mean, std) -> np.ndarray:
    """Undo a Normalize transform: (3, H, W) tensor → (H, W, 3) array in [0, 1]."""
    m = torch.tensor(mean).view(3, 1, 1)
    s = torch.tensor(std).view(3, 1, 1)
    return (x.detach().cpu() * s + m).clamp(0, 1).permute(1, 2, 0).numpy()
