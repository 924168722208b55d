"""The training loop (vsalib.train.loop): devices, per-group rates, seeding, resume, early stopping.

Everything runs on CPU with a tiny MLP on a learnable toy problem, so a whole file takes seconds.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import pytest

from vsalib.train import loop
from vsalib.train.loop import FitResult, atomic_torch_save, evaluate_model, fit, make_optimizer, pick_device

EPOCHS = 5


# -- toy problem -------------------------------------------------------------------------
def _data(n: int = 48, seed: int = 123, flip_labels: bool = False):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    return TensorDataset(x, 1 - y if flip_labels else y)


def _loaders(batch_size: int = 8, flip_val: bool = False):
    train = DataLoader(_data(), batch_size=batch_size, shuffle=True)
    # validation: the training inputs; with flip_val their labels are inverted, so the better the
    # model fits the training set, the worse its validation metric (early stopping must trigger)
    val = DataLoader(_data(flip_labels=flip_val), batch_size=16, shuffle=False)
    return train, val


def _model(init_seed: int = 0, dropout: float = 0.3) -> nn.Sequential:
    torch.manual_seed(init_seed)
    return nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Dropout(dropout), nn.Linear(12, 2))


def _groups(model):
    return {"body": list(model[0].parameters()), "head": list(model[3].parameters())}


def _setup(init_seed: int = 0, lrs=None, momentum: float = 0.9):
    model = _model(init_seed)
    opt = make_optimizer(_groups(model), lrs or {"body": 0.05, "head": 0.1}, momentum=momentum)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)  # a step inside the resumed part
    return model, opt, sched


def _weights(model):
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}  # fit may have moved it to a GPU


def _assert_same_weights(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"parameter {k} differs"


def _run(seed=0, init_seed=0, val=True, **kw):
    model, opt, sched = _setup(init_seed)
    train, val_loader = _loaders()
    res = fit(model, nn.CrossEntropyLoss(), train, opt, epochs=kw.pop("epochs", EPOCHS),
              val_loader=val_loader if val else None, seed=seed, scheduler=sched, progress=False, **kw)
    return res, _weights(model)


# -- pick_device -------------------------------------------------------------------------
def test_pick_device_cpu_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device() == torch.device("cpu")
    assert pick_device(None) == torch.device("cpu")


def test_pick_device_prefers_cuda_when_available(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device().type == "cuda"


def test_pick_device_explicit_is_honoured(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device(torch.device("cpu")) == torch.device("cpu")
    assert pick_device("cuda:1") == torch.device("cuda", 1)


# -- make_optimizer ----------------------------------------------------------------------
def test_make_optimizer_one_group_per_name_with_its_lr():
    model = _model()
    opt = make_optimizer(_groups(model), {"body": 0.01, "head": 0.3}, momentum=0.5, weight_decay=1e-4)
    assert isinstance(opt, torch.optim.SGD)
    by_name = {g["name"]: g for g in opt.param_groups}
    assert set(by_name) == {"body", "head"}
    assert by_name["body"]["lr"] == 0.01 and by_name["head"]["lr"] == 0.3
    assert by_name["body"]["momentum"] == 0.5 and by_name["head"]["weight_decay"] == 1e-4
    assert [id(p) for p in by_name["body"]["params"]] == [id(p) for p in model[0].parameters()]
    assert [id(p) for p in by_name["head"]["params"]] == [id(p) for p in model[3].parameters()]


def test_make_optimizer_adamw_and_unknown_kind():
    model = _model()
    opt = make_optimizer(_groups(model), {"body": 1e-3, "head": 2e-3}, kind="adamw")
    assert isinstance(opt, torch.optim.AdamW)
    assert sorted(g["lr"] for g in opt.param_groups) == [1e-3, 2e-3]
    with pytest.raises(ValueError, match="adam"):
        make_optimizer(_groups(_model()), {"body": 1e-3, "head": 1e-3}, kind="adam")


def test_make_optimizer_lr_zero_freezes_group():
    model = _model()
    opt = make_optimizer(_groups(model), {"body": 0, "head": 0.1})
    assert [g["name"] for g in opt.param_groups] == ["head"]
    assert all(not p.requires_grad for p in model[0].parameters())
    assert all(p.requires_grad for p in model[3].parameters())
    in_opt = {id(p) for g in opt.param_groups for p in g["params"]}
    assert not in_opt & {id(p) for p in model[0].parameters()}

    # and training leaves the frozen group exactly as it was while the other one moves
    before = _weights(model)
    train, _ = _loaders()
    fit(model, nn.CrossEntropyLoss(), train, opt, epochs=1, progress=False)
    after = _weights(model)
    assert torch.equal(before["0.weight"], after["0.weight"]) and torch.equal(before["0.bias"], after["0.bias"])
    assert not torch.equal(before["3.weight"], after["3.weight"])


def test_make_optimizer_unknown_group_raises_naming_it():
    with pytest.raises(ValueError, match="bogus") as e:
        make_optimizer(_groups(_model()), {"body": 0.1, "head": 0.1, "bogus": 0.1})
    assert "unknown" in str(e.value)


def test_make_optimizer_missing_group_raises_naming_it():
    with pytest.raises(ValueError, match="head"):
        make_optimizer(_groups(_model()), {"body": 0.1})


def test_make_optimizer_all_zero_raises():
    with pytest.raises(ValueError, match="nothing to train"):
        make_optimizer(_groups(_model()), {"body": 0, "head": 0.0})


# -- argument checks ---------------------------------------------------------------------
@pytest.mark.parametrize("epochs", [0, -1])
def test_fit_rejects_epochs_below_one(epochs):
    model, opt, _ = _setup()
    train, _ = _loaders()
    with pytest.raises(ValueError, match="epochs"):
        fit(model, nn.CrossEntropyLoss(), train, opt, epochs=epochs, progress=False)


def test_fit_rejects_bad_monitor():
    model, opt, _ = _setup()
    train, val = _loaders()
    with pytest.raises(ValueError, match="monitor"):
        fit(model, nn.CrossEntropyLoss(), train, opt, epochs=1, val_loader=val, monitor="f1", progress=False)


# -- learning and repeatability ----------------------------------------------------------
def test_fit_learns_the_toy_problem_and_records_history():
    res, _ = _run(epochs=8)
    assert isinstance(res, FitResult)
    assert [r["epoch"] for r in res.history] == list(range(8))
    assert set(res.history[0]) == {"epoch", "train_loss", "train_loss_cls", "train_accuracy", "val_loss", "val_accuracy"}
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]
    assert res.best_metric >= 0.85  # a linearly separable problem
    assert res.best_metric == max(r["val_accuracy"] for r in res.history)
    assert res.resumed_from is None and not res.stopped_early
    assert res.wall_time_s > 0


def test_same_seed_twice_gives_identical_metrics_and_weights():
    res_a, w_a = _run(seed=7)
    torch.randn(1000)  # a different global RNG state before the second run must not matter
    res_b, w_b = _run(seed=7)
    assert res_a.history == res_b.history
    assert (res_a.best_epoch, res_a.best_metric) == (res_b.best_epoch, res_b.best_metric)
    _assert_same_weights(w_a, w_b)
    # the seed really drives shuffling/dropout: another seed gives another run
    res_c, w_c = _run(seed=8)
    assert res_c.history != res_a.history
    assert any(not torch.equal(w_a[k], w_c[k]) for k in w_a)


@pytest.mark.parametrize("with_val", [True, False], ids=["val", "noval"])
def test_resume_after_kill_matches_uninterrupted_run(tmp_path, with_val):
    full, w_full = _run(seed=3, val=with_val, checkpoint_path=tmp_path / "full.pt")

    ckpt = tmp_path / "run" / "ckpt.pt"
    killed, _ = _run(seed=3, val=with_val, checkpoint_path=ckpt, stop_after_epochs=2)
    assert len(killed.history) == 2 and ckpt.exists()
    assert torch.load(ckpt, weights_only=False)["epoch"] == 1

    # a new process: other RNG state, a model initialised differently, fresh optimizer + scheduler
    torch.manual_seed(999)
    torch.randn(1234)
    resumed, w_resumed = _run(seed=3, init_seed=42, val=with_val, checkpoint_path=ckpt)
    assert resumed.resumed_from == 2
    assert resumed.history == full.history
    assert resumed.best_epoch == full.best_epoch
    if with_val:  # without validation best_metric is NaN
        assert resumed.best_metric == full.best_metric
    _assert_same_weights(w_resumed, w_full)


def test_resume_twice_killed_and_finished_checkpoint(tmp_path):
    full, w_full = _run(seed=1)
    ckpt = tmp_path / "ckpt.pt"
    _run(seed=1, checkpoint_path=ckpt, stop_after_epochs=2)
    part, _ = _run(seed=1, init_seed=5, checkpoint_path=ckpt, stop_after_epochs=2)  # killed again
    assert part.resumed_from == 2 and len(part.history) == 4
    done, w_done = _run(seed=1, init_seed=6, checkpoint_path=ckpt)
    assert done.resumed_from == 4 and done.history == full.history
    _assert_same_weights(w_done, w_full)
    # running again on a finished checkpoint trains nothing more and returns the same run
    again, w_again = _run(seed=1, init_seed=7, checkpoint_path=ckpt)
    assert again.resumed_from == EPOCHS and again.history == full.history
    _assert_same_weights(w_again, w_full)


def test_checkpoint_is_written_atomically(tmp_path):
    folder = tmp_path / "ck"
    res, w = _run(seed=0, checkpoint_path=folder / "run.pt")
    assert sorted(p.name for p in folder.iterdir()) == ["run.pt"]  # no leftover temporary files
    state = torch.load(folder / "run.pt", weights_only=False)
    assert state["epoch"] == EPOCHS - 1
    assert state["history"] == res.history
    assert {"model", "optimizer", "scheduler", "best_state", "best_epoch", "best_metric"} <= set(state)


def test_atomic_save_keeps_old_file_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "ck.pt"
    atomic_torch_save({"v": torch.tensor([1.0])}, path)

    def broken_save(obj, f, *a, **k):  # writes half a file, then dies
        with open(f, "wb") as fh:
            fh.write(b"PK\x03\x04 partial")
        raise OSError("disk full")

    monkeypatch.setattr(loop.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        atomic_torch_save({"v": torch.tensor([2.0])}, path)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.pt"]
    assert torch.equal(torch.load(path, weights_only=True)["v"], torch.tensor([1.0]))


# -- early stopping ----------------------------------------------------------------------
def _random_label_val():
    """Validation data with random labels: its metric wanders, it cannot keep improving."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(40, 6, generator=g)
    return DataLoader(TensorDataset(x, torch.randint(0, 2, (40,), generator=g)), batch_size=16)


