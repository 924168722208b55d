"""MultiLevelRCNN (Rao, Li, Zhang, Xu: *Multi-level region-based convolutional neural network for image
emotion classification*, Neurocomputing 2019), as vsalib builds it piece by piece (issue 14).

The pieces so far, each tested by hand:

1. the emotional-region proposer on a feature pyramid (:mod:`vsalib.regions.fpn`), its anchors labelled by
   the paper's IoU rule (:func:`vsalib.regions.emotional.label_anchors`), trained on pseudo emotional
   regions from class-activation maps (:func:`vsalib.regions.pseudo.cam_boxes`) where EmotionROI's stimuli
   boxes are not available;
2. ``S_emo`` (Eq. 3) and the top-K regions, padded and masked (:mod:`vsalib.regions.emotional`);
3. the classifier on ``X = [X_global, X_local_1..K]`` (Eq. 5): :class:`MultiLevelHead` here;
4. the losses ``L_cls``, ``L_multi`` and ``L_p`` (Eqs. 6–10, :mod:`vsalib.losses.distribution`) with p* per
   image (:func:`vsalib.data.confidence.label_confidence`) and Eq. 4's distribution (Mikels' eight:
   :func:`vsalib.emotions.emotion_distribution`; two classes: :func:`vsalib.losses.polarity_distribution`);
5. the region controls, a grid and random boxes (:mod:`vsalib.regions.controls`), and the proposer's
   training and recall of true boxes (:func:`vsalib.regions.fpn.train_detector`, :func:`~vsalib.regions.fpn.box_recall`).

The method on the fold runner, its card and its chapter follow.
"""

from __future__ import annotations

import torch
from torch import nn


class MultiLevelHead(nn.Module):
    """Eq. 5 and the layers after it: ``X = [X_global, X_local_1..K]`` → fully connected → ReLU → dropout →
    fully connected → class logits. Region slots whose ``mask`` is False (an image with fewer than K regions)
    are zeroed, so what is padded there never reaches the prediction. ``use_global`` / ``use_local`` give
    Table 1's rows: the whole image only, the regions only, or both."""

    def __init__(self, global_dim: int, local_dim: int, k: int = 10, hidden: int = 512, n_classes: int = 2,
                 use_global: bool = True, use_local: bool = True, dropout: float = 0.5):
        super().__init__()
        if not (use_global or use_local):
            raise ValueError("the classifier needs the global feature, the regions' features, or both")
        if k < 1 or hidden < 1:
            raise ValueError(f"k and hidden must be >= 1, got {k}, {hidden}")
        self.k, self.use_global, self.use_local = k, use_global, use_local
        in_dim = (global_dim if use_global else 0) + (k * local_dim if use_local else 0)
        self.fc1, self.fc2 = nn.Linear(in_dim, hidden), nn.Linear(hidden, n_classes)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x_global: torch.Tensor, x_local: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``x_global`` (B, Dg), ``x_local`` (B, K, Dl), ``mask`` (B, K) → logits (B, n_classes)."""
        parts = []
        if self.use_global:
            parts.append(x_global)
        if self.use_local:
            if x_local.shape[1] != self.k or mask.shape != x_local.shape[:2]:
                raise ValueError(f"expected {self.k} region slots and a mask of shape {tuple(x_local.shape[:2])}, "
                                 f"got features {tuple(x_local.shape)} and mask {tuple(mask.shape)}")
            parts.append((x_local * mask[..., None].to(x_local.dtype)).flatten(1))
        return self.fc2(self.dropout(torch.relu(self.fc1(torch.cat(parts, dim=1)))))


__all__ = ["MultiLevelHead"]
