"""MultiLevelRCNN's emotional regions (Rao et al.): which anchors train the proposal network, how a region
is scored, and the K regions an image keeps.

- :func:`label_anchors`: the paper's rule — an anchor is positive if it has the highest IoU with some
  ground-truth emotional region or an IoU above 0.7 with any, negative if its IoU is below 0.3 with all,
  ignored otherwise — through torchvision's detection ``Matcher`` (``allow_low_quality_matches`` is the
  "highest IoU" rescue). torchvision's test is IoU ≥ 0.7 where the text says > 0.7: equal only on a tie.
- :func:`s_emo`: ``S_emo = sqrt(p_emo² + p_obj²)`` (Eq. 3), the emotional and the object probability.
- :func:`top_regions`: NMS, then the K best by S_emo (K = 10; NMS and what to do with fewer are not said:
  ``nms_iou`` is a parameter, and an image with fewer regions is padded with its whole-image box and a
  mask that says which slots are real).
"""

from __future__ import annotations

import torch
from torchvision.models.detection._utils import Matcher
from torchvision.ops import box_iou, nms

POSITIVE, NEGATIVE, IGNORED = 1, 0, -1


def label_anchors(anchors: torch.Tensor, gt_boxes: torch.Tensor, high: float = 0.7, low: float = 0.3) -> torch.Tensor:
    """Per anchor (N, 4; x0, y0, x1, y1): 1 (positive), 0 (negative) or -1 (ignored) against the image's
    ground-truth emotional regions (M, 4). Without a region every anchor is negative."""
    if not len(gt_boxes):
        return torch.zeros(len(anchors), dtype=torch.long)
    iou = box_iou(gt_boxes.float(), anchors.float())
    matched = Matcher(high, low, allow_low_quality_matches=True)(iou)
    out = torch.full((len(anchors),), IGNORED, dtype=torch.long)
    out[matched >= 0] = POSITIVE
    out[matched == Matcher.BELOW_LOW_THRESHOLD] = NEGATIVE
    out[iou.amax(dim=0) == 0] = NEGATIVE  # a region that meets no anchor rescues none (torchvision would take all)
    return out


def s_emo(p_emo: torch.Tensor, p_obj: torch.Tensor) -> torch.Tensor:
    """Eq. 3: ``sqrt(p_emo² + p_obj²)`` per region."""
    return torch.sqrt(p_emo ** 2 + p_obj ** 2)


def top_regions(boxes: torch.Tensor, scores: torch.Tensor, image_size: tuple[int, int], k: int = 10,
                nms_iou: float | None = 0.5) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(boxes (k, 4), scores (k,), mask (k,))``: the ``k`` best regions by ``scores`` after NMS at ``nms_iou``
    (None: no NMS), best first; slots beyond the regions there are hold the whole image (``image_size`` =
    width, height) with score 0 and ``mask`` False, so that a classifier on K slots can ignore them."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    keep = nms(boxes.float(), scores.float(), nms_iou) if nms_iou is not None and len(boxes) else \
        torch.argsort(scores, descending=True)
    keep = keep[:k]
    n = len(keep)
    w, h = image_size
    out_boxes = torch.tensor([[0.0, 0.0, float(w), float(h)]]).repeat(k, 1)
    out_scores = torch.zeros(k)
    out_boxes[:n], out_scores[:n] = boxes[keep].float(), scores[keep].float()
    mask = torch.arange(k) < n
    return out_boxes, out_scores, mask


__all__ = ["IGNORED", "NEGATIVE", "POSITIVE", "label_anchors", "s_emo", "top_regions"]
