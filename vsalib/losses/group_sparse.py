"""Sparse-group-lasso + L2 regularisation of R-CNNGSR (Eq. 4–6), its proximal step, and pruning.

``R = xi1 * (R_l1 + R_l2,1) + xi2 * R_l2`` (Eq. 6, with ``R_gs = R_l1 + R_l2,1``, Eq. 4), over the
weights of the chosen layers (default: every ``nn.Linear`` / ``nn.Conv{1,2,3}d`` weight; biases and
norm layers are never regularised).

Readings (the paper leaves these open):

- **Groups.** A group is "the vector of all outgoing connections" of one neuron: for a Linear
  weight ``(out, in)`` the *column* ``W[:, j]``; for a conv weight ``(out, in, kh, kw)`` the slice
  ``W[:, c]`` (every weight reading input channel ``c``; for a grouped conv only the rows of ``c``'s
  group). Never a row. The paper's *input groups* are the columns of the first layer; its *hidden
  groups* (outgoing weights of a hidden neuron / channel) are the columns of the *next* layer, so
  taking the columns of every regularised layer covers both.
- **Scale.** ``scale="none"`` (default): ``R_l2,1 = sum_g ||w_g||``. ``scale="sqrt"`` multiplies
  each group by sqrt(group size), as in Simon et al.'s sparse group lasso; the paper does not say.
- **R_l2** is printed as ``||w||_2``; we use the squared norm ``sum w^2`` (weight decay), whose
  gradient is ``2 w``.
- **Optimisation.** Plain (sub)gradient descent on ``R`` almost never makes a group exactly zero in
  ~1000 SGD steps. :func:`proximal_step` applies the sparse-group-lasso proximal operator after each
  optimiser step (then leave ``R_gs`` out of the loss: ``GroupSparseRegularizer(proximal=True)``).
  Which of the two a run used must be reported, with :func:`sparsity_report`'s fraction of groups
  under a threshold. The paper does not say which it used.

:func:`prune_dead_inputs` turns dead groups into a smaller network (plain ``nn.Sequential`` chains).
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence, Union

import pandas as pd
import torch
from torch import nn

__all__ = ["SCALES", "WEIGHT_LAYERS", "GroupSparseRegularizer", "group_norms", "select_layers",
           "proximal_step", "remove_dead_groups", "sparsity_report", "prune_dead_inputs"]

SCALES = ("none", "sqrt")
WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
LayerSpec = Union[None, str, Callable[[str, nn.Module], bool], nn.Module, Sequence[nn.Module]]


def _grouped(weight: torch.Tensor, groups: int = 1) -> torch.Tensor:
    """View ``(out, in/G, *k)`` as ``(G, out/G, in/G, K)``: input channel ``g*in/G + j`` ↔ ``[g, :, j, :]``."""
    if weight.ndim < 2:
        raise ValueError(f"expected a Linear or conv weight (ndim >= 2), got shape {tuple(weight.shape)}")
    if weight.shape[0] % groups:
        raise ValueError(f"out size {weight.shape[0]} is not divisible by groups={groups}")
    return weight.reshape(groups, weight.shape[0] // groups, weight.shape[1], -1)


def _factor(w4: torch.Tensor, scale: str) -> float:
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    return math.sqrt(w4.shape[1] * w4.shape[3]) if scale == "sqrt" else 1.0


def group_norms(weight: torch.Tensor, scale: str = "none", groups: int = 1) -> torch.Tensor:
    """L2 norm of each input group (columns, see the module docstring): shape ``(in_features,)``.

    ``groups``: the conv's ``groups`` (the weight then has ``in/groups`` columns per group of rows).
    ``scale="sqrt"`` multiplies each norm by sqrt(group size). Differentiable; the gradient of a
    zero group is 0 (a valid subgradient).
    """
    w4 = _grouped(weight, groups)
    return (torch.linalg.vector_norm(w4, dim=(1, 3)) * _factor(w4, scale)).reshape(-1)


def select_layers(module: nn.Module, layers: LayerSpec = None,
                  trainable_only: bool = False) -> list[tuple[str, nn.Module]]:
    """``(name, layer)`` of the Linear / conv layers to regularise, in ``named_modules`` order.

    ``layers``: None (all of ``module``), a regex searched in the qualified name (``"classifier"``),
    a predicate ``(name, layer) -> bool``, or one module / a list of modules (their Linear / conv
    submodules, e.g. only the trainable head). ``trainable_only`` drops layers whose weight is frozen.
    """
    names = {id(m): n for n, m in module.named_modules()}
    if isinstance(layers, nn.Module) or (isinstance(layers, Iterable) and not isinstance(layers, str)):
        roots = [layers] if isinstance(layers, nn.Module) else list(layers)
        cands = [(names.get(id(m), f"layers[{i}].{n}".rstrip(".")), m)
                 for i, r in enumerate(roots) for n, m in r.named_modules()]
    else:
        cands = list(module.named_modules())
        if isinstance(layers, str):
            cands = [(n, m) for n, m in cands if re.search(layers, n)]
        elif layers is not None:
            cands = [(n, m) for n, m in cands if layers(n, m)]
    out, seen = [], set()
    for n, m in cands:
        if isinstance(m, WEIGHT_LAYERS) and id(m) not in seen and (m.weight.requires_grad or not trainable_only):
            seen.add(id(m))
            out.append((n, m))
    return out


def _weights(target, layers: LayerSpec = None, trainable_only: bool = True) -> list[tuple[torch.Tensor, int]]:
    if isinstance(target, nn.Module):
        return [(m.weight, getattr(m, "groups", 1)) for _, m in select_layers(target, layers, trainable_only)]
    return [(w, 1) for w in target if not trainable_only or w.requires_grad]


@dataclass
class GroupSparseRegularizer:
    """R-CNNGSR's ``R = xi1 (R_l1 + R_l2,1) + xi2 R_l2`` (Eq. 4–6); the paper's xi1=0.001, xi2=0.0005.

    ``reg(model)`` → ``{"l1", "l21", "l2", "total"}`` (differentiable scalars; ``l1``/``l21``/``l2``
    unweighted). With ``proximal=True`` ``total`` is ``xi2 * l2`` only and :meth:`step` must follow
    every optimiser step (the proximal operator of ``xi1 * R_gs``). ``trainable_only``: frozen
    layers are left out (they cannot change). Fig. 5's ablation: ``xi1=0`` (L2 only), ``xi2=0`` (GS only).
    """

    xi1: float = 1e-3
    xi2: float = 5e-4
    layers: LayerSpec = None
    scale: str = "none"
    proximal: bool = False
    trainable_only: bool = True

    def __call__(self, target) -> dict[str, torch.Tensor]:
        ws = _weights(target, self.layers, self.trainable_only)
        zero = torch.zeros((), device=ws[0][0].device if ws else None)
        l1 = sum((w.abs().sum() for w, _ in ws), zero)
        l21 = sum((group_norms(w, self.scale, g).sum() for w, g in ws), zero)
        l2 = sum((w.pow(2).sum() for w, _ in ws), zero)
        total = self.xi2 * l2 + (0.0 if self.proximal else self.xi1 * (l1 + l21))
        return {"l1": l1, "l21": l21, "l2": l2, "total": total}

    def step(self, target, lr: float) -> int:
        """:func:`proximal_step` with this regulariser's ``xi1``, layers and scale."""
        return proximal_step(target, lr, self.xi1, layers=self.layers, scale=self.scale)


