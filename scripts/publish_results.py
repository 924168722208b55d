"""`make publish`: copy the finished real-data runs of a profile into the committed snapshot.

Reads the working results store ($VSALIB_RESULTS or results/) and adds every record of the profile whose
provenance is complete, that holds results only (metrics, parameters, per-image predictions) and that the
snapshot does not hold already with the same content to results/published/ as new Parquet parts (one runs
part and one predictions part per dataset and method family; old parts are never rewritten), then checks the
whole snapshot (size, provenance, no image-derived arrays). Commit results/published/ afterwards; the book's
chapters and scoreboard read it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vsalib import published  # noqa: E402
from vsalib.results import default_results_dir  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="cpu", help="the profile whose runs are published (default: cpu)")
    ap.add_argument("--source", default=None, help="working store (default: $VSALIB_RESULTS or results/)")
    ap.add_argument("--datasets", nargs="*", help="only these datasets (default: every real one)")
    args = ap.parse_args(argv)
    source = Path(args.source) if args.source else default_results_dir()
    counts = published.publish(source, profile=args.profile, datasets=args.datasets)
    print(f"{source} -> {published.published_dir()}: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    problems = published.check()
    for p in problems:
        print("problem:", p)
    root = published.published_dir()
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) if root.is_dir() else 0
    print(f"snapshot: {published.record_count()} records, {size / 2**20:.2f} MiB (limit {published.MAX_BYTES / 2**20:.0f} MiB)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