@pytest.mark.parametrize("monitor", ["accuracy", "loss"])
def test_early_stopping_restores_best_weights(tmp_path, monitor):
    patience, epochs = 3, 30
    model, opt, _ = _setup(lrs={"body": 0.1, "head": 0.1})
    train, _ = _loaders()
    val = _random_label_val()
    ckpt = tmp_path / "es.pt"
    res = fit(model, nn.CrossEntropyLoss(), train, opt, epochs=epochs, val_loader=val, patience=patience,
              monitor=monitor, checkpoint_path=ckpt, progress=False)
    assert res.stopped_early
    assert len(res.history) < epochs
    assert len(res.history) == res.best_epoch + patience + 1
    key = f"val_{monitor}"
    values = [r[key] for r in res.history]
    best = max(values) if monitor == "accuracy" else min(values)
    assert res.best_metric == best == values[res.best_epoch]
    assert values.index(best) == res.best_epoch  # the first epoch reaching the best value
    if monitor == "accuracy":
        assert res.best_epoch > 0  # (this toy run peaks later: the restored state is not just epoch 0's)
    # the last epoch was worse than the best one, and the model returned is the best epoch's
    assert values[-1] != best
    ev = evaluate_model(model, val, loss_fn=nn.CrossEntropyLoss())
    assert ev[monitor] == res.best_metric
    state = torch.load(ckpt, map_location="cpu", weights_only=False)  # saved from a GPU where training ran there
    _assert_same_weights(_weights(model), state["best_state"])
    assert any(not torch.equal(state["model"][k], state["best_state"][k]) for k in state["model"])
    # resuming a run that stopped early trains no further and returns the same best weights
    model2, opt2, _ = _setup(init_seed=11, lrs={"body": 0.1, "head": 0.1})
    res2 = fit(model2, nn.CrossEntropyLoss(), train, opt2, epochs=epochs, val_loader=val, patience=patience,
               monitor=monitor, checkpoint_path=ckpt, progress=False)
    assert res2.stopped_early and res2.history == res.history
    _assert_same_weights(_weights(model2), _weights(model))


