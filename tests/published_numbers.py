"""Every number the book shows from the published snapshot, as the text a reader sees.

``collect()`` runs what the chapters run on the snapshot (each chapter's section "On the real benchmarks" and
its findings, the scoreboard, *When do regions help?* on each Twitter I subset) and keeps every table and
sentence they display: tables as their formatted cells with their captions, sentences as Markdown. Figures are
left out (their numbers are in the tables beside them). ``tests/test_published.py`` compares it with
``tests/published_numbers.json``, written from the snapshot by

    .venv/bin/python tests/published_numbers.py --write

so a change of how the snapshot is stored or read (the move from one JSON file per record to Parquet parts,
for one) is checked to change no number the book shows. A change of the snapshot's content, or of how a chapter
computes its numbers, rewrites the file on purpose, in the same commit.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NUMBERS = Path(__file__).with_name("published_numbers.json")
#: Text that names where a number is stored rather than the number (a record file's path): masked.
_PATHS = re.compile(r"(/[^\s'\"]*results/published[^\s'\"]*)")


def _text(obj) -> dict:
    import pandas as pd
    from IPython.display import HTML, Markdown

    if isinstance(obj, Markdown):
        return {"markdown": _PATHS.sub("<snapshot>", obj.data)}
    if isinstance(obj, HTML):
        return {"html": _PATHS.sub("<snapshot>", obj.data)}
    if isinstance(obj, dict) and "image/png" in obj:  # a figure (plots.show): what its alt text says it shows
        return {"figure": obj.get("text/plain", "")}
    if isinstance(obj, pd.DataFrame):
        obj = obj.style
    data = obj.data  # a pandas Styler (report.show): its formatted cells and caption
    return {"caption": obj.caption, "columns": [str(c) for c in data.columns],
            "rows": [[str(v) for v in row] for row in data.itertuples(index=False)]}


def collect(profile: str = "cpu") -> dict[str, list[dict]]:
    """``{page: [shown object, ...]}`` for every page that reads the snapshot."""
    import IPython.display
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vsalib import chapters, meta_analysis, published, real_benchmarks, region_gains, report, scoreboard
    from vsalib.methods import attr_study, multilevel_study, rcnngsr, rcnngsr_study, sun2016_study, wsidnet_study

    shown: list[dict] = []
    real_display = IPython.display.display

    def display(*objs, **_):
        shown.extend(_text(o) for o in objs)

    IPython.display.display = display
    out: dict[str, list[dict]] = {}
    try:
        claims = {"sun2016": lambda r, d, s: sun2016_study.claims(r, d, s),
                  "rcnngsr": lambda r, d, s: rcnngsr_study.contributions(r, d, reading="sum", xi=rcnngsr.PAPER_XI),
                  "wsidnet": lambda r, d, s: wsidnet_study.claims(r, d, s),
                  "multilevel-rcnn": lambda r, d, s: multilevel_study.claims(r, d, s),
                  "attr-attention": lambda r, d, s: attr_study.claims(r)}
        for chapter in ("global_baseline", *claims):
            shown.clear()
            real = real_benchmarks.section(chapter)
            plt.close("all")
            if chapter in claims:
                verdicts = {name: claims[chapter](r, d, s) for name, d, s, r in real_benchmarks.per_protocol(real)}
                display(IPython.display.Markdown(report.findings(verdicts)))
                if chapter == "wsidnet":
                    display(IPython.display.Markdown(wsidnet_study.graph_verdict(verdicts)))
            out[chapter] = list(shown)

        shown.clear()
        runs = published.load()
        board = scoreboard.scoreboard(profile=profile)
        display(report.show(scoreboard.formatted(board), "scoreboard"))
        display(report.show(scoreboard.verdict_counts(board), "verdict counts"))
        display(IPython.display.Markdown(report.verdict_tally(board["verdict"].value_counts().to_dict(), len(board))))
        display(IPython.display.Markdown(scoreboard.global_correction_sentence(board)))
        display(IPython.display.Markdown(scoreboard.undecided_sentence(board)))
        display(report.show(scoreboard.undecided(board), "undecided claims"))
        pooled_claims = meta_analysis.pooled_claims(board)
        pooled = meta_analysis.pool(pooled_claims)
        display(report.show(pooled_claims, "pooled claims"))
        display(report.show(meta_analysis.summary(pooled), "pooled region gain"))
        display(IPython.display.Markdown(meta_analysis.answer(pooled, pooled_claims)))
        for chapter in claims:
            for ds, sub in chapters.datasets(chapter):
                r = chapters.chapter_runs(chapter, ds, sub, profile=profile, runs=runs)
                if len(r):
                    display(IPython.display.Markdown(published.provenance_line(r) + " " + published.stale_note(r)))
        out["scoreboard"] = list(shown)

        gains = region_gains.region_claims(board)
        for subset in ("five", "four", "three"):
            shown.clear()
            display(report.show(gains, "region claims"))
            display(IPython.display.Markdown(region_gains.ladder_sentence(gains, {})))
            lad = region_gains.sun2016_ladder(runs, "twitter1", subset)
            display(report.show(lad.drop(columns=["per fold"], errors="ignore"), "ladder"))
            display(IPython.display.Markdown(region_gains.method_ladder_sentence(lad)))
            display(IPython.display.Markdown(region_gains.trend_sentence(region_gains.ladder_trend(lad), "rungs",
                                                                         "folds", region_gains.ladder_trend_by_fold(lad))))
            display(IPython.display.Markdown(region_gains.trend_sentence(region_gains.claims_trend(board), "claims",
                                                                         "images")))
            agree = region_gains.scoring_agreement(runs, "twitter1", subset, profile)
            display(report.show(agree, "agreement"))
            if len(agree):
                display(IPython.display.Markdown(region_gains.agreement_sentence(agree)))
            comp = region_gains.scoring_comparison(runs, "twitter1", subset, profile)
            display(report.show(comp, "scoring comparison"))
            scale = region_gains.scale_check_table(runs, "twitter1", subset, profile)
            display(report.show(scale, "scale check"))
            controls = region_gains.control_claims(board)
            display(report.show(controls, "controls"))
            display(IPython.display.Markdown(region_gains.control_sentence(controls, {})))
            display(report.show(region_gains.power_table(board), "power"))
            display(IPython.display.Markdown(region_gains.open_measurements(lad, runs, "twitter1", subset, profile)))
            display(IPython.display.Markdown(region_gains.conclusion(gains, board, comp, scale)))
            out[f"regions_help {subset}"] = list(shown)
    finally:
        IPython.display.display = real_display
    return out


def differences(current: dict, saved: dict) -> list[str]:
    """Where ``current`` shows another number than ``saved`` (``[]`` when every shown object is the same)."""
    problems = []
    for page in sorted(set(current) | set(saved)):
        a, b = current.get(page), saved.get(page)
        if a is None or b is None:
            problems.append(f"{page}: {'not shown now' if a is None else 'not in the saved numbers'}")
            continue
        if len(a) != len(b):
            problems.append(f"{page}: {len(a)} objects shown, {len(b)} saved")
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                problems.append(f"{page}, object {i} ({y.get('caption') or next(iter(y))}): "
                                f"{json.dumps(x)[:300]} != {json.dumps(y)[:300]}")
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write", action="store_true", help=f"write {NUMBERS.relative_to(ROOT)} from the snapshot")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    current = collect()
    if args.write:
        NUMBERS.parent.mkdir(parents=True, exist_ok=True)
        NUMBERS.write_text(json.dumps(current, indent=0, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {NUMBERS}: " + ", ".join(f"{p} ({len(v)})" for p, v in current.items()))
        return 0
    problems = differences(current, json.loads(NUMBERS.read_text(encoding="utf-8")))
    print("\n".join(problems) or "every number the book shows is the saved one")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
