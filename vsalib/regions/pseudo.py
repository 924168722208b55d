"""Pseudo emotional regions: the stand-in for EmotionROI's human emotion-stimuli boxes (which we do not have).

MultiLevelRCNN trains its proposer on boxes cut from EmotionROI's annotated stimuli maps. Ours come from a
class-activation map of a sentiment model trained on the fold's training images only: the map, scaled to
[0, 1], is thresholded, each connected component above the threshold becomes a box (:func:`cam_boxes`).
Every table that uses them names them as such; a user with the real stimuli maps runs the faithful version.
"""

from __future__ import annotations

import numpy as np
import torch


def cam_boxes(cam: np.ndarray, threshold: float = 0.5, min_area: float = 0.01, image_size: tuple[int, int] | None = None,
              max_boxes: int | None = None) -> torch.Tensor:
    """Boxes (N, 4; x0, y0 inclusive, x1, y1 exclusive) of the connected regions of ``cam`` (H, W) at or above
    ``threshold`` × its maximum, largest first; components smaller than ``min_area`` of the map are dropped.
    ``image_size`` (width, height): scale the boxes from the map's grid to the image."""
    from scipy import ndimage

    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must lie in (0, 1], got {threshold}")
    cam = np.asarray(cam, dtype=np.float64)
    if cam.ndim != 2:
        raise ValueError(f"a map must be 2-d (H, W), got shape {cam.shape}")
    top = cam.max()
    if not np.isfinite(top) or top <= 0:
        return torch.zeros(0, 4)
    labels, n = ndimage.label(cam >= threshold * top)
    h, w = cam.shape
    boxes, areas = [], []
    for i, sl in enumerate(ndimage.find_objects(labels), start=1):
        area = int((labels[sl] == i).sum())
        if area < min_area * h * w:
            continue
        ys, xs = sl
        boxes.append([xs.start, ys.start, xs.stop, ys.stop])
        areas.append(area)
    if not boxes:
        return torch.zeros(0, 4)
    order = np.argsort(-np.asarray(areas), kind="stable")[:max_boxes]
    out = torch.tensor(np.asarray(boxes, dtype=np.float32)[order])
    if image_size is not None:
        out *= torch.tensor([image_size[0] / w, image_size[1] / h] * 2, dtype=torch.float32)
    return out


__all__ = ["cam_boxes"]