def test_early_stopping_killed_mid_patience_resumes_identically(tmp_path):
    def run(ckpt=None, stop=None, init_seed=0):
        model, opt, _ = _setup(init_seed=init_seed, lrs={"body": 0.1, "head": 0.1})
        train, _ = _loaders()
        res = fit(model, nn.CrossEntropyLoss(), train, opt, epochs=30, val_loader=_random_label_val(),
                  patience=3, checkpoint_path=ckpt, stop_after_epochs=stop, progress=False)
        return res, _weights(model)

    full, w_full = run()
    assert full.stopped_early
    ckpt = tmp_path / "es.pt"
    killed, _ = run(ckpt, stop=full.best_epoch + 2)  # killed while waiting for an improvement
    assert not killed.stopped_early
    resumed, w_resumed = run(ckpt, init_seed=3)
    assert resumed.stopped_early and resumed.history == full.history
    assert resumed.best_epoch == full.best_epoch
    _assert_same_weights(w_resumed, w_full)


def test_no_early_stopping_without_patience():
    model, opt, _ = _setup(lrs={"body": 0.1, "head": 0.1})
    train, val = _loaders(flip_val=True)
    res = fit(model, nn.CrossEntropyLoss(), train, opt, epochs=6, val_loader=val, progress=False)
    assert not res.stopped_early and len(res.history) == 6


