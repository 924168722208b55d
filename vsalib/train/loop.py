"""The training loop every method uses.

- device-agnostic: CUDA (with mixed precision) when present, CPU otherwise;
- per-parameter-group learning rates (the papers give separate rates per layer group);
- a checkpoint after every epoch, written atomically, and resume after a kill: the
  shuffling order and dropout of epoch ``e`` depend only on ``(seed, e)``, so a resumed run
  ends with the same weights and metrics as an uninterrupted one; a damaged checkpoint is
  moved aside (``<name>.<UTC time>.corrupt``, with a warning naming it; the last
  :data:`KEEP_CORRUPT` of a folder are kept) and the run starts again;
- everything vsalib saves loads with ``torch.load(..., weights_only=True)`` (no pickled code):
  :func:`atomic_torch_save` stores numpy arrays and vsalib dataclasses as plain containers
  (:func:`to_plain`) and :func:`safe_torch_load` turns them back (:func:`from_plain`);
- early stopping on a validation metric, restoring the best epoch's weights;
- tqdm progress; DDP-aware (only rank 0 writes checkpoints, samplers are re-seeded per epoch).
"""

from __future__ import annotations

import dataclasses
import importlib
import itertools
import os
import random
import tempfile
import time
import warnings
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
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


# -- saving and loading without pickled code ------------------------------------------------
_TYPE_KEY = "__vsalib_type__"
_SAFE_MODULES = ("vsalib",)  # dataclasses from these packages may be rebuilt by from_plain
_PLAIN_SCALARS = (type(None), bool, int, float, complex, str, bytes, bytearray, torch.Size, torch.device,
                  torch.dtype)  # exact types: subclasses (numpy.float64, enums) are not readable
_PLAIN_DICTS = (dict, OrderedDict, Counter)


def _safe_class(module: str) -> bool:
    return any(module == m or module.startswith(m + ".") for m in _SAFE_MODULES)


