"""`make results`: the chapters on the real benchmarks with the `cpu` profile.

A grid of independent jobs (:mod:`vsalib.grid`), one per configuration below and seed, each the chapter's
notebook executed by papermill with that seed, run by Dask distributed: a local cluster by default (one worker
per two cores: a 2-core laptop runs one job at a time), or the scheduler given by ``--scheduler tcp://host:8786``
(a SLURM allocation through dask-jobqueue, one worker per GPU: the book's *Rerunning the study*). Once every job
is done, each configuration's notebook runs once more over all its seeds (it reads the store) and is written to
results/notebooks/. Failed jobs are listed with their parameters and logs (results/grid/); the others go on.

- ``global_baseline``: Twitter I five/four/three-agree and Twitter II (5-fold CV), EmotionROI (binary, its
  fixed split, three seeds) and R-CNNGSR's
  datasets (Emotion6, IAPS, ArtPhoto, Abstract; binary, 75/20/5 split over three seeds);
- ``sun2016``: Twitter I five/four/three-agree and Twitter II (5-fold CV), Table 1 and Fig. 4 of Sun et al.;
- ``rcnngsr``: Emotion6, IAPS, ArtPhoto, Abstract (binary, 75/20/5 split over three seeds), Table 2 and
  Fig. 5 of R-CNNGSR;
- ``wsidnet``: Twitter I five/four/three-agree and Twitter II (5-fold CV) and EmotionROI (binary, its fixed
  split, three seeds): WSIDNet's Table 2, the graph controls and the k and λ sweeps;
- ``wsidnet-graph``: the same chapter's main rows and controls alone (no k or λ sweep) on Twitter I five-agree,
  Twitter II and EmotionROI, the runs that decide whether the graph matters;
- ``multilevel-rcnn``: EmotionROI (binary, its fixed split, three seeds) and Twitter I five/four/three-agree
  (5-fold CV): MultiLevelRCNN's Tables 1-3 with the random-box and grid controls, and the λ sweep of Fig. 8;
- ``attr-attention``: Emotion6 (folder polarity, three random 80/10/10 splits): AttrAttention's four variants
  (image only, true, predicted and attribute alone) with the dominant emotion as the attribute, augmentation
  before vs after the split, and the degenerate folder-emotion attribute;
- ``multilevel-protocols``: MultiLevelRCNN on EmotionROI under Rao's per-category 5-fold protocol (binary) and
  on EmotionROI's six emotions (its fixed split, three seeds): Table 3's second protocol and the 6-class column;
- ``regions-help``: the runs of *When do regions help?* (Twitter I, Sun2016): three repetitions of the grouped
  5-fold CV on each subset (fold seeds 0, 1, 2: seed 0 is ``sun2016``'s), crop scoring on five-agree, and the
  ladder's rungs on five-agree (Sun2016 on the frozen features' classifier; every layer fine-tuned; EfficientNet-Lite1
  and -Lite2 at their own 240 and 260 px, each also on its frozen features; Lite0 on 96, 128 and 160-px images with
  its regions scored at 224 px, the lower rungs);
- ``ladder-low``: the lower rungs alone;
- ``rcnngsr-seeds``, ``attr-attention-seeds``: seeds 3 and 4 of R-CNNGSR's and AttrAttention's Emotion6 splits
  (five in all with the chapters' three), for the claims that three seeds leave undecided.

Datasets not found under the data root are skipped with a line that says so. ``make publish`` then
copies the finished runs into the committed snapshot (results/published/).

Every fold is a record in the results store, so the book's chapters show them beside the papers'
figures, and an interrupted run resumes where it stopped (a finished job is skipped, a chapter re-run skips
finished folds; jobs running at once write one store without loss).
Needs the datasets (VSALIB_DATA or ../shared/datasets).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vsalib import grid  # noqa: E402
from vsalib.data import is_available  # noqa: E402
from vsalib.grid import run_name  # noqa: E402,F401  (the executed notebooks' names)

TWITTER = [{"dataset": "twitter1", "subset": s} for s in ("five", "four", "three")] + [{"dataset": "twitter2"}]
# R-CNNGSR's four datasets, binary labels, its 75/20/5 random split over three seeds
RCNNGSR = [{"dataset": d, "subset": "binary", "seeds": [0, 1, 2]} for d in ("emotion6", "iaps", "artphoto", "abstract")]
#: The ladder's lower rungs: Lite0 on 96/128/160-px images, its regions scored at 224 px from the original image.
LOWER = [{"dataset": "twitter1", "subset": "five", "image_size": px, "region_size": 224} for px in (96, 128, 160)]
CONFIGS = {  # chapter -> (notebook, configurations); datasets that are not here are skipped
    "global_baseline": ("global_baseline.ipynb", TWITTER + RCNNGSR
                        + [{"dataset": "emotionroi", "subset": "binary", "seeds": [0, 1, 2]}]),
    "sun2016": ("sun2016_affective_regions.ipynb", TWITTER),
    "rcnngsr": ("rcnngsr.ipynb", RCNNGSR),
    "wsidnet": ("wsidnet.ipynb", TWITTER + [{"dataset": "emotionroi", "subset": "binary", "seeds": [0, 1, 2]}]),
    "wsidnet-graph": ("wsidnet.ipynb", [  # the main rows and the graph controls first, without the k and λ sweeps
        {"dataset": "twitter1", "subset": "five", "ks": [4], "lams": [0.1]},
        {"dataset": "twitter2", "ks": [4], "lams": [0.1]},
        {"dataset": "emotionroi", "subset": "binary", "seeds": [0, 1, 2], "ks": [4], "lams": [0.1]}]),
    "multilevel-rcnn": ("multilevel_rcnn.ipynb", [{"dataset": "emotionroi", "subset": "binary", "seeds": [0, 1, 2]}]
                        + TWITTER[:3]),
    "attr-attention": ("attr_attention.ipynb", [{"dataset": "emotion6", "subset": "binary", "seeds": [0, 1, 2]}]),
    "multilevel-protocols": ("multilevel_rcnn.ipynb", [
        {"dataset": "emotionroi", "subset": "binary", "protocol": "per_category", "seeds": [0]},
        {"dataset": "emotionroi", "subset": "emotion", "seeds": [0, 1, 2]}]),
    "regions-help": ("sun2016_affective_regions.ipynb", [
        *({**c, "seeds": [0, 1, 2]} for c in TWITTER[:3]),
        {"dataset": "twitter1", "subset": "five", "scoring": "crop"},
        {"dataset": "twitter1", "subset": "five", "full_finetune": True},
        {"dataset": "twitter1", "subset": "five", "on_frozen": True},
        {"dataset": "twitter1", "subset": "five", "backbone": "efficientnet_lite1", "image_size": 240, "on_frozen": True},
        {"dataset": "twitter1", "subset": "five", "backbone": "efficientnet_lite2", "image_size": 260, "on_frozen": True},
        *LOWER]),
    "ladder-low": ("sun2016_affective_regions.ipynb", LOWER),  # the lower rungs alone
    # two more seeds of the 75/20/5 and 80/10/10 splits on Emotion6, for the claims three seeds leave undecided
    "rcnngsr-seeds": ("rcnngsr.ipynb", [{"dataset": "emotion6", "subset": "binary", "seeds": [3, 4]}]),
    "attr-attention-seeds": ("attr_attention.ipynb", [{"dataset": "emotion6", "subset": "binary", "seeds": [3, 4]}]),
}


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="cpu", choices=["cpu", "paper"])
    ap.add_argument("--only", nargs="*", help="dataset names to run (default: all available)")
    ap.add_argument("--subsets", nargs="*", help="subsets to run (default: all)")
    ap.add_argument("--chapters", nargs="*", choices=list(CONFIGS), default=list(CONFIGS),
                    help="chapters to run, in this order (default: all)")
    ap.add_argument("--scheduler", help="address of a running Dask scheduler (default: a local cluster)")
    ap.add_argument("--workers", type=int, help="workers of the local cluster (default: one per two cores, or per GPU)")
    ap.add_argument("--list", action="store_true", help="print the jobs and stop")
    return ap


def main(argv=None) -> int:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # kernels inherit it (see vsalib/__init__.py)
    ap = parser()
    args = ap.parse_args(argv)
    wanted = {cfg["dataset"] for c in args.chapters for cfg in CONFIGS[c][1]}
    for name in sorted(d for d in wanted if (not args.only or d in args.only) and not is_available(d)):
        print(f"skip {name}: not found (set VSALIB_DATA)")
    jobs, finals = grid.notebook_jobs(args.chapters, profile=args.profile, datasets=args.only, subsets=args.subsets,
                                      configs=CONFIGS)
    if args.list:
        print("\n".join(j.describe() for j in jobs) + f"\n{len(jobs)} jobs, then {len(finals)} chapter runs")
        return 0
    t0 = time.perf_counter()
    results = grid.run_grid(jobs, finals, scheduler=args.scheduler, n_workers=args.workers,
                            out_dir=ROOT / "results" / "notebooks")
    failed = [r for r in results if r["status"] == "failed"]
    print(f"{len(results) - len(failed)} jobs done or already done, {len(failed)} failed, "
          f"{time.perf_counter() - t0:.0f} s")
    for r in failed:
        print(f"failed: {r['job']}: {r['error']} (log: {r['log']})")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