# -- regularizer, amp flag, progress -----------------------------------------------------
def _l2_norm(weights: dict) -> float:
    return float(sum(v.pow(2).sum() for v in weights.values()))


def test_regularizer_is_added_to_the_loss():
    _, w_plain = _run(seed=0, val=False)
    res_reg, w_reg = _run(seed=0, val=False,
                          regularizer=lambda m: 5.0 * sum(p.pow(2).sum() for p in m.parameters()))
    assert _l2_norm(w_reg) < 0.05 * _l2_norm(w_plain)

    # a constant term changes no gradient, only the reported loss, by exactly that constant
    res_plain, _ = _run(seed=0, val=False)
    res_const, w_const = _run(seed=0, val=False, regularizer=lambda m: torch.tensor(10.0))
    _assert_same_weights(w_const, w_plain)
    for a, b in zip(res_plain.history, res_const.history):
        assert b["train_loss"] - a["train_loss"] == pytest.approx(10.0, abs=1e-4)
        assert b["train_accuracy"] == a["train_accuracy"]


def test_after_step_runs_after_every_optimiser_step():
    calls = []

    def zero_first_weight(model, opt):
        calls.append(opt.state_dict()["state"] != {})  # the optimiser has stepped before the hook
        with torch.no_grad():
            next(model.parameters()).zero_()

    res, w = _run(seed=0, val=False, after_step=zero_first_weight)
    model, _, _ = _setup()
    train, _ = _loaders()
    assert len(calls) == EPOCHS * len(train) and all(calls)
    first = next(iter(w.values()))
    assert float(first.abs().sum()) == 0.0  # the last thing done to the weights was the hook


