"""The training loop every method uses.

- device-agnostic: CUDA (with mixed precision) when present, CPU otherwise;
- per-parameter-group learning rates (the papers give separate rates per layer group);
- a checkpoint after every epoch, written atomically, and resume after a kill: the
  shuffling order and dropout of epoch ``e`` depend only on ``(seed, e)``, so a resumed run
  ends with the same weights and metrics as an uninterrupted one;
- early stopping on a validation metric, restoring the best epoch's weights;
- tqdm progress; DDP-aware (only rank 0 writes checkpoints, samplers are re-seeded per epoch).
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
from torch import nn
from vsalib.progress import tqdm
from vsalib.train.distributed import is_main


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given, else CUDA when available, else CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def make_optimizer(
    groups: dict[str, Iterable[nn.Parameter]],
    lrs: dict[str, float],
    *,
    kind: str = "sgd",
    momentum: float = 0.9,
    weight_decay: float = 0.0,
) -> torch.optim.Optimizer:
    """An optimizer with one parameter group per named group and its own learning rate.

    A group whose rate is 0 is frozen (``requires_grad=False``) and left out.
    """
    unknown = set(lrs) - set(groups)
    if unknown:
        raise ValueError(f"learning rates given for unknown parameter groups {sorted(unknown)}; "
                         f"the model's groups are {sorted(groups)}")
    missing = set(groups) - set(lrs)
    if missing:
        raise ValueError(f"no learning rate for parameter groups {sorted(missing)}; pass lrs for each of "
                         f"{sorted(groups)} (0 freezes a group)")
    param_groups = []
    for name, params in groups.items():
        params = list(params)
        if lrs[name] == 0:
            for p in params:
                p.requires_grad_(False)
            continue
        param_groups.append({"params": params, "lr": lrs[name], "name": name})
    if not param_groups:
        raise ValueError("every parameter group has learning rate 0: nothing to train")
    if kind == "sgd":
        return torch.optim.SGD(param_groups, momentum=momentum, weight_decay=weight_decay)
    if kind == "adamw":
        return torch.optim.AdamW(param_groups, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer kind {kind!r}; valid: 'sgd', 'adamw'")


@dataclass
class FitResult:
    history: list[dict] = field(default_factory=list)  # one dict per epoch
    best_epoch: int = -1
    best_metric: float = float("nan")
    stopped_early: bool = False
    resumed_from: int | None = None
    wall_time_s: float = 0.0


def atomic_torch_save(obj, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename: never a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@torch.no_grad()
def evaluate_model(model: nn.Module, loader, device: torch.device | str = "cpu",
                   loss_fn: Callable | None = None) -> dict:
    """Accuracy (and mean loss) of ``model`` on ``loader``; also returns predictions and probabilities."""
    device = torch.device(device)
    model.eval()
    probs, ys, losses, n = [], [], 0.0, 0
    for batch in loader:
        x, y = batch[0].to(device), batch[1].to(device)
        logits = model(x)
        if loss_fn is not None:
            losses += float(loss_fn(logits, y)) * len(y)
        n += len(y)
        probs.append(logits.float().softmax(1).cpu())
        ys.append(y.cpu())
    p = torch.cat(probs)
    y = torch.cat(ys)
    pred = p.argmax(1)
    out = {"accuracy": float((pred == y).float().mean()), "y_true": y.numpy(), "y_pred": pred.numpy(),
           "probs": p.numpy()}
    if loss_fn is not None:
        out["loss"] = losses / max(n, 1)
    return out


def fit(
    model: nn.Module,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    train_loader,
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int,
    val_loader=None,
    seed: int = 0,
    device: torch.device | str | None = None,
    amp: bool | None = None,
    scheduler=None,
    checkpoint_path: str | os.PathLike | None = None,
    patience: int | None = None,
    monitor: str = "accuracy",
    regularizer: Callable[[nn.Module], torch.Tensor] | None = None,
    after_step: Callable[[nn.Module, torch.optim.Optimizer], None] | None = None,
    progress: bool = True,
    desc: str = "train",
    stop_after_epochs: int | None = None,
) -> FitResult:
    """Train ``model`` for ``epochs`` epochs; see the module docstring.

    ``monitor``: the validation metric for early stopping and best-epoch selection
    (``accuracy``, higher is better, or ``loss``, lower is better). ``patience``: stop after this
    many epochs without improvement (None: never). ``regularizer(model)`` is added to the loss
    (R-CNNGSR's group-sparse term); ``after_step(model, optimizer)`` runs after every optimiser step
    (e.g. its proximal step, :func:`vsalib.losses.proximal_step`). ``stop_after_epochs`` ends the call early *as if killed*
    (used by the resume tests).
    """
    if monitor not in ("accuracy", "loss"):
        raise ValueError(f"monitor must be 'accuracy' or 'loss', got {monitor!r}")
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    device = pick_device(device)
    amp = (device.type == "cuda") if amp is None else amp
    scaler = torch.amp.GradScaler("cuda", enabled=amp and device.type == "cuda")
    model.to(device)
    result = FitResult()
    start_epoch = 0
    best_state = None
    ckpt = Path(checkpoint_path) if checkpoint_path is not None else None
    t0 = time.perf_counter()
    if ckpt is not None and ckpt.exists():
        state = torch.load(ckpt, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler") is not None:
            scaler.load_state_dict(state["scaler"])
        result.history = state["history"]
        result.best_epoch = state["best_epoch"]
        result.best_metric = state["best_metric"]
        best_state = state["best_state"]
        start_epoch = state["epoch"] + 1
        result.resumed_from = start_epoch
        result.stopped_early = state.get("stopped_early", False)
        t0 -= state.get("wall_time_s", 0.0)
    better = (lambda a, b: a > b) if monitor == "accuracy" else (lambda a, b: a < b)
    epochs_run = 0
    bar = tqdm(total=epochs, initial=start_epoch, desc=desc, leave=False, disable=not progress, mininterval=2)
    for epoch in range(start_epoch, epochs):
        if result.stopped_early:
            break
        torch.manual_seed(seed * 100_003 + epoch)  # dropout, augmentation, shuffling of this epoch
        np.random.seed((seed * 100_003 + epoch) % (2**32))
        sampler = getattr(train_loader, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        model.train()
        total, n, correct = 0.0, 0, 0
        for batch in train_loader:
            x, y = batch[0].to(device, non_blocking=True), batch[1].to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device_type=device.type, enabled=amp and device.type == "cuda"):
                logits = model(x)
                loss = loss_fn(logits, y)
            if regularizer is not None:
                loss = loss + regularizer(model)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            if after_step is not None:
                after_step(model, optimizer)
            total += float(loss.detach()) * len(y)
            correct += int((logits.detach().argmax(1) == y).sum())
            n += len(y)
        if scheduler is not None:
            scheduler.step()
        row = {"epoch": epoch, "train_loss": total / max(n, 1), "train_accuracy": correct / max(n, 1)}
        if val_loader is not None:
            ev = evaluate_model(model, val_loader, device, loss_fn)
            row["val_accuracy"], row["val_loss"] = ev["accuracy"], ev["loss"]
            metric = row[f"val_{monitor}"]
            if result.best_epoch < 0 or better(metric, result.best_metric):
                result.best_epoch, result.best_metric = epoch, metric
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            elif patience is not None and epoch - result.best_epoch >= patience:
                result.stopped_early = True
        else:
            result.best_epoch, result.best_metric = epoch, float("nan")
        result.history.append(row)
        epochs_run += 1
        bar.update(1)
        bar.set_postfix({k: f"{v:.3f}" for k, v in row.items() if k != "epoch"}, refresh=False)
        if ckpt is not None and is_main():
            atomic_torch_save({
                "epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "scaler": scaler.state_dict(), "history": result.history, "best_epoch": result.best_epoch,
                "best_metric": result.best_metric, "best_state": best_state,
                "stopped_early": result.stopped_early, "wall_time_s": time.perf_counter() - t0,
            }, ckpt)
        if stop_after_epochs is not None and epochs_run >= stop_after_epochs and epoch + 1 < epochs:
            result.wall_time_s = time.perf_counter() - t0
            bar.close()
            return result  # simulated kill: the checkpoint is what survives
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    result.wall_time_s = time.perf_counter() - t0
    return result
