"""The scoreboard: every claim of every paper on every dataset we ran, and our verdict, in one table.

Built from the published snapshot only (:mod:`vsalib.published`). One row per (paper, dataset, claim):
the paper's figure for the row that makes the claim and its gain over the row it is compared with, ours
(mean ± 95 % CI over folds or splits, n), our paired gain and the verdict of
:func:`vsalib.evaluate.paired_gain`, the measured cost per image of the method's region step, and the
majority-class rate of the test images (what always guessing the larger class would score).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vsalib import published, report
from vsalib.methods import rcnngsr, sun2016

PAPER_NAMES = {"sun2016": "Sun2016", "rcnngsr": "R-CNNGSR"}
#: The Eq. 3 reading the scoreboard uses for R-CNNGSR (the chapter shows both): the equation as printed.
RCNNGSR_READING = "sum"


def majority_rate(runs: pd.DataFrame) -> float:
    """Percentage of the pooled test labels (one fine-tuned global run per fold) in the largest class."""
    ft = runs[runs["method"] == "global-finetune"] if len(runs) else runs
    if not len(ft) or "extra.y_true" not in ft:
        return float("nan")
    y = np.concatenate([np.asarray(v) for v in ft["extra.y_true"] if isinstance(v, list)])
    return 100 * float(np.bincount(y.astype(int)).max() / len(y)) if len(y) else float("nan")


def _seconds(runs: pd.DataFrame, method: str) -> float:
    sel = runs[runs["method"] == method] if len(runs) else runs
    col = "metrics.seconds_per_image"
    return float(sel[col].mean()) if len(sel) and col in sel else float("nan")


def _sun2016_rows(runs: pd.DataFrame, dataset: str, subset: str | None) -> list[dict]:
    t1 = sun2016.table1(runs, dataset, subset, ks=range(1, 21)).set_index("row")
    alias = {"best K": next((r for r in t1.index if r.startswith("ft+obj+senti+lf best K")), None),
             "K-val": "ft+obj+senti+lf K chosen on validation"}
    cost = _seconds(runs, "sun2016-global")
    out = []
    for (claim, better, worse), (_, v) in zip(sun2016.CLAIMS, sun2016.claims(runs, dataset, subset).iterrows()):
        row = alias.get(better, better)
        ours = t1.loc[row] if row in t1.index else None
        regions = better != "VGG16+ft"
        out.append({"paper": "sun2016", "claim": claim, "paper %": ours["paper"] if ours is not None else np.nan,
                    "paper gain": v["paper gain"], "ours mean": ours["ours"] if ours is not None else np.nan,
                    "ours ci": ours["ci95"] if ours is not None else np.nan, "our gain": v["our gain"],
                    "gain ci": v["ci95"], "n": v["folds"], "verdict": v["verdict"],
                    "region step s/image": cost if regions else np.nan})
    return out


def _rcnngsr_rows(runs: pd.DataFrame, dataset: str) -> list[dict]:
    xi = (0.001, 0.0005)
    t2 = rcnngsr.table2(runs, dataset, reading=RCNNGSR_READING, xi=xi).set_index("row")
    cost = _seconds(runs, "rcnngsr-fusion")
    out = []
    for (what, better, _), (_, v) in zip(rcnngsr.CONTRIBUTIONS,
                                         rcnngsr.contributions(runs, dataset, reading=RCNNGSR_READING, xi=xi).iterrows()):
        ours = t2.loc[better]
        out.append({"paper": "rcnngsr", "claim": what, "paper %": ours["paper"], "paper gain": v["paper gain"],
                    "ours mean": ours["ours"], "ours ci": ours["ci95"], "our gain": v["our gain"],
                    "gain ci": v["ci95"], "n": v["splits"], "verdict": v["verdict"],
                    "region step s/image": cost if "R-CNNGSR" in better else np.nan})
    return out


def scoreboard(runs: pd.DataFrame | None = None, *, profile: str = "cpu") -> pd.DataFrame:
    """The numeric scoreboard (one row per paper × dataset × claim); empty when the snapshot is."""
    all_runs = published.load() if runs is None else runs
    rows = []
    for chapter in ("sun2016", "rcnngsr"):
        for ds, sub in published.CHAPTER_DATASETS[chapter]:
            r = published.chapter_runs(chapter, ds, sub, profile=profile, runs=all_runs)
            if not len(r):
                continue
            new = _sun2016_rows(r, ds, sub) if chapter == "sun2016" else _rcnngsr_rows(r, ds)
            maj = majority_rate(r)
            for row in new:
                row.update(dataset=report.dataset_name(ds, sub), majority=maj)
            rows += new
    cols = ["paper", "dataset", "claim", "paper %", "paper gain", "ours mean", "ours ci", "n", "our gain", "gain ci",
            "verdict", "region step s/image", "majority"]
    return pd.DataFrame(rows, columns=cols)


def formatted(board: pd.DataFrame) -> pd.DataFrame:
    """The scoreboard as the book prints it."""
    return pd.DataFrame({
        "paper": board["paper"].map(PAPER_NAMES), "dataset": board["dataset"], "claim": board["claim"],
        "paper %": board["paper %"].map(report.fmt_num), "paper gain": board["paper gain"].map(report.fmt_gain),
        "ours %": [report.fmt_acc(m, c) for m, c in zip(board["ours mean"], board["ours ci"])],
        "our gain": [report.fmt_gain(m, c) for m, c in zip(board["our gain"], board["gain ci"])],
        "n": board["n"], "verdict": board["verdict"],
        "region s/img": board["region step s/image"].map(lambda v: report.fmt_num(v, 3)),
        "majority %": board["majority"].map(report.fmt_num),
    })


def verdict_counts(board: pd.DataFrame) -> pd.DataFrame:
    """How many claims got each verdict, per paper."""
    if not len(board):
        return pd.DataFrame(columns=["paper"])
    t = board.groupby(["paper", "verdict"]).size().unstack(fill_value=0).reset_index()
    t["paper"] = t["paper"].map(PAPER_NAMES)
    return t


__all__ = ["formatted", "majority_rate", "scoreboard", "verdict_counts"]
