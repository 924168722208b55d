"""The scoreboard: every claim of every paper on every dataset we ran, and our verdict, in one table.

Built from the published snapshot only (:mod:`vsalib.published`). One row per (paper, dataset, protocol,
claim): where a dataset ran under two protocols (EmotionROI's fixed split and Rao's per-category 5-fold split),
each has its rows, never pooled.
the paper's figure for the row that makes the claim and its gain over the row it is compared with (and the
figures of that row, the *baseline*, for the region claims' plot of :mod:`vsalib.region_gains`), ours
(mean ± 95 % CI over folds or splits, n), our paired gain with its corrected CI, the gain the design detects
with 80 % power and the verdict of :mod:`vsalib.verdicts`, the measured cost per image of the method's region step, and the
majority-class rate of the test images (what always guessing the larger class would score).
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile

import numpy as np
import pandas as pd

from vsalib import chapters, published, report
from vsalib.report import protocol_label  # noqa: F401  (re-exported: where it lived first)
from vsalib.methods import base
from vsalib.sections import by_protocol, majority_rate  # noqa: F401  (re-exported: where they lived first)


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _seconds(runs: pd.DataFrame, method: str | None) -> float:
    sel = runs[runs["method"] == method] if len(runs) and method else runs.iloc[:0]
    col = "metrics.seconds_per_image"
    return float(sel[col].mean()) if len(sel) and col in sel else float("nan")


def claim_rows(method: type[base.Method], runs: pd.DataFrame, dataset: str, subset: str | None) -> list[dict]:
    """One row per claim of ``method``'s card on one dataset: the better row's figure (paper, ours) and
    the paired gain, from its ``paper_values`` / ``paper_claims``."""
    values = method.paper_values(runs, dataset, subset)
    verdicts = report.card_claims(method.card, values, method.claim_runs(runs), rows=method.paper_rows(runs))  # what paper_claims computes, from the values at hand
    cost = _seconds(runs, method.cost_method)
    out = []
    for claim, (_, v) in zip(method.card.claims, verdicts.iterrows()):
        per_fold, paper = values.get(claim.better, (pd.Series(dtype=float), np.nan))
        base_fold, paper_base = values.get(claim.worse, (pd.Series(dtype=float), np.nan))
        m, c, _ = report.mean_ci_pct(per_fold)
        out.append({"paper": method.card.key, "claim": claim.text, "regions": claim.regions, "control": claim.control,
                    "paper baseline %": paper_base, "ours baseline": report.mean_ci_pct(base_fold)[0],
                    "paper %": paper, "paper gain": v["paper gain"],
                    "ours mean": m, "ours ci": c, "our gain": v["our gain"], "gain ci": v["ci95"],
                    "n": v["folds"], "detectable": v["detectable"], "df": v["df"], "se": v["se"], "test": v["test"],
                    "images": v["images"], "p": v["p"], "verdict": v["verdict"], "to decide": v["to decide"],
                    "paper's data": method.paper_data(dataset, subset, claim.better) if _finite(v["paper gain"]) else None,
                    "region step s/image": cost if method.card.row(claim.better).uses_regions else np.nan})
    return out


def papers() -> list[type[base.Method]]:
    """The registered methods that carry a paper card (the chapters with claims), in registry order."""
    return [base.method_class(n) for n in base.list_methods() if base.method_class(n).card is not None]


def scoreboard(runs: pd.DataFrame | None = None, *, profile: str = "cpu", cache: bool = True) -> pd.DataFrame:
    """The numeric scoreboard (one row per paper × dataset × claim); empty when the snapshot is.

    Built from the published snapshot (``runs`` None), it is kept on disk under ``<cache>/scoreboard`` by the
    snapshot's content, vsalib's sources and ``profile``: the scoreboard page, *When do regions help?* and the
    introduction's answer compute it once between them (``cache=False`` computes it afresh)."""
    if runs is not None or not cache:
        return _compute(published.load() if runs is None else runs, profile)
    from vsalib import provenance
    from vsalib.train.features import cache_root

    key = hashlib.sha1(f"{published.content_stamp()} {provenance.source_stamp()} {profile}".encode()).hexdigest()
    path = cache_root() / "scoreboard" / f"{key[:20]}.pkl"
    if path.is_file():
        try:
            return pd.read_pickle(path)
        except Exception:  # a damaged file: computed again and replaced below
            pass
    board = _compute(published.load(), profile)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        board.to_pickle(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return board


def _compute(all_runs: pd.DataFrame, profile: str) -> pd.DataFrame:
    rows = []
    for chapter in chapters.registered():  # the papers' chapters, in the book's order
        method = chapter.method
        if method is None or method.card is None:
            continue
        for ds, sub in chapter.datasets:
            runs = chapters.chapter_runs(chapter.name, ds, sub, profile=profile, runs=all_runs)
            if not len(runs):
                continue
            for name, proto, r in by_protocol(runs, ds, sub):  # one row per protocol: never pooled
                new = [row for row in claim_rows(method, r, ds, sub) if row["verdict"] != "–"]  # "–": not run there
                maj = majority_rate(r)
                for row in new:
                    row.update(dataset=name, protocol=proto, majority=maj)
                rows += new
    cols = ["paper", "dataset", "protocol", "claim", "regions", "control", "paper baseline %", "ours baseline", "paper %", "paper gain",
            "ours mean", "ours ci", "n", "our gain", "gain ci", "detectable", "df", "se", "test", "images", "p", "verdict",
            "region step s/image", "majority", "to decide", "paper's data"]
    return pd.DataFrame(rows, columns=cols)


def formatted(board: pd.DataFrame) -> pd.DataFrame:
    """The scoreboard as the book prints it."""
    return pd.DataFrame({
        "paper": board["paper"].map(short_name), "dataset": board["dataset"], "claim": board["claim"],
        "paper %": board["paper %"].map(report.fmt_num),
        "paper gain": [report.fmt_gain(g) + (f" ({d})" if isinstance(d, str) and d else "") for g, d in
                       zip(board["paper gain"], board["paper's data"] if "paper's data" in board else [None] * len(board))],
        "ours %": [report.fmt_acc(m, c) for m, c in zip(board["ours mean"], board["ours ci"])],
        "our gain": [report.fmt_gain(m, c) for m, c in zip(board["our gain"], board["gain ci"])],
        "detectable": [report.fmt_detectable(v, d, t, i) for v, d, t, i in
                       zip(board["detectable"], board["df"], board["test"], board["images"])], "n": board["n"],
        "verdict": board["verdict"],
        "region s/img": board["region step s/image"].map(lambda v: report.fmt_num(v, 3)),
        "majority %": board["majority"].map(report.fmt_num),
    })


def undecided(board: pd.DataFrame) -> pd.DataFrame:
    """The claims still undecided ("not resolved", "not testable here", "one run only"), each with the design
    that would decide it if its spread and gain stayed as observed (:func:`vsalib.verdicts.design_to_decide`)."""
    from vsalib.verdicts import UNDECIDED

    u = board[board["verdict"].isin(UNDECIDED)] if len(board) else board
    return pd.DataFrame({"paper": u["paper"].map(short_name), "dataset": u["dataset"], "claim": u["claim"],
                         "paper gain": u["paper gain"].map(report.fmt_gain),
                         "our gain": [report.fmt_gain(m, c) for m, c in zip(u["our gain"], u["gain ci"])],
                         "n": u["n"], "verdict": u["verdict"], "what would decide it": u["to decide"]}
                        ).reset_index(drop=True)


def undecided_sentence(board: pd.DataFrame) -> str:
    """How many claims are undecided, and how many of them more repetitions would decide."""
    from vsalib.verdicts import UNDECIDED

    if not len(board):
        return ""
    u = board[board["verdict"].isin(UNDECIDED)]
    plan = u["to decide"].fillna("")
    one = plan.str.contains("a second split", regex=False)
    images = int((~one & (plan.str.startswith("no number") | plan.str.contains("on one fixed split", regex=False))).sum())
    reps = len(u) - images - int(one.sum())
    return (f"{len(u)} of {len(board)} claims ({100 * len(u) / len(board):.0f} %) are undecided. If their spread and "
            f"gain stayed as observed, more splits of the same data would decide {reps} of them; {images} would need "
            "more images (the correction for shared training data puts a floor under the variance that repetitions "
            "cannot lower, and a fixed split's interval shrinks only with its test set); "
            f"{int(one.sum())} have one split and need a second first. These are estimates from the spread "
            "observed so far, which is itself uncertain with three to five splits.")


def verdict_counts(board: pd.DataFrame) -> pd.DataFrame:
    """How many claims got each verdict, per paper."""
    if not len(board):
        return pd.DataFrame(columns=["paper"])
    t = board.groupby(["paper", "verdict"]).size().unstack(fill_value=0).reset_index()
    t["paper"] = t["paper"].map(short_name)
    return t


def global_correction(board: pd.DataFrame) -> pd.DataFrame:
    """The claims significant within their family (held or reversed) with Holm's correction over the whole
    scoreboard instead: the claim, its p-value, the family's adjusted p, the scoreboard's, and whether it
    survives (:func:`vsalib.verdicts.survive_globally`)."""
    from vsalib import verdicts as V

    cols = ["paper", "dataset", "claim", "verdict", "p", "p (whole scoreboard)", "survives"]
    if not len(board) or "p" not in board:
        return pd.DataFrame(columns=cols)
    adjusted = V.holm(board["p"].to_numpy(dtype=float))
    sig = board["verdict"].isin(["held", "reversed"]).to_numpy()
    out = board.loc[sig, ["paper", "dataset", "claim", "verdict", "p"]].copy()
    out["p (whole scoreboard)"] = adjusted[sig]
    out["survives"] = V.survive_globally(board["p"].to_numpy(dtype=float))[sig]
    return out.reset_index(drop=True)[cols]


def global_correction_sentence(board: pd.DataFrame) -> str:
    """In words: how many of the verdicts that a family's correction calls significant survive Holm over every
    claim of the scoreboard with a p-value."""
    if not len(board) or "p" not in board:
        return "The snapshot holds no claim yet."
    m = int(board["p"].notna().sum())
    g = global_correction(board)
    if not len(g):
        return (f"No claim is significant within its paper × dataset family, so none can be over all {m} claims "
                f"with a p-value either.")
    kept = int(g["survives"].sum())
    names = "; ".join(f"{short_name(r['paper'])} on {r['dataset']}, {r['claim']} ({r['verdict']}, p = "
                      f"{r['p']:.4f}, {r['p (whole scoreboard)']:.2f} over the scoreboard)" for _, r in g.iterrows())
    if len(g) == 1:
        told = "the one significant verdict " + ("survives" if kept else "does not survive")
    elif kept == 0:
        told = f"none of the {len(g)} significant verdicts survives"
    else:
        told = f"{kept} of the {len(g)} significant verdicts survive{'s' if kept == 1 else ''}"
    return (f"Holm's correction runs within each paper × dataset family. Over all {m} claims of the scoreboard "
            f"with a p-value, {told}: {names}.")


def compact(board: pd.DataFrame, paper: str) -> pd.DataFrame:
    """One paper's claims as rows and its datasets as columns; each cell our gain (points) and the verdict, e.g.
    ``-0.11 (consistent with the paper)``; ``–`` where the claim did not run on that dataset. The columns keep the
    scoreboard's order of datasets."""
    rows = board[board["paper"] == paper]
    if not len(rows):
        return pd.DataFrame(columns=["claim"])
    datasets = list(dict.fromkeys(rows["dataset"]))
    cells = {(r["claim"], r["dataset"]): f"{report.fmt_gain(r['our gain'])} ({r['verdict']})"
             for _, r in rows.iterrows()}
    claims = list(dict.fromkeys(rows["claim"]))
    return pd.DataFrame([{"claim": c, **{d: cells.get((c, d), report.DASH) for d in datasets}} for c in claims])


def short_name(key: str) -> str:
    """How the book names a paper (its card's ``short``)."""
    return next((m.card.short for m in papers() if key in (m.card.key, m.name)), key)


__all__ = ["claim_rows", "compact", "formatted", "global_correction", "global_correction_sentence", "short_name", "majority_rate", "papers", "protocol_label", "scoreboard",
           "undecided", "undecided_sentence", "verdict_counts"]