def to_plain(obj, where: str = "obj"):
    """``obj`` in the types ``torch.load(..., weights_only=True)`` reads: tensors, Python scalars,
    strings and bytes, and dicts / lists / tuples / sets of them.

    numpy arrays become tensors, numpy scalars Python numbers, and instances of vsalib dataclasses
    (e.g. cached ``Proposals``) dicts of their fields, each tagged so that :func:`from_plain`
    restores the original type exactly. Containers with nothing to convert are returned as they
    are (same object). Anything else is a ``TypeError`` naming where it sits in ``obj``.
    """
    if type(obj) in _PLAIN_SCALARS or isinstance(obj, torch.Tensor):
        return obj
    if isinstance(obj, np.ndarray):
        return _ndarray_to_plain(obj, where)
    if isinstance(obj, np.generic):
        value = obj.item()
        if type(value) not in _PLAIN_SCALARS:
            raise TypeError(f"{where}: cannot save a numpy {obj.dtype} scalar so that it loads with weights_only=True")
        return {_TYPE_KEY: "numpy.scalar", "dtype": obj.dtype.str, "value": value}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        cls = type(obj)
        if not _safe_class(cls.__module__) or "<locals>" in cls.__qualname__:
            raise TypeError(f"{where}: cannot save a {cls.__module__}.{cls.__qualname__} so that it loads with "
                            f"weights_only=True (only module-level dataclasses of {', '.join(_SAFE_MODULES)})")
        state = vars(obj) if hasattr(obj, "__dict__") else {f.name: getattr(obj, f.name)
                                                             for f in dataclasses.fields(obj)}
        return {_TYPE_KEY: "dataclass", "class": f"{cls.__module__}:{cls.__qualname__}",
                "state": {k: to_plain(v, f"{where}.{k}") for k, v in state.items()}}
    if type(obj) in _PLAIN_DICTS:
        items = {k: to_plain(v, f"{where}[{k!r}]") for k, v in obj.items()}
        if all(items[k] is v for k, v in obj.items()):
            return obj
        out = type(obj)(items)
        if hasattr(obj, "_metadata"):  # a module state_dict's version info
            out._metadata = obj._metadata
        return out
    if type(obj) in (list, tuple, set):
        items = [to_plain(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        if all(a is b for a, b in zip(items, obj)):
            return obj
        return type(obj)(items)
    if type(obj) is frozenset:
        return {_TYPE_KEY: "frozenset", "items": [to_plain(v, f"{where}[{i}]") for i, v in enumerate(obj)]}
    raise TypeError(f"{where}: cannot save a {type(obj).__module__}.{type(obj).__qualname__} so that it loads "
                    "with weights_only=True; store tensors, numbers, strings, numpy arrays, vsalib dataclasses "
                    "and dicts/lists/tuples of them")


def _ndarray_to_plain(a: np.ndarray, where: str) -> dict:
    if a.dtype.kind in "US":  # strings: a (nested) list
        return {_TYPE_KEY: "numpy.ndarray", "dtype": a.dtype.str, "list": a.tolist()}
    if a.dtype.kind not in "biufc":
        raise TypeError(f"{where}: cannot save a numpy array of dtype {a.dtype} so that it loads with "
                        "weights_only=True")
    native = a.astype(a.dtype.newbyteorder("="), order="C", copy=True)  # torch wants native byte order
    return {_TYPE_KEY: "numpy.ndarray", "dtype": a.dtype.str, "data": torch.from_numpy(native)}


def from_plain(obj):
    """Undo :func:`to_plain`: tagged dicts become numpy arrays / scalars and vsalib dataclasses again.

    Only dataclasses defined in vsalib's own modules are rebuilt (their fields set directly, as
    unpickling does); a tag naming anything else is a ``ValueError``.
    """
    if isinstance(obj, dict):
        if _TYPE_KEY in obj:
            return _from_tagged(obj)
        items = {k: from_plain(v) for k, v in obj.items()}
        if all(items[k] is v for k, v in obj.items()):
            return obj
        out = type(obj)(items)
        if hasattr(obj, "_metadata"):
            out._metadata = obj._metadata
        return out
    if type(obj) in (list, tuple, set):
        items = [from_plain(v) for v in obj]
        if all(a is b for a, b in zip(items, obj)):
            return obj
        return type(obj)(items)
    return obj


def _from_tagged(obj: dict):
    kind = obj[_TYPE_KEY]
    if kind == "numpy.ndarray":
        dtype = np.dtype(obj["dtype"])
        if "list" in obj:
            return np.array(obj["list"], dtype=dtype)
        return obj["data"].numpy().astype(dtype, copy=False)
    if kind == "numpy.scalar":
        return np.dtype(obj["dtype"]).type(obj["value"])
    if kind == "frozenset":
        return frozenset(from_plain(v) for v in obj["items"])
    if kind == "dataclass":
        module, _, qualname = str(obj["class"]).partition(":")
        if not _safe_class(module):
            raise ValueError(f"refusing to rebuild {obj['class']!r}: not a vsalib class")
        cls = importlib.import_module(module)
        for part in qualname.split("."):
            cls = getattr(cls, part)
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
            raise ValueError(f"{obj['class']!r} is not a dataclass")
        inst = cls.__new__(cls)
        for k, v in obj["state"].items():
            object.__setattr__(inst, k, from_plain(v))
        return inst
    raise ValueError(f"unknown stored type {kind!r}")


def safe_torch_load(path: str | os.PathLike, map_location=None):
    """``torch.load(path, weights_only=True)`` (no pickled code runs), then :func:`from_plain`."""
    return from_plain(torch.load(path, map_location=map_location, weights_only=True))


def atomic_torch_save(obj, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename: never a partial file.

    ``obj`` is stored with :func:`to_plain`, so :func:`safe_torch_load` (``weights_only=True``)
    reads it back.
    """
    path = Path(path)
    obj = to_plain(obj)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def model_device(model: nn.Module) -> torch.device:
    """Where ``model``'s parameters (else buffers) are: the device its inputs must be on (CPU when it has none)."""
    first = next(itertools.chain(model.parameters(), model.buffers()), None)
    return torch.device("cpu") if first is None else first.device


@torch.no_grad()
def predict_model(model: nn.Module, loader, device: torch.device | str | None = None) -> np.ndarray:
    """Softmax probabilities of ``model`` on every batch of ``loader`` (``batch[0]`` is the input; any
    labels the batches carry are not read): what a method scores with :meth:`vsalib.methods.base.Fold.score`.
    ``device``: where the batches go (None: where the model is, e.g. on the GPU after :func:`fit`)."""
    device = model_device(model) if device is None else torch.device(device)
    model.eval()
    probs = [model(batch[0].to(device)).float().softmax(1).cpu() for batch in loader]
    return torch.cat(probs).numpy()


@torch.no_grad()
def evaluate_model(model: nn.Module, loader, device: torch.device | str | None = None,
                   loss_fn: Callable | None = None) -> dict:
    """Accuracy (and mean loss) of ``model`` on ``loader``; also returns predictions and probabilities.
    ``device``: where the batches go (None: where the model is, e.g. on the GPU after :func:`fit`)."""
    device = model_device(model) if device is None else torch.device(device)
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


@dataclass
class StepOutput:
    """What one training step computed: its named loss terms (summed into the loss that is
    back-propagated, logged term by term, like torchvision's detection loss dicts), and, for the
    training accuracy, the logits and targets where the step has them."""

    losses: dict[str, torch.Tensor]
    logits: torch.Tensor | None = None
    targets: torch.Tensor | None = None
    size: int | None = None  # samples in the batch (default: len(targets))


Step = Callable[[nn.Module, object, torch.device], StepOutput]


def classification_step(loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], name: str = "loss_cls") -> Step:
    """The step of an image classifier: ``batch = (x, y, ...)``, one loss term ``name`` = ``loss_fn(model(x), y)``.

    A method whose batches carry more (boxes, maps, attributes, label distributions) passes its own
    step to :func:`fit`; it calls ``model(...)`` (so that a DDP wrapper sees the forward pass) and
    returns every loss term by name.
    """

    def step(model: nn.Module, batch, device: torch.device) -> StepOutput:
        x, y = batch[0].to(device, non_blocking=True), batch[1].to(device, non_blocking=True)
        logits = model(x)
        return StepOutput({name: loss_fn(logits, y)}, logits, y)

    return step


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
    regularizer_name: str = "loss_reg",
    after_step: Callable[[nn.Module, torch.optim.Optimizer], None] | None = None,
    step: Step | None = None,
    progress: bool = True,
    desc: str = "train",
    stop_after_epochs: int | None = None,
) -> FitResult:
    """Train ``model`` for ``epochs`` epochs; see the module docstring.

    ``step(model, batch, device) -> StepOutput`` computes a batch's named loss terms (default:
    :func:`classification_step` of ``loss_fn``); ``fit`` sums them, back-propagates the sum and logs
    every term per epoch (``train_<name>`` in the history). ``loss_fn`` also scores the validation
    part. ``monitor``: the validation metric for early stopping and best-epoch selection
    (``accuracy``, higher is better, or ``loss``, lower is better). ``patience``: stop after this
    many epochs without improvement (None: never). ``regularizer(model)`` is one more loss term,
    named ``regularizer_name`` (R-CNNGSR's group-sparse term, ``loss_gs``); ``after_step(model,
    optimizer)`` runs after every optimiser step (e.g. its proximal step,
    :func:`vsalib.losses.proximal_step`). ``stop_after_epochs`` ends the call early *as if killed*
    (used by the resume tests).
    """
    step = classification_step(loss_fn) if step is None else step
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
    state = _read_checkpoint(ckpt, device) if ckpt is not None and ckpt.exists() else None
    if state is not None:
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
        total, n, correct, n_scored = 0.0, 0, 0, 0
        terms: dict[str, float] = {}
        for batch in train_loader:
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device_type=device.type, enabled=amp and device.type == "cuda"):
                out = step(model, batch, device)
            losses = dict(out.losses)
            if regularizer is not None:
                losses[regularizer_name] = regularizer(model)
            loss = sum(losses.values())
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            if after_step is not None:
                after_step(model, optimizer)
            size = out.size if out.size is not None else len(out.targets)
            total += float(loss.detach()) * size
            for name, value in losses.items():
                terms[name] = terms.get(name, 0.0) + float(value.detach()) * size
            if out.logits is not None and out.targets is not None:
                correct += int((out.logits.detach().argmax(1) == out.targets).sum())
                n_scored += len(out.targets)
            n += size
        if scheduler is not None:
            scheduler.step()
        row = {"epoch": epoch, "train_loss": total / max(n, 1),
               **{f"train_{name}": v / max(n, 1) for name, v in terms.items()}}
        if n_scored:
            row["train_accuracy"] = correct / n_scored
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


