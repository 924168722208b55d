"""Fine-tune the global CNN baseline under DDP: ``torchrun --nproc_per_node=N -m vsalib.methods.finetune_ddp``.

One process per GPU (NCCL), or gloo processes on a CPU; every process trains on its shard of each
fold and only rank 0 writes checkpoints and records (:mod:`vsalib.train.distributed`). It lives
with the methods, not in ``vsalib.train``, so that the training core never imports a method.
"""

from __future__ import annotations

from vsalib.train.distributed import cleanup, init, is_main


def main(argv=None) -> int:
    """Fine-tune the global CNN baseline under DDP (one process per GPU, or gloo on CPU)."""
    import argparse

    from vsalib.data import Protocol, load_dataset, make_splits
    from vsalib.methods import global_cnn
    from vsalib.profiles import PROFILES, dataset_options, resolve_profile
    from vsalib.results import ResultStore

    ap = argparse.ArgumentParser(prog="torchrun ... -m vsalib.methods.finetune_ddp", description=main.__doc__)
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
