"""`make results`: the global baseline on the real benchmarks with the `cpu` profile.

Executes notebooks/global_baseline.ipynb with papermill once per configuration below (Twitter I
five/four/three-agree with 5-fold CV; Emotion6 binary with R-CNNGSR's 75/20/5 split over three
seeds), writing the executed notebooks to results/notebooks/. Every fold is a record in the results
store, so the book's global-baseline chapter shows them beside the papers' figures, and an
interrupted run resumes where it stopped. Needs the datasets (VSALIB_DATA or ../shared/datasets).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import papermill as pm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vsalib.data import is_available  # noqa: E402

CONFIGS = [
    {"dataset": "twitter1", "subset": "five"},
    {"dataset": "twitter1", "subset": "four"},
    {"dataset": "twitter1", "subset": "three"},
    {"dataset": "emotion6", "subset": "binary", "seeds": [0, 1, 2]},
]


def main(argv=None) -> int:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # kernels inherit it (see vsalib/__init__.py)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="cpu", choices=["cpu", "paper"])
    ap.add_argument("--only", nargs="*", help="dataset names to run (default: all available)")
    args = ap.parse_args(argv)
    out = ROOT / "results" / "notebooks"
    out.mkdir(parents=True, exist_ok=True)
    for cfg in CONFIGS:
        if args.only and cfg["dataset"] not in args.only:
            continue
        if not is_available(cfg["dataset"]):
            print(f"skip {cfg['dataset']}: not found (set VSALIB_DATA)")
            continue
        name = f"global_baseline_{args.profile}_{cfg['dataset']}_{cfg.get('subset') or 'all'}.ipynb"
        t0 = time.perf_counter()
        pm.execute_notebook(str(ROOT / "notebooks" / "global_baseline.ipynb"), str(out / name),
                            parameters={"profile": args.profile, **cfg}, cwd=str(ROOT / "notebooks"),
                            progress_bar=False)
        print(f"{name}: {time.perf_counter() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
