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


def test_grad_cam_imports():
    from pytorch_grad_cam import GradCAM  # noqa: F401


def test_environment_yml_mirrors_requirements():
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[1]
    reqs = [line.strip() for line in (root / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    env = yaml.safe_load((root / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert [p for p in pip if p != "-e ."] == reqs
