"""The environment the README's commands set up: matched torch/torchvision, OpenCV contrib."""

import torch


def test_opencv_contrib_ximgproc_imports():
    import cv2

    assert hasattr(cv2, "ximgproc"), "cv2.ximgproc missing: opencv-contrib-python-headless must be installed last"
    eb = cv2.ximgproc.createEdgeBoxes()
    assert eb is not None


def test_torchvision_ops_load_against_torch():
    from torchvision.ops import roi_align

    feats = torch.arange(16.0).view(1, 1, 4, 4)
    out = roi_align(feats, [torch.tensor([[0.0, 0.0, 4.0, 4.0]])], output_size=1, aligned=True)
    assert out.item() == torch.tensor(7.5).item()


def test_grad_cam_imports_and_maps_a_class():
    """pytorch-grad-cam is installed and works here: a 1 × 1 convolution copies the red and green channels, class 0
    is the mean of the red map and class 1 of the green one; on an image red in its top-left quarter and green in
    its bottom-right one, each class's map is image-sized, in [0, 1], and peaks on its own colour."""
    import numpy as np
    import torch
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 2, 1, bias=False)
            with torch.no_grad():
                self.conv.weight.copy_(torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).reshape(2, 3, 1, 1))

        def forward(self, x):
            return torch.relu(self.conv(x)).mean((2, 3))

    net = Net().eval()
    image = torch.zeros(1, 3, 16, 16)
    image[0, 0, :8, :8] = 1.0  # red, top left
    image[0, 1, 8:, 8:] = 1.0  # green, bottom right
    with GradCAM(model=net, target_layers=[net.conv]) as cam:
        maps = [cam(input_tensor=image, targets=[ClassifierOutputTarget(c)])[0] for c in (0, 1)]
    for heat, (top, left) in zip(maps, ((0, 0), (8, 8))):
        assert heat.shape == (16, 16) and heat.min() >= 0 and heat.max() <= 1
        quarter = heat[top:top + 8, left:left + 8]
        assert quarter.mean() > 0.9 and heat.sum() - quarter.sum() < 1e-3 * heat.sum()


def test_environment_yml_mirrors_requirements():
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[1]
    reqs = [line.strip() for line in (root / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    env = yaml.safe_load((root / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert [p for p in pip if p != "-e ."] == reqs
