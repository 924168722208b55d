import math

import pytest
import torch
from torch import nn

from vsalib.losses import group_sparse as gs


pytestmark = pytest.mark.usefixtures("one_thread")


def _linear(weight, bias=None):
    w = torch.tensor(weight, dtype=torch.float64)
    m = nn.Linear(w.shape[1], w.shape[0], bias=bias is not None).double()
    with torch.no_grad():
        m.weight.copy_(w)
        if bias is not None:
            m.bias.copy_(torch.tensor(bias, dtype=torch.float64))
    return m


W = [[3.0, 0.0, 1.0], [4.0, 0.0, -1.0]]  # columns (3, 4), (0, 0), (1, -1): norms 5, 0, sqrt(2); rows 5.1, 5.7


def _conv():
    # weight (out=2, in=2, 1, 2): W[:, 0] = [[1, 2]], [[2, 0]] -> norm 3;  W[:, 1] = [[0, 3]], [[0, -4]] -> norm 5
    m = nn.Conv2d(2, 2, (1, 2), bias=True).double()
    with torch.no_grad():
        m.weight.copy_(torch.tensor([[[[1, 2]], [[0, 3]]], [[[2, 0]], [[0, -4]]]], dtype=torch.float64))
        m.bias.fill_(100.0)
    return m


