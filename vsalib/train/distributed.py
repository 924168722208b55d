"""Multi-GPU training with PyTorch DDP, launched by ``torchrun``.

    torchrun --nproc_per_node=4 -m vsalib.train.distributed --dataset twitter1 --subset five --profile paper

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


def main(argv=None) -> int:
    """Fine-tune the global CNN baseline under DDP (one process per GPU, or gloo on CPU)."""
    import argparse

    from vsalib.data import Protocol, load_dataset, make_splits
    from vsalib.methods import global_cnn
    from vsalib.profiles import PROFILES, dataset_options, resolve_profile
    from vsalib.results import ResultStore

    ap = argparse.ArgumentParser(prog="torchrun ... -m vsalib.train.distributed", description=main.__doc__)
    ap.add_argument("--profile", default="paper", choices=sorted(PROFILES))
    ap.add_argument("--dataset")
    ap.add_argument("--subset")
    ap.add_argument("--backbone")
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--folds", type=int)
    ap.add_argument("--seeds", type=int, nargs="+")
    ap.add_argument("--data-root")
    ap.add_argument("--results-dir")
    ap.add_argument("--backend", choices=["nccl", "gloo"])
    args = ap.parse_args(argv)
    device = init(args.backend)
    try:
        cfg = resolve_profile(args.profile, dataset=args.dataset, backbone=args.backbone, epochs=args.epochs,
                              folds=args.folds, seeds=args.seeds)
        subset, options = dataset_options(cfg["dataset"], args.subset or cfg["subset"], n_images=cfg["n_images"],
                                          image_size=cfg["image_size"])
        ds = load_dataset(cfg["dataset"], data_root=args.data_root, **options)
        protocol = Protocol("kfold", k=cfg["folds"]) if ds.protocol.kind == "kfold" else ds.protocol
        splits = [s for seed in cfg["seeds"] for s in make_splits(ds, protocol, seed=seed)]
        records = global_cnn.run_finetune(
            ds, splits, backbone=cfg["backbone"], image_size=cfg["image_size"], subset=subset,
            epochs=cfg["epochs"], batch_size=cfg["batch_size"], lrs=cfg["lrs"],
            finetune_from=None if cfg["full_finetune"] else cfg["finetune_from"], views=cfg["views"],
            patience=cfg["patience"], store=ResultStore(args.results_dir), device=device, progress=is_main())
        if is_main():
            for r in records:
                print(f"seed {r.seed} fold {r.fold}: accuracy {100 * r.metrics['accuracy']:.2f}")
    finally:
        cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
