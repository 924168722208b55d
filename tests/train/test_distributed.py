"""The DDP path (vsalib.train.distributed) on CPU: two gloo processes against one plain process.

DDP averages the gradients of the ranks' shards. With a ``DistributedSampler`` without shuffling,
8 samples and batch size 2, rank 0 sees batches [0, 2], [4, 6] and rank 1 sees [1, 3], [5, 7]; the
averaged gradient of a step is the mean over [0, 1, 2, 3] (then [4..7]), exactly what a single
process computes with batch size 4 in order. So plain SGD must give the same weights.
"""

from __future__ import annotations

import os
import socket
import time
import traceback

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from vsalib.train import distributed, fit, make_optimizer

WORLD = 2
EPOCHS = 2
LR = 0.2
JOIN_TIMEOUT_S = 240  # generous for a loaded CI machine; a hung process group fails, never hangs


def _dataset() -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 4, generator=g)
    y = torch.tensor([0, 1, 1, 0, 1, 0, 0, 1])
    return TensorDataset(x, y)


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Linear(4, 2)


def _optimizer(model: nn.Module) -> torch.optim.Optimizer:
    return make_optimizer({"all": list(model.parameters())}, {"all": LR}, momentum=0.0)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, out: str) -> None:
    """One torchrun-like process (module level: picklable under the spawn start method)."""
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    try:
        device = distributed.init("gloo")
        info = {"rank": distributed.rank(), "world_size": distributed.world_size(),
                "is_main": distributed.is_main(), "device": str(device)}
        model = distributed.wrap(_model(), device)
        info["wrapped"] = isinstance(model, nn.parallel.DistributedDataParallel)
        loader = distributed.distributed_loader(_dataset(), batch_size=2, shuffle=False)
        info["sampler"] = type(loader.sampler).__name__
        info["shard"] = [int(i) for i in loader.sampler]
        opt = _optimizer(model)
        ckpt = os.path.join(out, f"ckpt_rank{rank}.pt")
        res = fit(model, nn.CrossEntropyLoss(), loader, opt, epochs=EPOCHS, seed=0, device=device,
                  checkpoint_path=ckpt, progress=False)
        info["epochs_run"] = len(res.history)
        state = {k: v.detach().cpu().clone() for k, v in model.module.state_dict().items()}
        torch.save({"state": state, "info": info}, os.path.join(out, f"rank{rank}.pt"))
    except BaseException:
        with open(os.path.join(out, f"rank{rank}.err"), "w") as fh:
            fh.write(traceback.format_exc())
        raise
    finally:
        distributed.cleanup()


def _run_two_processes(out) -> None:
    ctx = torch.multiprocessing.get_context("spawn")
    port = _free_port()
    procs = [ctx.Process(target=_ddp_worker, args=(r, WORLD, port, str(out)), daemon=True) for r in range(WORLD)]
    for p in procs:
        p.start()
    deadline = time.monotonic() + JOIN_TIMEOUT_S
    try:
        for p in procs:
            p.join(max(0.0, deadline - time.monotonic()))
        hung = [r for r, p in enumerate(procs) if p.is_alive()]
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join(5)
    errors = "\n".join(f"--- rank {r} ---\n{(out / f'rank{r}.err').read_text()}"
                       for r in range(WORLD) if (out / f"rank{r}.err").exists())
    if hung:
        pytest.fail(f"DDP ranks {hung} still running after {JOIN_TIMEOUT_S}s; killed.\n{errors}")
    codes = [p.exitcode for p in procs]
    if any(codes):
        pytest.fail(f"DDP worker exit codes {codes}\n{errors}")


def test_ddp_two_gloo_processes_match_single_process(tmp_path):
    _run_two_processes(tmp_path)
    results = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]

    for r, res in enumerate(results):
        info = res["info"]
        assert info["rank"] == r and info["world_size"] == WORLD and info["is_main"] == (r == 0)
        assert info["device"] == "cpu" and info["wrapped"] and info["sampler"] == "DistributedSampler"
        assert info["epochs_run"] == EPOCHS
    assert results[0]["info"]["shard"] == [0, 2, 4, 6]
    assert results[1]["info"]["shard"] == [1, 3, 5, 7]

    # only rank 0 writes checkpoints
    assert (tmp_path / "ckpt_rank0.pt").exists()
    assert not (tmp_path / "ckpt_rank1.pt").exists()
    ckpt = torch.load(tmp_path / "ckpt_rank0.pt", weights_only=False)
    assert ckpt["epoch"] == EPOCHS - 1

    # both ranks hold the same weights ...
    w0, w1 = results[0]["state"], results[1]["state"]
    assert w0.keys() == w1.keys()
    for k in w0:
        assert torch.equal(w0[k], w1[k]), f"ranks disagree on {k}"

    # ... which equal one process with batch size 4 over the same samples in order
    model = _model()
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    fit(model, nn.CrossEntropyLoss(), DataLoader(_dataset(), batch_size=4, shuffle=False), _optimizer(model),
        epochs=EPOCHS, seed=0, device="cpu", progress=False)
    single = model.state_dict()
    for k in w0:
        assert not torch.allclose(single[k], initial[k], atol=1e-3), "the reference run did not train"
        assert torch.allclose(w0[k], single[k], atol=1e-6, rtol=0), \
            f"{k}: DDP {w0[k].tolist()} vs single process {single[k].tolist()}"
    # (and the shard-averaging is what makes them equal: batch size 2 in one process differs)
    model2 = _model()
    fit(model2, nn.CrossEntropyLoss(), DataLoader(_dataset(), batch_size=2, shuffle=False), _optimizer(model2),
        epochs=EPOCHS, seed=0, device="cpu", progress=False)
    assert any(not torch.allclose(w0[k], model2.state_dict()[k], atol=1e-4) for k in w0)


# -- outside a process group -------------------------------------------------------------
def test_helpers_outside_a_process_group():
    assert not distributed.is_distributed()
    assert distributed.rank() == 0
    assert distributed.world_size() == 1
    assert distributed.is_main()
    model = nn.Linear(3, 2)
    assert distributed.wrap(model, torch.device("cpu")) is model
    distributed.cleanup()  # a no-op, not an error


@pytest.mark.parametrize("shuffle", [False, True])
def test_distributed_loader_is_plain_outside_a_process_group(shuffle):
    loader = distributed.distributed_loader(_dataset(), batch_size=3, shuffle=shuffle, drop_last=True)
    assert type(loader) is DataLoader
    assert not isinstance(loader.sampler, torch.utils.data.DistributedSampler)
    expected = torch.utils.data.RandomSampler if shuffle else torch.utils.data.SequentialSampler
    assert isinstance(loader.sampler, expected)
    assert loader.batch_size == 3 and loader.drop_last
    assert sum(len(b[1]) for b in loader) == 6  # 8 samples, batch 3, last partial batch dropped
    if not shuffle:
        assert torch.equal(torch.cat([b[0] for b in loader]), _dataset().tensors[0][:6])


def test_init_without_torchrun_env_raises(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(RuntimeError, match="torchrun"):
        distributed.init("gloo")
    monkeypatch.setenv("RANK", "0")  # half the environment is still not enough
    with pytest.raises(RuntimeError, match="torchrun"):
        distributed.init()
    assert not distributed.is_distributed()