_CHECKPOINT_KEYS = frozenset({"epoch", "model", "optimizer", "history", "best_epoch", "best_metric", "best_state"})
#: Damaged checkpoints set aside (``*.corrupt``) kept per checkpoint folder, the newest by modification time (the
#: time each was set aside); older ones are removed when another is set aside.
KEEP_CORRUPT = 3
CORRUPT_SUFFIX = ".corrupt"


def _corrupt_name(ckpt: Path) -> Path:
    """A new, unused name for ``ckpt`` set aside: ``<name>.<UTC time, microseconds>.corrupt``."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    bad, n = ckpt.with_name(f"{ckpt.name}.{stamp}{CORRUPT_SUFFIX}"), 1
    while bad.exists():  # two in one microsecond (another process): never overwrite one
        bad, n = ckpt.with_name(f"{ckpt.name}.{stamp}-{n}{CORRUPT_SUFFIX}"), n + 1
    return bad


def _prune_corrupt(folder: Path, keep: int = KEEP_CORRUPT) -> list[Path]:
    """Remove all but the ``keep`` newest (by modification time, then name) ``*.corrupt`` files of ``folder``;
    returns those removed (best effort: one another process removed first is skipped)."""
    def age(p: Path):
        try:
            return (p.stat().st_mtime, p.name)
        except OSError:
            return (float("-inf"), p.name)

    found = sorted((p for p in folder.glob(f"*{CORRUPT_SUFFIX}") if p.is_file()), key=age)
    removed = []
    for p in found[:max(len(found) - keep, 0)]:
        try:
            p.unlink()
            removed.append(p)
        except OSError:
            continue
    return removed


def _read_checkpoint(ckpt: Path, device: torch.device) -> dict | None:
    """The resume state in ``ckpt``, or None when the file cannot be read (truncated, corrupt,
    not a vsalib checkpoint): then it is moved aside to ``<name>.<UTC time>.corrupt`` (rank 0; the folder
    keeps the :data:`KEEP_CORRUPT` newest such files) with a warning naming it, and the run starts from
    scratch (its last good state: there is no other)."""
    try:
        state = safe_torch_load(ckpt, map_location=device)
        if not isinstance(state, dict) or not _CHECKPOINT_KEYS <= set(state):
            missing = sorted(_CHECKPOINT_KEYS - set(state)) if isinstance(state, dict) else None
            raise ValueError(f"not a vsalib training checkpoint (missing {missing})" if missing is not None
                             else f"not a vsalib training checkpoint (holds a {type(state).__name__})")
    except Exception as err:  # noqa: BLE001 - any unreadable file: restart rather than crash
        reason = (str(err).strip().splitlines() or [""])[0]
        if is_main():
            bad = _corrupt_name(ckpt)
            try:
                os.replace(ckpt, bad)
            except OSError as move_err:
                moved = f"could not move it aside ({move_err})"
            else:
                try:
                    os.utime(bad)  # its modification time: when it was set aside (what the folder keeps by)
                except OSError:
                    pass
                moved = f"moved it to {bad}"
                removed = _prune_corrupt(ckpt.parent)
                if removed:
                    moved += (f" (removed {len(removed)} older set-aside checkpoint(s) of {ckpt.parent}, keeping the "
                              f"last {KEEP_CORRUPT})")
        else:
            moved = "rank 0 moves it aside"
        warnings.warn(
            f"checkpoint {ckpt} is unreadable ({type(err).__name__}: {reason}); {moved} and restarting "
            "this run from epoch 0",
            RuntimeWarning, stacklevel=3,
        )
        return None
    return state
