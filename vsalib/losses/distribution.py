"""MultiLevelRCNN's losses (Rao et al.): the label-distribution loss and the two ways it uses p*.

- :func:`distribution_loss`: ``L_ed = -Σ_i f(i) log p_i`` (Eq. 8), the cross-entropy of the predicted
  distribution against a target distribution f (Eq. 4, :func:`vsalib.emotions.emotion_distribution`). The
  paper calls it "KL"; KL(f ‖ p) differs from it by the entropy of f, a constant, so both have one gradient.
- :func:`multi_loss`: ``L_multi = (1 − λ) L_cls + λ L_ed`` (Eqs. 6–8), λ = 0.4 in the paper.
- :func:`p_scaled_loss`: ``L_p = −Σ_i y_i log softmax(p*² · a)_i`` (Eq. 10). The printed equation scales the
  probabilities p_i; softmax of numbers in [0, 1] is close to uniform, so we scale the logits a and keep
  the printed reading as ``on="probabilities"``. ``on="approximation"`` is the paper's own rewriting (Eq. 11,
  under its assumption p* Σ exp(p*² p_i) ≈ (Σ exp p_i)^p*): ``p*² · L_cls + ln(1/p*²)``, a cross-entropy weighted
  by p*² (the added term has no gradient; p* is floored at :data:`P_STAR_FLOOR` so that p* = 0 stays finite).

Every loss is a batch mean and differentiable through autograd (Eq. 9's printed gradient has sign errors).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

P_SCALED_ON = ("logits", "probabilities", "approximation")
P_STAR_FLOOR = 1e-6  # Eq. 11's ln(1/p*²) at p* = 0 (9 EmotionROI images under the count reading)


def polarity_distribution(y: torch.Tensor, p_star: torch.Tensor, n_classes: int = 2) -> torch.Tensor:
    """Eq. 4 with two classes (the binary protocol): the label gets p*, the other class 1 − p* (its only
    neighbour, at distance 1). (B,) labels and p* → (B, 2) rows that sum to 1."""
    if n_classes != 2:
        raise ValueError("the polarity distribution has two classes; use vsalib.emotions.emotion_distribution for "
                         "Mikels' eight")
    p = torch.as_tensor(p_star, dtype=torch.float32).reshape(-1)
    if ((p < 0) | (p > 1)).any():
        raise ValueError(f"p* must lie in [0, 1], got {p.tolist()}")
    f = (1 - p)[:, None].repeat(1, 2)
    f[torch.arange(len(p)), torch.as_tensor(y).reshape(-1)] = p
    return f


def label_distribution(y, p_star, classes, plus_one: bool = False) -> torch.Tensor:
    """Eq. 4 for a dataset's classes: (B,) labels (indices into ``classes``) and p* → (B, C) rows that sum to 1.

    Two classes: :func:`polarity_distribution`; Mikels' eight (any order): the wheel's distances
    (:func:`vsalib.emotions.emotion_distribution`, ``plus_one`` as there); any other classes (Ekman's six) have
    no wheel, so every other class is at distance 1 and gets an equal share of 1 − p*."""
    from vsalib.emotions import MIKELS_EMOTIONS, emotion_distribution

    classes = list(classes)
    y = torch.as_tensor(y).reshape(-1).long()
    p = torch.as_tensor(p_star, dtype=torch.float32).reshape(-1)
    if p.numel() == 1:
        p = p.repeat(len(y))
    if len(classes) == 2:
        return polarity_distribution(y, p)
    if sorted(classes) == sorted(MIKELS_EMOTIONS):
        return emotion_distribution(y, p, order=classes, plus_one=plus_one)
    if ((p < 0) | (p > 1)).any():
        raise ValueError(f"p* must lie in [0, 1], got {p.tolist()}")
    f = ((1 - p) / (len(classes) - 1))[:, None].repeat(1, len(classes))
    f[torch.arange(len(y)), y] = p
    return f


def distribution_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Eq. 8: ``-Σ_i f(i) log softmax(logits)_i``, averaged over the batch. ``target`` (B, C): rows of f."""
    if logits.shape != target.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and target distributions {tuple(target.shape)} differ in shape")
    return -(target * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


def multi_loss(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor, lam: float = 0.4) -> torch.Tensor:
    """Eq. 6: ``(1 − λ) L_cls + λ L_ed``; λ = 0 is cross-entropy alone, λ = 1 the distribution loss alone."""
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must lie in [0, 1], got {lam}")
    return (1 - lam) * F.cross_entropy(logits, y) + lam * distribution_loss(logits, target)


def p_scaled_loss(logits: torch.Tensor, y: torch.Tensor, p_star: torch.Tensor, on: str = "logits") -> torch.Tensor:
    """Eq. 10: the cross-entropy of ``softmax(p*² · a)``, with a the logits (``on="logits"``, our reading) or the
    printed class probabilities (``on="probabilities"``); or Eq. 11's printed approximation
    (``on="approximation"``): the batch mean of ``p*² · CE(a, y) + ln(1/p*²)``. ``p_star`` (B,): each image's
    label probability."""
    if on not in P_SCALED_ON:
        raise ValueError(f"on={on!r} is not valid; valid: {', '.join(P_SCALED_ON)}")
    p2 = torch.as_tensor(p_star, dtype=logits.dtype, device=logits.device).reshape(-1) ** 2
    if on == "approximation":  # Eq. 11
        p2 = p2.clamp_min(P_STAR_FLOOR ** 2)
        return (p2 * F.cross_entropy(logits, y, reduction="none") - torch.log(p2)).mean()
    a = logits if on == "logits" else logits.softmax(dim=1)
    return F.cross_entropy(p2.reshape(-1, 1) * a, y)


__all__ = ["P_SCALED_ON", "P_STAR_FLOOR", "distribution_loss", "label_distribution", "multi_loss", "p_scaled_loss", "polarity_distribution"]
