"""`make results`: the chapters on the real benchmarks with the `cpu` profile.

A grid of independent jobs (:mod:`vsalib.grid`), one per configuration and seed of a chapter's job groups, each the
chapter's notebook executed by papermill with that seed, run by Dask distributed: a local cluster by default (one worker
per two cores: a 2-core laptop runs one job at a time), or the scheduler given by ``--scheduler tcp://host:8786``
(a SLURM allocation through dask-jobqueue, one worker per GPU: the book's *Rerunning the study*). Once every job
is done, each configuration's notebook runs once more over all its seeds (it reads the store) and is written to
results/notebooks/. Failed jobs are listed with their parameters and logs (results/grid/); the others go on.

Each chapter declares its groups of jobs (its :class:`vsalib.chapters.Chapter`'s ``runs``: the chapter's own runs,
then further measurements such as more seeds or another protocol); ``--help`` lists them, ``--list`` the jobs.

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

from vsalib import chapters, grid  # noqa: E402
from vsalib.data import is_available  # noqa: E402
from vsalib.grid import run_name  # noqa: E402,F401  (the executed notebooks' names)

#: ``{group: (notebook, configurations)}``: every chapter's ``make results`` groups (vsalib.chapters.run_groups).
CONFIGS = chapters.run_groups()


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="chapters (job groups):\n" + chapters.run_group_help())
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
