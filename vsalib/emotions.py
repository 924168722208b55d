"""Emotion knowledge shared by the papers: Mikels' eight emotions and their wheel.

(Constants first; helper functions follow.)

- ``MIKELS_WHEEL``, ``wheel_distance``, ``distance_matrix``: emotional distance = steps
  around Mikels' wheel (0..4; ``plus_one`` for the 1 + steps convention).
- ``emotion_distribution``: Rao et al. (MultiLevelRCNN) eq. 4, a label distribution
  from the dominant emotion and its probability p*.
- ``sentiment_graph_adjacency``, ``normalized_adjacency``: WSIDNet eq. 3 (sentiment
  graph) and the GCN propagation matrix of its eqs. 4-5; ``eq3_adjacency`` for any distance and
  ``centroid_graph`` for emotions off Mikels' wheel (Ekman's six: distances between class centroids).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

# Mikels' eight emotions in the usual *list* order (not the wheel order).
MIKELS_EMOTIONS: tuple[str, ...] = (
    "amusement", "awe", "contentment", "excitement",
    "anger", "disgust", "fear", "sadness",
)
POSITIVE_EMOTIONS = frozenset({"amusement", "awe", "contentment", "excitement"})
NEGATIVE_EMOTIONS = frozenset({"anger", "disgust", "fear", "sadness"})
# polarity: 1 = positive, 0 = negative (the binary label convention used everywhere in vsalib)
POLARITY: dict[str, int] = {e: int(e in POSITIVE_EMOTIONS) for e in MIKELS_EMOTIONS}
BINARY_CLASSES: tuple[str, str] = ("negative", "positive")

# Mikels' wheel, clockwise. Neither Rao et al. nor WSIDNet prints the wheel; this is
# the order used by public code: positive on one half, negative on the other, so the
# polarity changes between excitement|fear and anger|amusement.
MIKELS_WHEEL: tuple[str, ...] = (
    "amusement", "contentment", "awe", "excitement",
    "fear", "sadness", "disgust", "anger",
)
_WHEEL_POS: dict[str, int] = {e: i for i, e in enumerate(MIKELS_WHEEL)}


def _wheel_index(emotion: str) -> int:
    try:
        return _WHEEL_POS[emotion]
    except (KeyError, TypeError):
        raise ValueError(
            f"{emotion!r} is not one of Mikels' eight emotions: {', '.join(MIKELS_WHEEL)}"
        ) from None


def _check_order(order: Sequence[str]) -> tuple[str, ...]:
    order = tuple(order)
    if len(order) < 2:
        raise ValueError(f"order needs at least two emotions, got {order!r}")
    for e in order:
        _wheel_index(e)
    if len(set(order)) != len(order):
        raise ValueError(f"order repeats an emotion: {order!r}")
    return order


def wheel_distance(a: str, b: str, plus_one: bool = False) -> int:
    """Emotional distance of two emotions: steps around Mikels' wheel.

    ``min(|i - j|, 8 - |i - j|)`` with i, j the positions on ``MIKELS_WHEEL``: 0 for the
    same emotion, 1..4 otherwise. ``plus_one=True`` adds 1 for two different emotions
    (some works count 1 + steps, so neighbours are 2 apart); the same emotion stays 0.
    """
    i, j = _wheel_index(a), _wheel_index(b)
    steps = abs(i - j)
    steps = min(steps, len(MIKELS_WHEEL) - steps)
    if plus_one and steps > 0:
        steps += 1
    return steps


def distance_matrix(order: Sequence[str] = MIKELS_EMOTIONS, plus_one: bool = False) -> np.ndarray:
    """``D[i, j] = wheel_distance(order[i], order[j])`` as an int array (zero diagonal).

    Rows and columns follow ``order`` (default: the list order ``MIKELS_EMOTIONS``,
    which is *not* the wheel order).
    """
    order = _check_order(order)
    n = len(order)
    d = np.zeros((n, n), dtype=np.int64)
    for i in range(n):
        for j in range(n):
            d[i, j] = wheel_distance(order[i], order[j], plus_one=plus_one)
    return d


def _spread_weights(order: tuple[str, ...], plus_one: bool) -> np.ndarray:
    """``W[j, i] = (1/dis_ij) / sum_{k != j} 1/dis_kj`` for i != j and 0 for i == j."""
    d = distance_matrix(order, plus_one=plus_one).astype(np.float64)
    inv = np.zeros_like(d)
    off = ~np.eye(len(order), dtype=bool)
    inv[off] = 1.0 / d[off]
    return inv / inv.sum(axis=1, keepdims=True)


def _is_torch(x: Any) -> bool:
    return type(x).__module__.split(".")[0] == "torch"


def emotion_distribution(
    dominant: Any,
    p_star: Any,
    order: Sequence[str] = MIKELS_EMOTIONS,
    plus_one: bool = False,
):
    """Emotion distribution from a dominant emotion (Rao et al., MultiLevelRCNN, eq. 4).

    With dominant emotion j and its probability p* (the printed ``p_j``)::

        f(j) = p*
        f(i) = (1 / dis_ij) * (1 - p*) / sum_{k != j} (1 / dis_kj)      for i != j

    dis = ``wheel_distance`` (``plus_one`` as there). The i != j entries share 1 - p* in
    proportion to 1/dis, so the distribution sums to 1 and nearer emotions get more.

    dominant: an emotion name or an index into ``order``; or, for a batch, a sequence,
    numpy array or torch tensor of indices (or names) of shape (B,).
    p_star: a number in [0, 1], or one per image (shape (B,)).
    Returns an array of shape (len(order),) for one image, (B, len(order)) for a batch;
    a torch tensor (float32, on the input's device) when ``dominant`` or ``p_star`` is one.
    """
    order = _check_order(order)
    as_torch = _is_torch(dominant) or _is_torch(p_star)
    device = None
    if as_torch:
        device = (dominant if _is_torch(dominant) else p_star).device
        dominant = dominant.detach().cpu().numpy() if _is_torch(dominant) else dominant
        p_star = p_star.detach().cpu().numpy() if _is_torch(p_star) else p_star

    dom = np.asarray(dominant)
    single = dom.ndim == 0
    dom = dom.reshape(-1)
    if dom.dtype.kind in "US":
        pos = {e: i for i, e in enumerate(order)}
        missing = [str(e) for e in dom if str(e) not in pos]
        if missing:
            raise ValueError(f"dominant emotion(s) {missing} not in order {order}")
        idx = np.array([pos[str(e)] for e in dom], dtype=np.int64)
    elif dom.dtype.kind in "iu":
        idx = dom.astype(np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= len(order)):
            raise ValueError(f"dominant index out of range 0..{len(order) - 1}: {dom}")
    else:
        raise TypeError(f"dominant must be emotion names or integer indices, got dtype {dom.dtype}")

    p = np.asarray(p_star, dtype=np.float64).reshape(-1)
    if p.size == 1:
        p = np.full(idx.shape, p[0])
    elif p.shape != idx.shape:
        raise ValueError(f"p_star has {p.size} values for {idx.size} dominant labels")
    if np.any(~np.isfinite(p)) or np.any(p < 0) or np.any(p > 1):
        raise ValueError(f"p_star must lie in [0, 1], got {p_star!r}")

    w = _spread_weights(order, plus_one)
    f = (1.0 - p)[:, None] * w[idx]
    f[np.arange(idx.size), idx] = p
    out = f[0] if single else f
    if as_torch:
        import torch

        return torch.as_tensor(out, dtype=torch.float32, device=device)
    return out


def sentiment_graph_adjacency(order: Sequence[str] = MIKELS_EMOTIONS, plus_one: bool = False) -> np.ndarray:
    """Adjacency of the sentiment graph over Mikels' emotions (WSIDNet, eq. 3).

    Reading of eq. 3 (the "+ 1" stands outside the fraction)::

        A_ij = 1/dis_ij + 1   if S_i * S_j < 0   (opposite polarity)
        A_ij = 1/dis_ij       otherwise          (same polarity)
        A_ii = 0                                  (the "otherwise" branch has dis_ii = 0;
                                                   self-loops come from A~ = A + I)

    so opposite-polarity neighbours get the strongest edges (2.0 against at most 1.0).
    dis = ``wheel_distance`` (``plus_one`` as there). Symmetric, float64, rows/columns in
    ``order``.
    """
    order = _check_order(order)
    d = distance_matrix(order, plus_one=plus_one).astype(np.float64)
    return eq3_adjacency(d, [POLARITY[e] for e in order])


def eq3_adjacency(distances: Any, polarity: Sequence[int]) -> np.ndarray:
    """WSIDNet eq. 3 from any emotional distance: ``1/dis_ij + 1`` between opposite polarities,
    ``1/dis_ij`` otherwise, 0 on the diagonal. ``distances``: a symmetric C×C array, positive off the
    diagonal; ``polarity``: 1 (positive) or 0 (negative) per emotion, in the same order."""
    d = np.asarray(distances, dtype=np.float64)
    pol = np.asarray(polarity)
    if d.ndim != 2 or d.shape[0] != d.shape[1] or d.shape[0] != len(pol):
        raise ValueError(f"distances must be C×C with C = {len(pol)} polarities, got shape {d.shape}")
    off = ~np.eye(len(pol), dtype=bool)
    if np.any(d[off] <= 0):
        raise ValueError("distances between two different emotions must be positive")
    a = np.zeros_like(d)
    a[off] = 1.0 / d[off]
    a[pol[:, None] != pol[None, :]] += 1.0
    return a


def centroid_graph(features: Any, emotions: Sequence[str], order: Sequence[str], polarity: dict[str, int]):
    """Eq. 3 for emotions that are not on Mikels' wheel (Ekman's six, for EmotionROI / Emotion6): the
    distance between two emotions is the Euclidean distance between the mean ``features`` (e.g. valence,
    arousal) of their images. Pass the training split's images only. Returns ``(A, distances, centroids)``."""
    x = np.asarray(features, dtype=np.float64)
    emotions = np.asarray(list(emotions))
    if x.ndim != 2 or len(x) != len(emotions):
        raise ValueError(f"features must be (images, d) with one emotion per image; got {x.shape} and "
                         f"{len(emotions)} emotions")
    missing = [e for e in order if not (emotions == e).any()]
    if missing:
        raise ValueError(f"no image of {missing} to place on the graph (pass a split that holds every emotion)")
    centroids = np.stack([x[emotions == e].mean(axis=0) for e in order])
    dist = np.sqrt(((centroids[:, None, :] - centroids[None, :, :]) ** 2).sum(-1))
    return eq3_adjacency(dist, [polarity[e] for e in order]), dist, centroids


