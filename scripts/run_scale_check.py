"""RoIAlign against crop scoring at both scales, on one fold's fine-tuned model (issue 16, item 5).

Scores 100 EdgeBoxes proposals of a seeded sample of the fold's test images by crop (Sun2016's way), by crop with
its boxes moved by up to 2 px (crop's agreement with itself), by RoIAlign at the model's input size and at a shorter
side of 600 px, and by RoIAlign with each region's surroundings masked out (a diagnostic), and writes one
``scalecheck-sun2016`` record per scoring to the working results store; ``make publish`` then puts them in the
snapshot, and *When do regions help?* shows them. The fold's model is the profile's fine-tuned whole-image model
(the stored one where its weights are here, else trained again by the fold runner). A finished check is not
measured again. Needs the dataset (VSALIB_DATA or ../shared/datasets).

    .venv/bin/python scripts/run_scale_check.py --dataset twitter1 --subset five --images 50
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parser() -> argparse.ArgumentParser:
    """The command line (the tests parse the README's printed command with it)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="cpu", help="the profile whose fine-tuned model is checked (default: cpu)")
    ap.add_argument("--dataset", default="twitter1")
    ap.add_argument("--subset", default="five")
    ap.add_argument("--backbone", default=None, help="default: the profile's")
    ap.add_argument("--seed", type=int, default=0, help="the fold seed of the split (default 0)")
    ap.add_argument("--fold", type=int, default=0, help="which fold (default 0)")
    ap.add_argument("--images", type=int, default=50, help="test images checked (default 50)")
    ap.add_argument("--boxes", type=int, default=100, help="EdgeBoxes proposals per image (default 100, Sun2016's)")
    ap.add_argument("--results-dir", default=None, help="working store (default: $VSALIB_RESULTS or results/)")
    return ap


def main(argv=None) -> int:
    args = parser().parse_args(argv)

    from vsalib.data import Protocol, load_dataset, make_splits
    from vsalib.methods import scale_check
    from vsalib.methods.global_cnn import GlobalFinetune
    from vsalib.profiles import dataset_options, resolve_profile
    from vsalib.results import ResultStore

    cfg = resolve_profile(args.profile, dataset=args.dataset, subset=args.subset, backbone=args.backbone)
    subset, options = dataset_options(cfg["dataset"], cfg["subset"], n_images=cfg["n_images"],
                                      image_size=cfg["image_size"])
    ds = load_dataset(cfg["dataset"], **options)
    proto = ds.protocol
    if proto.kind == "kfold":
        proto = Protocol("kfold", k=cfg["folds"], note=proto.note)
    splits = [s for s in make_splits(ds, proto, seed=args.seed) if s.fold == args.fold]
    if not splits:
        raise SystemExit(f"--fold {args.fold}: {ds.name} has no such fold under its protocol ({proto.kind})")
    trainer = GlobalFinetune(backbone=cfg["backbone"], image_size=cfg["image_size"], epochs=cfg["epochs"],
                             batch_size=cfg["batch_size"], lrs=cfg["lrs"],
                             finetune_from=None if cfg["full_finetune"] else cfg["finetune_from"], views=cfg["views"],
                             patience=cfg["patience"], progress=True)
    recs = scale_check.run(trainer, ds, splits[0], subset=subset, store=ResultStore(args.results_dir),
                           n_images=args.images, n_boxes=args.boxes, seed=args.seed)
    for r in recs:
        m = r.metrics
        print(f"{r.params['versus']:>20}: {m['seconds_per_image']:.3f} s/image"
              + (f", same top-1 {m['senti_top1']:.2f}, same place {m['senti_top1_iou50']:.2f}, "
                 f"top-10 overlap {m['senti_top10_overlap']:.2f}" if "senti_top1" in m else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
