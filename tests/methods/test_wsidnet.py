"""WSIDNet's equations against numbers worked by hand (Eq. 1, the emotion maps, the node features,
Eqs. 4-5, Eqs. 6-7 as named losses), and the head end to end on a tiny feature map."""

import math

import pytest
import torch

from vsalib.emotions import MIKELS_EMOTIONS, normalized_adjacency, sentiment_graph_adjacency
from vsalib.methods import wsidnet as W


def _fprime():
    """C = 2 emotions, k = 2 detectors each, 2×2 maps, one image; channels class-major."""
    return torch.tensor([[
        [[1.0, 5.0], [2.0, 0.0]],   # class 0, detector 0: max 5, mean 2
        [[3.0, 1.0], [1.0, 3.0]],   # class 0, detector 1: max 3, mean 2
        [[0.0, 0.0], [4.0, 0.0]],   # class 1, detector 0: max 4, mean 1
        [[-1.0, -2.0], [-3.0, -6.0]],  # class 1, detector 1: max -1, mean -3
    ]])


def test_cross_spatial_pooling_is_eq1():
    # v_0 = (5 + 3) / 2 = 4; v_1 = (4 + -1) / 2 = 1.5
    assert W.cross_spatial_pooling(_fprime(), k=2).tolist() == [[4.0, 1.5]]
    # k = 4: one class whose four maps peak at 5, 3, 4, -1 -> 11 / 4
    assert W.cross_spatial_pooling(_fprime(), k=4).tolist() == [[2.75]]
    with pytest.raises(ValueError, match="not a multiple of k=3"):
        W.cross_spatial_pooling(_fprime(), k=3)


def test_emotion_maps_average_each_class_detectors():
    m = W.emotion_maps(_fprime(), k=2)
    assert m.shape == (1, 2, 2, 2)
    assert m[0, 0].tolist() == [[2.0, 3.0], [1.5, 1.5]]
    assert m[0, 1].tolist() == [[-0.5, -1.0], [0.5, -3.0]]


def test_node_features_pool_the_map_weighted_feature_map():
    fmap = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]],    # channel 0
                          [[2.0, 2.0], [2.0, 2.0]]]])  # channel 1
    maps = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]],    # emotion 0: the top-left cell only
                          [[1.0, 1.0], [1.0, 1.0]]]])  # emotion 1: everywhere
    h = W.node_features(fmap, maps)
    # emotion 0: channel 0 -> 1·1 / 4 = 0.25, channel 1 -> 1·2 / 4 = 0.5
    # emotion 1: channel 0 -> (1 + 1) / 4 = 0.5, channel 1 -> 8 / 4 = 2
    assert h.tolist() == [[[0.25, 0.5], [0.5, 2.0]]]


def test_graph_convolution_is_eq4():
    # A = [[0, 1], [1, 0]]: A~ = A + I has degree 2 everywhere, so Â = A~ / 2 (Eq. 5)
    a_hat = torch.as_tensor(normalized_adjacency([[0.0, 1.0], [1.0, 0.0]]), dtype=torch.float32)
    layer = W.GraphConvolution(a_hat, 1, 1, activation="none")
    with torch.no_grad():
        layer.weight.fill_(2.0)
    h = torch.tensor([[[1.0], [3.0]]])
    # H W = [2, 6]; Â (H W) = [(2 + 6) / 2, (2 + 6) / 2] = [4, 4]
    assert layer(h).tolist() == [[[4.0], [4.0]]]
    relu = W.GraphConvolution(a_hat, 1, 1, activation="relu")
    with torch.no_grad():
        relu.weight.fill_(-1.0)
    assert relu(h).tolist() == [[[0.0], [0.0]]]


def test_mikels_graph_weights_opposite_polarity_neighbours_most():
    a = sentiment_graph_adjacency(MIKELS_EMOTIONS)
    i, j = MIKELS_EMOTIONS.index("excitement"), MIKELS_EMOTIONS.index("fear")  # adjacent on the wheel, opposite
    assert a[i, j] == 2.0 and a.diagonal().tolist() == [0.0] * 8


def test_losses_are_eqs_6_and_7_as_named_terms():
    out = W.WSIDNetOutput(logits=torch.tensor([[0.0, 0.0]]), detection=torch.tensor([[0.0, math.log(3.0)]]),
                          maps=torch.zeros(1, 2, 1, 1))
    y, y_emo = torch.tensor([1]), torch.tensor([1])
    losses = W.wsidnet_losses(out, y, y_emo, lam=0.1)
    # L_class = -log 0.5; L_detect = -log(3 / (1 + 3)) = log(4/3); the term carries λ
    assert losses["loss_cls"].item() == pytest.approx(math.log(2))
    assert losses["loss_detect"].item() == pytest.approx(0.1 * math.log(4 / 3))
    assert set(W.wsidnet_losses(out, y, None, lam=0.0)) == {"loss_cls"}  # λ = 0: no detection supervision


def test_binary_labels_never_stand_in_for_emotion_labels():
    out = W.WSIDNetOutput(torch.zeros(2, 2), torch.zeros(2, 8), torch.zeros(2, 8, 1, 1))
    y = torch.tensor([0, 1])
    with pytest.raises(ValueError, match="needs emotion labels"):
        W.wsidnet_losses(out, y, None, lam=0.1)
    with pytest.raises(ValueError, match="needs emotion labels"):
        W.wsidnet_losses(out, y, torch.tensor([-1, -1]), lam=0.1)
    with pytest.raises(ValueError, match=r"must lie in \[0, 8\)"):
        W.wsidnet_losses(out, y, torch.tensor([3, 9]), lam=0.1)
    # images without an emotion label are left out of L_detect, not counted as class 0
    part = W.wsidnet_losses(out, y, torch.tensor([-1, 5]), lam=1.0)
    assert part["loss_detect"].item() == pytest.approx(math.log(8))


@pytest.mark.parametrize("readout", W.READOUTS)
def test_head_end_to_end(readout):
    torch.manual_seed(0)
    cfg = W.WSIDNetHeadConfig(k=2, gcn_layers=2, gcn_width=8, holistic_dim=16, readout=readout, dropout=0.0)
    head = W.WSIDNetHead(n_channels=5, pooled_dim=12, adjacency=sentiment_graph_adjacency(), config=cfg)
    fmap, pooled = torch.randn(3, 5, 4, 4), torch.randn(3, 12)
    out = head(fmap, pooled)
    assert out.logits.shape == (3, 2) and out.detection.shape == (3, 8) and out.maps.shape == (3, 8, 4, 4)
    losses = W.wsidnet_losses(out, torch.tensor([0, 1, 1]), torch.tensor([2, -1, 7]), lam=0.1)
    sum(losses.values()).backward()
    # the sentiment loss reaches the detector through the maps and node features, not only through L_detect
    head.zero_grad()
    W.wsidnet_losses(head(fmap, pooled), torch.tensor([0, 1, 1]), None, lam=0.0)["loss_cls"].backward()
    assert head.detector.weight.grad.abs().sum() > 0


def test_config_is_checked():
    with pytest.raises(ValueError, match="readout"):
        W.WSIDNetHeadConfig(readout="max")
    with pytest.raises(ValueError, match="lam must be >= 0"):
        W.WSIDNetHeadConfig(lam=-1.0)
