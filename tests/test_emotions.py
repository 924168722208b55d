"""Mikels' wheel, Rao et al. eq. 4 and WSIDNet eq. 3, checked against hand-worked numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vsalib.emotions import (
    BINARY_CLASSES,
    MIKELS_EMOTIONS,
    MIKELS_WHEEL,
    NEGATIVE_EMOTIONS,
    POLARITY,
    POSITIVE_EMOTIONS,
    distance_matrix,
    emotion_distribution,
    normalized_adjacency,
    sentiment_graph_adjacency,
    wheel_distance,
)


def test_existing_constants_unchanged():
    assert MIKELS_EMOTIONS == (
        "amusement", "awe", "contentment", "excitement", "anger", "disgust", "fear", "sadness",
    )
    assert POSITIVE_EMOTIONS == {"amusement", "awe", "contentment", "excitement"}
    assert NEGATIVE_EMOTIONS == {"anger", "disgust", "fear", "sadness"}
    assert POLARITY["awe"] == 1 and POLARITY["fear"] == 0
    assert BINARY_CLASSES == ("negative", "positive")


def test_wheel_is_a_permutation_with_two_polarity_changes():
    assert sorted(MIKELS_WHEEL) == sorted(MIKELS_EMOTIONS)
    pol = [POLARITY[e] for e in MIKELS_WHEEL]
    changes = sum(pol[i] != pol[(i + 1) % 8] for i in range(8))
    assert changes == 2  # excitement|fear and anger|amusement


@pytest.mark.parametrize(
    "a,b,steps",
    [
        ("amusement", "amusement", 0),
        ("amusement", "contentment", 1),
        ("amusement", "anger", 1),  # wraps around
        ("amusement", "awe", 2),
        ("amusement", "excitement", 3),
        ("amusement", "fear", 4),  # opposite side
        ("excitement", "fear", 1),
        ("awe", "sadness", 3),
        ("contentment", "disgust", 3),
    ],
)
def test_wheel_distance(a, b, steps):
    assert wheel_distance(a, b) == steps
    assert wheel_distance(b, a) == steps
    assert wheel_distance(a, b, plus_one=True) == (steps + 1 if steps else 0)


def test_wheel_distance_unknown_emotion():
    with pytest.raises(ValueError, match="Mikels"):
        wheel_distance("joy", "amusement")


def test_distance_matrix():
    d = distance_matrix()
    assert d.shape == (8, 8)
    assert (d == d.T).all() and (np.diag(d) == 0).all()
    assert d.max() == 4
    off = d[~np.eye(8, dtype=bool)]
    assert off.min() == 1
    # each emotion: two at 1, two at 2, two at 3, one at 4
    for row in d:
        assert sorted(row.tolist()) == [0, 1, 1, 2, 2, 3, 3, 4]
    i, j = MIKELS_EMOTIONS.index("amusement"), MIKELS_EMOTIONS.index("anger")
    assert d[i, j] == 1
    dw = distance_matrix(MIKELS_WHEEL)
    assert dw[0].tolist() == [0, 1, 2, 3, 4, 3, 2, 1]
    assert (distance_matrix(plus_one=True) == np.where(d > 0, d + 1, 0)).all()


def test_emotion_distribution_by_hand_amusement_p06():
    # dominant amusement, p* = 0.6, list order
    # (amusement, awe, contentment, excitement, anger, disgust, fear, sadness)
    # distances from amusement: -, 2, 1, 3, 1, 2, 4, 3
    # sum of 1/d = 1/2 + 1 + 1/3 + 1 + 1/2 + 1/4 + 1/3 = 47/12
    # f(i) = 0.4 * (1/d_i) / (47/12) = 4.8 / (47 d_i)
    expected = np.array([0.6, 2.4 / 47, 4.8 / 47, 1.6 / 47, 4.8 / 47, 2.4 / 47, 1.2 / 47, 1.6 / 47])
    f = emotion_distribution("amusement", 0.6)
    assert f.shape == (8,)
    np.testing.assert_allclose(f, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(f[1], 0.0510638297872, atol=1e-12)  # awe
    assert math.isclose(f.sum(), 1.0)
    # same with an index instead of a name
    np.testing.assert_allclose(emotion_distribution(0, 0.6), expected, atol=1e-12)


def test_emotion_distribution_wheel_order_and_plus_one():
    # wheel order, dominant amusement (index 0), p* = 0.5, plus_one: dis = 2,3,4,5,4,3,2
    # sum 1/dis = 2*(1/2 + 1/3 + 1/4) + 1/5 = 13/6 + 1/5 = 71/30
    f = emotion_distribution("amusement", 0.5, order=MIKELS_WHEEL, plus_one=True)
    inv = np.array([1 / 2, 1 / 3, 1 / 4, 1 / 5, 1 / 4, 1 / 3, 1 / 2])
    np.testing.assert_allclose(f[1:], 0.5 * inv / (71 / 30), atol=1e-12)
    assert f[0] == 0.5


def test_emotion_distribution_batch_and_edges():
    dom = np.array([0, 3, 6, 6])
    p = np.array([1.0, 0.8, 0.6, 0.0])
    f = emotion_distribution(dom, p)
    assert f.shape == (4, 8)
    np.testing.assert_allclose(f.sum(axis=1), 1.0)
    np.testing.assert_array_equal(f[0], np.eye(8)[0])  # p* = 1: one-hot
    assert f[3, 6] == 0.0
    np.testing.assert_allclose(f[2], emotion_distribution(6, 0.6))
    # scalar p* broadcasts; names work in a batch
    g = emotion_distribution(["fear", "awe"], 0.6)
    np.testing.assert_allclose(g[0], emotion_distribution("fear", 0.6))
    # nearer emotions get more mass
    h = emotion_distribution("excitement", 0.6, order=MIKELS_WHEEL)
    assert h[2] > h[1] > h[0] and h[4] > h[5] > h[6] and h[2] == h[4]


def test_emotion_distribution_errors():
    with pytest.raises(ValueError):
        emotion_distribution("amusement", 1.2)
    with pytest.raises(ValueError):
        emotion_distribution(8, 0.5)
    with pytest.raises(ValueError):
        emotion_distribution("joy", 0.5)
    with pytest.raises(ValueError):
        emotion_distribution([0, 1], [0.5, 0.6, 0.7])


def test_emotion_distribution_torch():
    torch = pytest.importorskip("torch")
    dom = torch.tensor([0, 3])
    p = torch.tensor([0.6, 0.8])
    f = emotion_distribution(dom, p)
    assert isinstance(f, torch.Tensor) and f.shape == (2, 8) and f.dtype == torch.float32
    np.testing.assert_allclose(
        f.numpy(), emotion_distribution(np.array([0, 3]), np.array([0.6, 0.8])), atol=1e-6
    )


def _pair(a, i, j, order=MIKELS_EMOTIONS):
    return a[order.index(i), order.index(j)]


def test_sentiment_graph_adjacency_entries():
    a = sentiment_graph_adjacency()
    assert a.shape == (8, 8)
    assert (a == a.T).all()
    assert (np.diag(a) == 0).all()
    assert _pair(a, "amusement", "contentment") == 1.0  # same polarity, dis 1
    assert _pair(a, "amusement", "awe") == 0.5  # same polarity, dis 2
    assert _pair(a, "amusement", "anger") == 2.0  # opposite, dis 1: 1/1 + 1
    assert _pair(a, "excitement", "fear") == 2.0  # opposite, dis 1
    assert _pair(a, "amusement", "fear") == 1.25  # opposite, dis 4: 1/4 + 1
    assert math.isclose(_pair(a, "awe", "sadness"), 4 / 3)  # opposite, dis 3
    assert math.isclose(_pair(a, "fear", "anger"), 1 / 3)  # same polarity, dis 3
    b = sentiment_graph_adjacency(plus_one=True)
    assert _pair(b, "amusement", "anger") == 1.5  # dis 2: 1/2 + 1
    assert _pair(b, "amusement", "contentment") == 0.5


def test_normalized_adjacency_tiny_cases():
    # two nodes joined: A~ = all ones, degrees 2 -> every entry 1/2
    np.testing.assert_allclose(normalized_adjacency(np.array([[0.0, 1.0], [1.0, 0.0]])), 0.5)
    # path 0-1-2: degrees of A~ are 2, 3, 2
    n = normalized_adjacency(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]]))
    s6 = 1 / math.sqrt(6)
    np.testing.assert_allclose(
        n, [[1 / 2, s6, 0], [s6, 1 / 3, s6], [0, s6, 1 / 2]], atol=1e-12
    )
    # weighted: A = [[0, 2], [2, 0]] -> A~ degrees 3, 3 -> [[1/3, 2/3], [2/3, 1/3]]
    np.testing.assert_allclose(
        normalized_adjacency(np.array([[0.0, 2.0], [2.0, 0.0]])), [[1 / 3, 2 / 3], [2 / 3, 1 / 3]]
    )
    with pytest.raises(ValueError):
        normalized_adjacency(np.zeros((2, 3)))
    with pytest.raises(ValueError):
        normalized_adjacency(np.zeros((2, 2)), add_self_loops=False)


def test_normalized_sentiment_graph():
    a = sentiment_graph_adjacency()
    n = normalized_adjacency(a)
    deg = a.sum(axis=1) + 1
    i = MIKELS_EMOTIONS.index("amusement")
    j = MIKELS_EMOTIONS.index("anger")
    assert math.isclose(n[i, j], 2.0 / math.sqrt(deg[i] * deg[j]))
    assert math.isclose(n[i, i], 1.0 / deg[i])
    # symmetric, largest eigenvalue 1 (D^-1/2 A D^-1/2 of a connected graph)
    assert np.allclose(n, n.T)
    assert math.isclose(np.linalg.eigvalsh(n).max(), 1.0)


def test_normalized_adjacency_torch():
    torch = pytest.importorskip("torch")
    a = sentiment_graph_adjacency()
    t = normalized_adjacency(torch.tensor(a, dtype=torch.float32))
    assert isinstance(t, torch.Tensor)
    np.testing.assert_allclose(t.numpy(), normalized_adjacency(a), atol=1e-6)


def test_eq3_from_any_distance_by_hand():
    from vsalib.emotions import eq3_adjacency

    # three emotions, the first two positive: d(0,1) = 2, d(0,2) = 4, d(1,2) = 0.5
    d = [[0, 2, 4], [2, 0, 0.5], [4, 0.5, 0]]
    a = eq3_adjacency(d, [1, 1, 0])
    assert a.tolist() == [[0.0, 0.5, 1.25], [0.5, 0.0, 3.0], [1.25, 3.0, 0.0]]
    with pytest.raises(ValueError, match="must be positive"):
        eq3_adjacency([[0, 0], [0, 0]], [1, 0])


def test_centroid_graph_for_ekman_emotions_by_hand():
    from vsalib.emotions import centroid_graph

    # valence-arousal of five training images: joy at (8, 6) and (6, 6) -> centroid (7, 6); sadness (3, 2);
    # anger (3, 5) and (3, 7) -> (3, 6)
    feats = [[8, 6], [6, 6], [3, 2], [3, 5], [3, 7]]
    emo = ["joy", "joy", "sadness", "anger", "anger"]
    a, dist, cent = centroid_graph(feats, emo, ("anger", "joy", "sadness"), {"anger": 0, "joy": 1, "sadness": 0})
    assert cent.tolist() == [[3, 6], [7, 6], [3, 2]]
    # d(anger, joy) = 4, d(anger, sadness) = 4, d(joy, sadness) = sqrt(16 + 16)
    assert dist[0, 1] == 4 and dist[0, 2] == 4 and dist[1, 2] == pytest.approx(32 ** 0.5)
    assert a[0, 1] == pytest.approx(1 / 4 + 1)  # opposite polarity: + 1
    assert a[0, 2] == pytest.approx(1 / 4)  # both negative
    assert a[1, 2] == pytest.approx(1 / 32 ** 0.5 + 1)
    with pytest.raises(ValueError, match="no image of"):
        centroid_graph(feats, emo, ("anger", "joy", "fear"), {"anger": 0, "joy": 1, "fear": 0})