@torch.no_grad()
def proximal_step(target, lr: float, xi1: float = 1e-3, *, layers: LayerSpec = None,
                  scale: str = "none", l1: bool = True) -> int:
    """Proximal operator of ``lr * xi1 * (R_l1 + R_l2,1)``, in place; returns the number of zero groups.

    ``target``: a module (layers chosen as in :func:`select_layers`; frozen weights are never
    touched) or an iterable of weight tensors (``groups=1``). Elementwise soft-threshold
    ``w ← sign(w) max(|w| - lr xi1, 0)`` (skipped with ``l1=False``), then per group
    ``w_g ← w_g max(0, 1 - lr xi1 s_g / ||w_g||)`` (``s_g`` = 1 or sqrt(group size)): the exact prox
    of the sparse group lasso for non-overlapping groups, so groups become exactly zero.
    """
    zero_groups = 0
    for w, g in _weights(target, layers, trainable_only=True):
        if l1:
            w.copy_(torch.sign(w) * (w.abs() - lr * xi1).clamp_min(0))
        w4 = _grouped(w, g)
        norms = torch.linalg.vector_norm(w4, dim=(1, 3), keepdim=True)
        shrink = (1 - lr * xi1 * _factor(w4, scale) / norms.clamp_min(1e-30)).clamp_min(0)
        w.copy_((w4 * shrink).reshape(w.shape))
        zero_groups += int((torch.linalg.vector_norm(w4 * shrink, dim=(1, 3)) == 0).sum())
    return zero_groups


