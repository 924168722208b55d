"""Multi-GPU training with PyTorch DDP, launched by ``torchrun``.

    torchrun --nproc_per_node=4 -m vsalib.methods.finetune_ddp --dataset twitter1 --subset five --profile paper

Each process calls :func:`init` (reads torchrun's RANK / WORLD_SIZE / LOCAL_RANK; NCCL on GPUs,
gloo on CPU), wraps its model with :func:`wrap`, and gives :func:`vsalib.train.fit` a loader built
by :func:`distributed_loader` (a ``DistributedSampler`` re-seeded every epoch by ``fit``). Only rank 0
writes checkpoints and results. The CPU path (gloo, two processes) is what the tests exercise.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import nn


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    return rank() == 0


def init(backend: str | None = None) -> torch.device:
    """Initialise the process group from torchrun's environment; return this process's device."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        raise RuntimeError("vsalib.train.distributed.init() expects torchrun's environment "
                           "(RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT); launch with torchrun")
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    if not is_distributed():
        dist.init_process_group(backend=backend)
    return device


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """DDP-wrap ``model`` on ``device`` (a no-op outside a process group)."""
    model = model.to(device)
    if not is_distributed():
        return model
    return nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def distributed_loader(dataset, batch_size: int, *, shuffle: bool = True, seed: int = 0,
                       drop_last: bool = False, num_workers: int = 0) -> torch.utils.data.DataLoader:
    """A loader whose sampler gives each rank its own shard (plain loader outside a process group)."""
    if not is_distributed():
        return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle,
                                           drop_last=drop_last, num_workers=num_workers)
    sampler = torch.utils.data.DistributedSampler(dataset, shuffle=shuffle, seed=seed, drop_last=drop_last)
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, sampler=sampler,
                                       drop_last=drop_last, num_workers=num_workers)


def cleanup() -> None:
    if is_distributed():
        dist.destroy_process_group()