def test_amp_request_on_cpu_and_progress_bar_are_harmless(capsys):
    res_plain, w_plain = _run(seed=2, epochs=2, device="cpu")  # on a GPU machine amp=True would change the numbers
    res_amp, w_amp = _run(seed=2, epochs=2, amp=True, device="cpu")
    assert res_amp.history == res_plain.history
    _assert_same_weights(w_amp, w_plain)
    model, opt, _ = _setup()
    train, _ = _loaders()
    fit(model, nn.CrossEntropyLoss(), train, opt, epochs=2, progress=True, desc="toy")
    assert "toy" in capsys.readouterr().err


# -- evaluate_model ----------------------------------------------------------------------
def test_evaluate_model_matches_hand_computation():
    model = nn.Linear(2, 3)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]))
        model.bias.zero_()
    x = torch.tensor([[2.0, 0.0], [0.0, 2.0], [-1.0, -1.0], [1.0, 3.0], [3.0, 1.0]])
    # predictions by hand: argmax of (x0, x1, -x0-x1) -> 0, 1, 2, 1, 0
    y = torch.tensor([0, 1, 0, 0, 0])  # right, right, wrong, wrong, right -> 3/5
    loader = DataLoader(TensorDataset(x, y), batch_size=2)  # uneven batches: 2, 2, 1
    out = evaluate_model(model, loader, "cpu", loss_fn=nn.CrossEntropyLoss())
    assert out["accuracy"] == pytest.approx(0.6)
    assert out["y_pred"].tolist() == [0, 1, 2, 1, 0]
    assert out["y_true"].tolist() == y.tolist()
    logits = x @ model.weight.detach().T
    assert out["probs"] == pytest.approx(logits.softmax(1).numpy(), abs=1e-6)
    assert out["loss"] == pytest.approx(float(F.cross_entropy(logits, y)), abs=1e-6)  # per-sample mean
    assert "loss" not in evaluate_model(model, loader)
    assert not model.training


def test_evaluate_model_accepts_extra_batch_items():
    """Loaders of cached features yield (x, y, index); evaluation must ignore the extra item."""
    model = nn.Linear(2, 2)
    with torch.no_grad():
        model.weight.copy_(torch.eye(2))
        model.bias.zero_()
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [2.0, 1.0]])
    y = torch.tensor([0, 1, 0, 0])
    loader = DataLoader(TensorDataset(x, y, torch.arange(4)), batch_size=3)
    assert evaluate_model(model, loader)["accuracy"] == pytest.approx(0.75)