@torch.no_grad()
def remove_dead_groups(target, threshold: float, *, layers: LayerSpec = None) -> int:
    """Zero, in place, every input group (column, see the module docstring) whose norm is at most
    ``threshold``: a layer without input ``c`` computes what it computes with ``W[:, c] = 0``, so this
    is the removal of those inputs for any architecture (residual blocks included; physical removal:
    :func:`prune_dead_inputs`). ``target``/``layers`` as in :func:`proximal_step` (trainable layers
    only). Returns the number of weights removed."""
    removed = 0
    for w, g in _weights(target, layers, trainable_only=True):
        w4 = _grouped(w, g)
        alive = torch.linalg.vector_norm(w4, dim=(1, 3), keepdim=True) > threshold
        w.copy_((w4 * alive).reshape(w.shape))
        removed += int((~alive).sum()) * w4.shape[1] * w4.shape[3]
    return removed


@torch.no_grad()
def sparsity_report(module: nn.Module, threshold: float = 1e-3, layers: LayerSpec = None) -> pd.DataFrame:
    """Per layer: ``groups``, ``dead_groups`` (norm <= threshold), ``dead_fraction``, ``zero_weights``
    (exactly 0), ``weights`` and ``params`` (weight + bias). Frozen layers are included."""
    rows = []
    for name, m in select_layers(module, layers):
        norms = group_norms(m.weight, groups=getattr(m, "groups", 1))
        dead = int((norms <= threshold).sum())
        rows.append({"layer": name, "type": type(m).__name__, "groups": norms.numel(), "dead_groups": dead,
                     "dead_fraction": dead / norms.numel(), "zero_weights": int((m.weight == 0).sum()),
                     "weights": m.weight.numel(), "params": sum(p.numel() for p in m.parameters(recurse=False))})
    return pd.DataFrame(rows, columns=["layer", "type", "groups", "dead_groups", "dead_fraction",
                                       "zero_weights", "weights", "params"])


# -- pruning ------------------------------------------------------------------------------------
_CHANNELWISE = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
                nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid, nn.Softplus, nn.Identity,
                nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout, nn.MaxPool2d, nn.AvgPool2d,
                nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.BatchNorm1d, nn.BatchNorm2d)


