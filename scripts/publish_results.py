"""`make publish`: copy the finished real-data runs of a profile into the committed snapshot.

Reads the working results store ($VSALIB_RESULTS or results/), copies every record of the profile
whose provenance is complete and that holds results only (metrics, parameters, per-image predictions)
into results/published/, each atomically, then checks the whole snapshot (size, provenance, no
image-derived arrays). Commit results/published/ afterwards; the book's chapters and scoreboard read it.
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
    size = sum(p.stat().st_size for p in published.published_dir().rglob("*.json")) if published.published_dir().is_dir() else 0
    print(f"snapshot: {len(published.published_store())} records, {size / 2**20:.2f} MiB")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