# -- group norms and the regulariser on hand numbers ----------------------------------------------
def test_group_norms_are_columns_not_rows():
    w = torch.tensor(W)
    assert torch.allclose(gs.group_norms(w), torch.tensor([5.0, 0.0, math.sqrt(2)]))
    assert torch.allclose(gs.group_norms(w, scale="sqrt"), torch.tensor([5.0, 0.0, math.sqrt(2)]) * math.sqrt(2))
    assert torch.allclose(gs.group_norms(_conv().weight), torch.tensor([3.0, 5.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="scale"):
        gs.group_norms(w, scale="root")


def test_group_norms_grouped_conv():
    m = nn.Conv2d(4, 2, 1, groups=2, bias=False)
    with torch.no_grad():
        m.weight.copy_(torch.tensor([[1.0, -2.0], [3.0, 0.0]]).view(2, 2, 1, 1))
    # output 0 reads inputs 0, 1 (weights 1, -2); output 1 reads inputs 2, 3 (weights 3, 0)
    assert gs.group_norms(m.weight, groups=2).tolist() == [1.0, 2.0, 3.0, 0.0]


def test_regularizer_terms_by_hand_linear():
    terms = gs.GroupSparseRegularizer()(_linear(W, bias=[50.0, -50.0]))
    assert set(terms) == {"l1", "l21", "l2", "total"}
    assert terms["l1"].item() == pytest.approx(9.0)
    assert terms["l21"].item() == pytest.approx(5.0 + math.sqrt(2))
    assert terms["l2"].item() == pytest.approx(27.0)  # bias excluded
    assert terms["total"].item() == pytest.approx(0.001 * (9 + 5 + math.sqrt(2)) + 0.0005 * 27)
    sq = gs.GroupSparseRegularizer(scale="sqrt")(_linear(W))
    assert sq["l21"].item() == pytest.approx(math.sqrt(2) * 5 + 2)
    prox = gs.GroupSparseRegularizer(proximal=True)(_linear(W))
    assert prox["total"].item() == pytest.approx(0.0005 * 27)


def test_regularizer_terms_by_hand_conv_and_layer_selection():
    terms = gs.GroupSparseRegularizer(xi1=1.0, xi2=1.0)(_conv())
    assert (terms["l1"].item(), terms["l21"].item(), terms["l2"].item()) == pytest.approx((12, 8, 34))
    # W2 = [[1, -1], [0, 2]]: l1 4, columns 1 and sqrt(5), l2 6;  BatchNorm and biases excluded
    model = nn.Sequential(_linear(W, bias=[9.0, 9.0]), nn.BatchNorm1d(2).double(), _linear([[1, -1], [0, 2]], [7, 7]))
    t = gs.GroupSparseRegularizer()(model)
    assert (t["l1"].item(), t["l21"].item(), t["l2"].item()) == pytest.approx(
        (9 + 4, 5 + math.sqrt(2) + 1 + math.sqrt(5), 27 + 6))
    for layers in ("2", [model[2]], lambda name, m: name == "2"):
        t = gs.GroupSparseRegularizer(layers=layers)(model)
        assert (t["l1"].item(), t["l2"].item()) == pytest.approx((4, 6))
    model[0].weight.requires_grad_(False)
    assert gs.GroupSparseRegularizer()(model)["l1"].item() == pytest.approx(4)
    assert [n for n, _ in gs.select_layers(model)] == ["0", "2"]


def test_regularizer_gradient_matches_hand_formula():
    torch.manual_seed(0)
    lin = nn.Linear(5, 3).double()
    conv = nn.Conv2d(3, 4, 3).double()
    reg = gs.GroupSparseRegularizer(xi1=0.3, xi2=0.2)
    reg(nn.Sequential(lin, conv))["total"].backward()
    for w, dims in ((lin.weight, (0,)), (conv.weight, (0, 2, 3))):
        d = w.detach()
        hand = 0.3 * (d.sign() + d / torch.linalg.vector_norm(d, dim=dims, keepdim=True)) + 2 * 0.2 * d
        assert torch.allclose(w.grad, hand)
    w = torch.randn(4, 3, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: gs.GroupSparseRegularizer(scale="sqrt")([x])["total"], (w,))


# -- proximal step ----------------------------------------------------------------------------------
def test_proximal_step_by_hand():
    m = _linear(W)
    # L1 soft-threshold 0.5: [[2.5, 0, 0.5], [3.5, 0, -0.5]]; column norms sqrt(18.5), 0, sqrt(0.5)
    assert gs.proximal_step(m, lr=1.0, xi1=0.5) == 1
    f0, f2 = 1 - 0.5 / math.sqrt(18.5), 1 - 0.5 / math.sqrt(0.5)
    hand = torch.tensor([[2.5 * f0, 0, 0.5 * f2], [3.5 * f0, 0, -0.5 * f2]], dtype=torch.float64)
    assert torch.allclose(m.weight, hand)
    m = _linear(W)  # threshold 1: column 2 goes to zero in the L1 step already
    assert gs.proximal_step(m, lr=0.5, xi1=2.0) == 2
    f0 = 1 - 1 / math.sqrt(13)
    assert torch.allclose(m.weight, torch.tensor([[2 * f0, 0, 0], [3 * f0, 0, 0]], dtype=torch.float64))
    m = _linear(W)  # group step only, sqrt(2) scale: threshold 0.5 * sqrt(2)
    gs.proximal_step(m, lr=1.0, xi1=0.5, scale="sqrt", l1=False)
    f0 = 1 - 0.5 * math.sqrt(2) / 5
    assert torch.allclose(m.weight, torch.tensor([[3 * f0, 0, 0.5], [4 * f0, 0, -0.5]], dtype=torch.float64))
    frozen = _linear(W).requires_grad_(False)
    gs.proximal_step(frozen, lr=1.0, xi1=0.5)
    assert frozen.weight.tolist() == W


# -- training on a toy problem: 3 of 10 inputs informative ------------------------------------------
def _train(xi1, proximal, steps=300, lr=0.05):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 10, generator=g)
    y = x[:, :3] @ torch.randn(3, 4, generator=g) + 0.1 * torch.randn(256, 4, generator=g)
    torch.manual_seed(1)
    model = nn.Linear(10, 4)
    reg = gs.GroupSparseRegularizer(xi1=xi1, xi2=0.0005, proximal=proximal)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y) + reg(model)["total"]
        loss.backward()
        opt.step()
        if proximal:
            reg.step(model, lr)
    return gs.group_norms(model.weight.detach()), model


def test_training_shrinks_groups_and_prox_zeros_them():
    none, _ = _train(0.0, False)
    sub, _ = _train(0.05, False)
    prox, model = _train(0.05, True)
    assert (sub[3:] < none[3:]).all() and sub[3:].sum() < 0.5 * none[3:].sum()  # noise groups shrink ...
    assert (sub[3:] > 0).all()  # ... but subgradient descent leaves them non-zero
    assert (prox[3:] == 0).all() and (prox[:3] > 0.3).all()  # the proximal step zeros exactly them
    rep = gs.sparsity_report(model)
    assert rep[["groups", "dead_groups"]].values.tolist() == [[10, 7]]
    assert rep["dead_fraction"].item() == pytest.approx(0.7)