# -- damaged checkpoints, weights_only loading -------------------------------------------
@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_damaged_checkpoint_is_moved_aside_and_the_run_restarts(tmp_path, damage):
    full, w_full = _run(seed=4)
    ckpt = tmp_path / "fold0.pt"
    _run(seed=4, checkpoint_path=ckpt, stop_after_epochs=2)  # killed after 2 epochs
    data = ckpt.read_bytes()
    damaged = {"truncated": data[: len(data) // 2], "garbage": b"not a checkpoint" * 8, "empty": b""}[damage]
    ckpt.write_bytes(damaged)
    with pytest.warns(RuntimeWarning, match=re.escape(str(ckpt))) as rec:
        res, w = _run(seed=4, init_seed=0, checkpoint_path=ckpt)
    msg = str(rec[0].message)
    (bad,) = tmp_path.glob("fold0.pt.*.corrupt")  # <name>.<UTC time>.corrupt
    assert re.fullmatch(r"fold0\.pt\.\d{8}T\d{12}Z\.corrupt", bad.name)
    assert "restarting this run from epoch 0" in msg and f"moved it to {bad}" in msg
    # the bad file is kept beside it for inspection, and the run started from scratch ...
    assert bad.read_bytes() == damaged
    assert res.resumed_from is None and len(res.history) == EPOCHS
    # ... so it ends exactly like an uninterrupted run, and leaves a good checkpoint
    assert res.history == full.history
    _assert_same_weights(w, w_full)
    assert torch.load(ckpt, weights_only=True)["epoch"] == EPOCHS - 1


class _Planted:
    """Unpickling this (weights_only=False) runs code: it creates ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_checkpoint_is_read_with_weights_only(tmp_path):
    ckpt = tmp_path / "ckpt.pt"
    _run(seed=1, checkpoint_path=ckpt, stop_after_epochs=2)
    assert torch.load(ckpt, weights_only=True)["epoch"] == 1  # a plain checkpoint
    marker = tmp_path / "code-ran"
    state = torch.load(ckpt, weights_only=True)
    state["history"][0]["planted"] = _Planted(marker)
    torch.save(state, ckpt)  # a checkpoint that runs code when unpickled
    with pytest.warns(RuntimeWarning, match=re.escape(str(ckpt))):
        res, _ = _run(seed=1, checkpoint_path=ckpt)
    assert not marker.exists()  # never unpickled
    assert res.resumed_from is None and len(list(tmp_path.glob("ckpt.pt.*.corrupt"))) == 1


def test_only_the_last_corrupt_checkpoints_of_a_folder_are_kept(tmp_path):
    """Each damaged checkpoint set aside gets its own name (a second never overwrites the first); the folder
    keeps the KEEP_CORRUPT newest, and the warning names the file set aside and what was removed."""
    import os
    import time

    assert loop.KEEP_CORRUPT == 3
    ckpt = tmp_path / "fold0.pt"
    legacy = tmp_path / "fold1.pt.corrupt"  # the old naming, set aside long ago: the oldest of the folder
    legacy.write_bytes(b"old")
    os.utime(legacy, (time.time() - 86400, time.time() - 86400))
    set_aside = []
    for i in range(5):
        ckpt.write_bytes(f"damaged {i}".encode())
        with pytest.warns(RuntimeWarning) as rec:
            assert loop._read_checkpoint(ckpt, torch.device("cpu")) is None
        msg = str(rec[0].message)
        (moved,) = re.findall(r"moved it to (\S+\.corrupt)", msg)
        assert msg.startswith(f"checkpoint {ckpt} is unreadable") and "restarting this run from epoch 0" in msg
        set_aside.append(Path(moved))
        assert not ckpt.exists() and Path(moved).read_bytes() == f"damaged {i}".encode()
        if i >= 2:  # the folder held KEEP_CORRUPT already: the oldest goes, and the warning says so
            assert f"removed 1 older set-aside checkpoint(s) of {tmp_path}, keeping the last 3" in msg
        else:
            assert "removed" not in msg
    assert len(set(set_aside)) == 5  # every one had its own name
    left = sorted(tmp_path.glob("*.corrupt"))
    assert left == sorted(set_aside[-3:])  # the newest three, the legacy file and the two oldest removed
    assert [p.read_bytes() for p in sorted(left, key=lambda p: p.stat().st_mtime)] == [b"damaged 2", b"damaged 3",
                                                                                       b"damaged 4"]


def test_to_plain_round_trips_numpy_and_vsalib_dataclasses(tmp_path):
    from vsalib.regions.proposals import Proposals

    obj = {
        "arrays": [np.arange(6, dtype=np.float64).reshape(2, 3), np.arange(4, dtype=">i4")[::2],
                   np.array(["a", "bc"]), np.array(2.5, dtype=np.float32), np.ones(3, dtype=bool)],
        "scalars": (np.float64(0.1), np.int64(7), np.bool_(True), 3, "x", None),
        "proposals": Proposals(torch.rand(3, 4), torch.rand(3), "edgeboxes", (10, 8), "", {"n": 3, "a": np.float64(.5)}),
        "state": nn.BatchNorm1d(2).state_dict(),
    }
    path = tmp_path / "obj.pt"
    atomic_torch_save(obj, path)
    torch.load(path, weights_only=True)  # no pickled classes inside
    back = loop.safe_torch_load(path)
    for a, b in zip(obj["arrays"], back["arrays"]):
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    assert all(type(a) is type(b) and a == b for a, b in zip(obj["scalars"], back["scalars"]))
    p, q = obj["proposals"], back["proposals"]
    assert type(q) is Proposals and torch.equal(p.boxes, q.boxes) and torch.equal(p.objectness, q.objectness)
    assert (q.source, q.image_size, q.note, q.params) == (p.source, p.image_size, p.note, p.params)
    assert back["state"]._metadata == obj["state"]._metadata
    # what cannot be stored safely is refused when saving, naming where it sits
    with pytest.raises(TypeError, match=r"obj\['a'\]\[1\].*function"):
        atomic_torch_save({"a": [1, lambda: 0]}, tmp_path / "bad.pt")
    assert not (tmp_path / "bad.pt").exists()


# -- named loss terms --------------------------------------------------------------------------


def test_fit_sums_and_logs_named_loss_terms():
    """A step returns several named losses (a batch carrying more than (x, y)); fit back-propagates
    their sum and logs each term, and the default step is the single ``loss_cls`` term."""
    ce = nn.CrossEntropyLoss()

    class Extra(torch.utils.data.Dataset):  # batches as dicts: image, label, and a target "map"
        def __init__(self):
            self.d = _data()

        def __len__(self):
            return len(self.d)

        def __getitem__(self, i):
            x, y = self.d[i]
            return {"x": x, "y": y, "map": x[:2] * 0.5}

    def two_terms(model, batch, device):
        batch = {k: v.to(device) for k, v in batch.items()}
        logits = model(batch["x"])
        loss_map = F.mse_loss(logits, batch["map"])
        return loop.StepOutput({"loss_cls": ce(logits, batch["y"]), "loss_map": 0.1 * loss_map},
                               logits, batch["y"])

    model, opt, _ = _setup()
    res = fit(model, ce, DataLoader(Extra(), batch_size=8), opt, epochs=2, step=two_terms, progress=False,
              regularizer=lambda m: 1e-3 * m[0].weight.pow(2).sum(), regularizer_name="loss_l2")
    for row in res.history:
        assert {"train_loss_cls", "train_loss_map", "train_loss_l2", "train_accuracy"} <= set(row)
        assert row["train_loss"] == pytest.approx(row["train_loss_cls"] + row["train_loss_map"] + row["train_loss_l2"])
    plain, _ = _run(val=False, epochs=2)
    assert {k for k in plain.history[0] if k.startswith("train_loss")} == {"train_loss", "train_loss_cls"}
    assert plain.history[0]["train_loss"] == pytest.approx(plain.history[0]["train_loss_cls"])


def test_the_default_step_trains_exactly_as_a_classification_step():
    ce = nn.CrossEntropyLoss()
    a, wa = _run(val=False, epochs=2)
    model, opt, sched = _setup()
    train, _ = _loaders()
    fit(model, ce, train, opt, epochs=2, seed=0, scheduler=sched, progress=False, step=loop.classification_step(ce))
    _assert_same_weights(wa, _weights(model))


def test_evaluation_follows_the_models_device():
    """evaluate_model / predict_model send the batches where the model is unless told otherwise (after fit
    has moved it to a GPU, a plain call must not feed it CPU tensors)."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    assert loop.model_device(model) == torch.device("cpu")
    assert loop.model_device(nn.ReLU()) == torch.device("cpu")  # no parameters: the CPU
    moved = nn.Linear(4, 2).to("meta")
    assert loop.model_device(moved).type == "meta"
    loader = DataLoader(TensorDataset(torch.randn(6, 4), torch.tensor([0, 1, 0, 1, 0, 1])), batch_size=4)
    out = evaluate_model(model, loader)
    assert out["probs"].shape == (6, 2) and loop.predict_model(model, loader).shape == (6, 2)