def normalized_adjacency(a: Any, add_self_loops: bool = True):
    """GCN propagation matrix ``D~^-1/2 A~ D~^-1/2`` with ``A~ = A + I`` (WSIDNet eqs. 4-5).

    ``D~_ii = sum_j A~_ij``. ``add_self_loops=False`` uses A as given. Accepts a numpy
    array (returns float64) or a torch tensor (returns a tensor of its dtype and device).
    Raises if a node's degree is not positive.
    """
    if _is_torch(a):
        import torch

        if a.ndim != 2 or a.shape[0] != a.shape[1]:
            raise ValueError(f"adjacency must be square, got shape {tuple(a.shape)}")
        at = a + torch.eye(a.shape[0], dtype=a.dtype, device=a.device) if add_self_loops else a
        deg = at.sum(dim=1)
        if bool((deg <= 0).any()):
            raise ValueError("every node needs a positive degree (sum of its row of A~)")
        s = deg.rsqrt()
        return s[:, None] * at * s[None, :]
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"adjacency must be square, got shape {arr.shape}")
    at = arr + np.eye(arr.shape[0]) if add_self_loops else arr
    deg = at.sum(axis=1)
    if np.any(deg <= 0):
        raise ValueError("every node needs a positive degree (sum of its row of A~)")
    s = 1.0 / np.sqrt(deg)
    return s[:, None] * at * s[None, :]