def _leaves(seq: nn.Sequential, prefix: str = ""):
    for name, m in seq.named_children():
        if isinstance(m, nn.Sequential):
            yield from _leaves(m, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", m


def _take(m: nn.Module, name: str, index: torch.Tensor, dim: int) -> None:
    t = getattr(m, name)
    if t is None:
        return
    new = t.detach().index_select(dim, index.to(t.device)).clone()
    setattr(m, name, nn.Parameter(new, requires_grad=t.requires_grad) if isinstance(t, nn.Parameter) else new)


def _prune_pass(leaves: list, threshold: float, orig: dict) -> int:
    weighted = [i for i, (_, m) in enumerate(leaves) if isinstance(m, (nn.Linear, nn.Conv2d))]
    for _, m in (leaves[i] for i in weighted):
        if isinstance(m, nn.Conv2d) and m.groups != 1:
            raise ValueError(f"prune_dead_inputs: grouped conv ({m}) is not supported")
    removed = 0
    for a, b in zip(weighted, weighted[1:]):
        (pa, A), (pb, B) = leaves[a], leaves[b]
        flatten = False
        for p, m in leaves[a + 1:b]:
            if isinstance(m, nn.Flatten) and m.start_dim == 1 and m.end_dim == -1:
                flatten = True
            elif not isinstance(m, _CHANNELWISE):
                raise ValueError(f"prune_dead_inputs: unsupported layer {p!r} ({type(m).__name__}) "
                                 f"between {pa!r} and {pb!r}")
        conv_a, conv_b = isinstance(A, nn.Conv2d), isinstance(B, nn.Conv2d)
        if conv_b and (not conv_a or flatten) or (conv_a and not conv_b and not flatten):
            raise ValueError(f"prune_dead_inputs: unsupported transition {pa!r} -> {pb!r} "
                             "(need Conv2d -> Conv2d, Linear -> Linear or Conv2d -> Flatten -> Linear)")
        n = A.out_channels if conv_a else A.out_features
        w = B.weight.detach()
        per = w.shape[1] // n if conv_a and flatten else 1
        if w.shape[1] != n * per:
            raise ValueError(f"prune_dead_inputs: {pb!r} has {w.shape[1]} inputs, {pa!r} gives {n} channels")
        norms = torch.linalg.vector_norm(w.reshape(w.shape[0], n, -1), dim=(0, 2))
        keep = (norms > threshold).nonzero().flatten()
        if keep.numel() == n:
            continue
        if keep.numel() == 0:  # keep one unit rather than build an empty layer (B's output is then ~its bias)
            keep = norms.argmax().view(1)
        cols = (keep[:, None] * per + torch.arange(per, device=keep.device)).flatten()
        for name in ("weight", "bias"):
            _take(A, name, keep, 0)
        setattr(A, "out_channels" if conv_a else "out_features", keep.numel())
        for _, m in leaves[a + 1:b]:
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                for name in ("weight", "bias", "running_mean", "running_var"):
                    _take(m, name, keep, 0)
                m.num_features = keep.numel()
        _take(B, "weight", cols, 1)
        setattr(B, "in_channels" if conv_b else "in_features", cols.numel())
        orig[pa] = orig[pa][keep.cpu()]
        removed += n - keep.numel()
    return removed


def prune_dead_inputs(model: nn.Sequential, threshold: float = 0.0) -> tuple[nn.Sequential, dict]:
    """A compact copy of ``model`` without the units whose outgoing weights are dead (norm <= threshold).

    ``model``: an ``nn.Sequential`` (nested Sequentials allowed) of Conv2d / Linear layers with only
    channel-wise layers (activations, dropout, pooling, BatchNorm) between two of them, and one
    ``Flatten`` between the last conv and the first Linear (channel ``c`` then owns the Linear's
    column block ``c*hw:(c+1)*hw``; it is dead when the block's norm is). Removing output ``j`` of
    a layer takes its row, bias, BatchNorm entry and the next layer's column(s) ``j``. The inputs of
    the first layer and the outputs of the last are never removed; passes repeat until nothing
    changes. With dead groups exactly zero the copy computes the same function. Anything else
    raises ``ValueError`` naming the layer. Returns ``(pruned, info)`` with ``params_before``,
    ``params_after`` and ``removed`` (layer name → sorted original indices of its removed outputs).
    """
    if not isinstance(model, nn.Sequential):
        raise ValueError(f"prune_dead_inputs supports nn.Sequential chains only, got {type(model).__name__}")
    new = copy.deepcopy(model)
    leaves = list(_leaves(new))
    orig = {p: torch.arange(m.weight.shape[0]) for p, m in leaves if isinstance(m, (nn.Linear, nn.Conv2d))}
    sizes = {p: len(v) for p, v in orig.items()}
    while _prune_pass(leaves, threshold, orig):
        pass
    removed = {p: sorted(set(range(sizes[p])) - set(orig[p].tolist())) for p in orig if len(orig[p]) < sizes[p]}
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    return new, {"params_before": count(model), "params_after": count(new), "removed": removed}