# -- sparsity report --------------------------------------------------------------------------------
def test_sparsity_report_counts():
    model = nn.Sequential(_linear(W, bias=[1.0, 1.0]), nn.ReLU(), _conv())
    rep = gs.sparsity_report(model, threshold=1.5)
    assert rep["layer"].tolist() == ["0", "2"]
    assert rep["groups"].tolist() == [3, 2]
    assert rep["dead_groups"].tolist() == [2, 0]  # norms 5, 0, 1.41 and 3, 5
    assert rep["dead_fraction"].tolist() == pytest.approx([2 / 3, 0.0])
    assert rep["zero_weights"].tolist() == [2, 3]
    assert rep["params"].tolist() == [8, 10]


# -- pruning ----------------------------------------------------------------------------------------
def _cnn():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Conv2d(4, 5, 3), nn.ReLU()),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(),
        nn.Sequential(nn.Linear(20, 6), nn.ReLU(), nn.Dropout(0.5), nn.Linear(6, 2)))
    bn = model[0][1]
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1), bn.running_var.uniform_(0.5, 2), bn.weight.uniform_(0.5, 2)
        model[0][0].weight[:, 0] = 0  # a dead *model input*: never removed
        model[0][4].weight[:, 1] = 0  # conv2 ignores channel 1 -> conv1 out 1 (and BN 1) go
        model[3][0].weight[:, 8:12] = 0  # channel 2's flatten block (2x2) -> conv2 out 2 goes
        model[3][0].weight[:, 0:2] = 0  # half of channel 0's block: kept
        model[3][3].weight[:, [0, 3]] = 0  # -> lin1 rows 0 and 3 go
    return model.eval()


def test_prune_removes_exactly_the_dead_units_and_keeps_outputs():
    model = _cnn()
    pruned, info = gs.prune_dead_inputs(model)
    assert info["removed"] == {"0.0": [1], "0.4": [2], "3.0": [0, 3]}
    # before: conv1 4*3*9+4=112, bn 8, conv2 5*4*9+5=185, lin1 6*20+6=126, lin2 2*6+2=14 -> 445
    # after:  conv1 3*3*9+3=84,  bn 6, conv2 4*3*9+4=112, lin1 4*16+4=68,  lin2 2*4+2=10 -> 280
    assert (info["params_before"], info["params_after"]) == (445, 280)
    assert sum(p.numel() for p in model.parameters()) == 445  # the original is untouched
    assert pruned[0][0].in_channels == 3 and pruned[0][1].running_mean.shape == (3,)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.allclose(pruned(x), model(x), atol=1e-6)


def test_prune_cascades_and_threshold():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 2))
    with torch.no_grad():
        model[4].weight[:, 0] = 0  # removes lin2 row 0; then lin2 column 1 is dead -> lin1 row 1
        model[2].weight[1:, 1] = 1e-4  # under the threshold
    pruned, info = gs.prune_dead_inputs(model, threshold=1e-3)
    assert info["removed"] == {"0": [1], "2": [0]}
    assert (info["params_before"], info["params_after"]) == (35, 22)  # 15+12+8 -> (8+2)+(4+2)+(4+2)
    x = torch.randn(5, 4)
    with torch.no_grad():
        assert torch.allclose(pruned(x), model(x), atol=1e-3)


@pytest.mark.parametrize("model, match", [
    (nn.Sequential(nn.Linear(4, 3), nn.LayerNorm(3), nn.Linear(3, 2)), "'1' \\(LayerNorm\\)"),
    (nn.Sequential(nn.Conv2d(3, 4, 3), nn.Linear(4, 2)), "transition"),
    (nn.Sequential(nn.Conv2d(4, 4, 3, groups=2), nn.Conv2d(4, 2, 1)), "grouped"),
    (nn.ModuleList([nn.Linear(3, 2)]), "Sequential"),
])
def test_prune_unsupported_raises(model, match):
    with pytest.raises(ValueError, match=match):
        gs.prune_dead_inputs(model)
