"""What every chapter's section "On the real benchmarks" is built of: its displays (a table with its caption,
a paragraph, the provenance line under a table, the line for a dataset the snapshot does not hold), the claims
table and its sentence, and the figures read off one dataset's runs (its backbone, its profile, the majority
class of its test images, its protocols).

The chapters (:mod:`vsalib.chapters`, each paper's ``methods/*_study.py``), the scoreboard and
:mod:`vsalib.real_benchmarks` build on these; this module imports none of them.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np
import pandas as pd

from vsalib import published, report
from vsalib.report import protocol_label
from vsalib.results import latest_runs


# -- what one dataset's runs say about themselves --------------------------------------------------
def backbone_of(runs: pd.DataFrame) -> str | None:
    """The one backbone the runs were made with (None where they hold none or several)."""
    col = runs.get("provenance.run.backbone")
    vals = sorted(set(col.dropna())) if col is not None else []
    return vals[0] if len(vals) == 1 else None


def profile_of(runs: pd.DataFrame) -> str | None:
    """The profiles the runs were made with, as the captions name them."""
    col = runs.get("provenance.run.profile")
    vals = sorted(set(col.dropna())) if col is not None else []
    return ", ".join(vals) or None


def majority_rate(runs: pd.DataFrame) -> float:
    """Percentage of the pooled test labels (one run per fold: the fine-tuned global one, or any record
    with the test labels where there is none) in the largest class."""
    if not len(runs) or "extra.y_true" not in runs:
        return float("nan")
    ft = runs[runs["method"] == "global-finetune"]
    if not len(ft):
        ft = runs[runs["extra.y_true"].map(lambda v: isinstance(v, list))].drop_duplicates(["seed", "fold"])
    if not len(ft):
        return float("nan")
    y = np.concatenate([np.asarray(v) for v in ft["extra.y_true"] if isinstance(v, list)])
    return 100 * float(np.bincount(y.astype(int)).max() / len(y)) if len(y) else float("nan")


def by_protocol(runs: pd.DataFrame, dataset: str, subset: str | None) -> list[tuple[str, str, pd.DataFrame]]:
    """One dataset's runs per protocol, never pooled: (name, protocol, runs), the name as the scoreboard writes it
    (the dataset's, with the protocol in brackets where the runs hold more than one, e.g. EmotionROI's fixed split
    and Rao's per-category 5-fold CV)."""
    if not len(runs) or "protocol" not in runs:
        return [(report.dataset_name(dataset, subset), "", runs)]
    several = runs["protocol"].nunique() > 1
    return [(report.dataset_name(dataset, subset) + (f" ({protocol_label(proto)})" if several else ""), proto, r)
            for proto, r in runs.groupby("protocol", sort=True)]


def latest_of(sel: pd.DataFrame) -> pd.DataFrame:
    """The latest record of each (seed, fold) of ``sel`` (:func:`vsalib.results.latest_runs`)."""
    return latest_runs(sel, ["seed", "fold"])


# -- a table's columns as printed ------------------------------------------------------------------
def ours_column(t: pd.DataFrame, row_methods: dict[str, str] | None = None,
                runs: pd.DataFrame | None = None) -> list[str]:
    """``mean ± CI`` per row; a row made by an older version of its method gets a ``†``
    (:func:`vsalib.published.stale_note` under the table says what changed)."""
    stale = published.stale_methods(runs) if runs is not None and row_methods else {}
    return [report.fmt_acc(m, c, n) + (" †" if stale and row_methods.get(r) in stale else "")
            for r, m, c, n in zip(t["row"], t["ours"], t["ci95"], t["runs"])]


def row_methods(card, rows) -> dict[str, str]:
    """The record method behind each displayed row (for the † of stale rows): the card's row of that
    name, or the derived row the name starts with (Sun2016's "… best K (oracle …)", "… K chosen on
    validation")."""
    derived = {"best K": "best K", "K chosen on validation": "K-val"}
    out = {}
    for r in rows:
        name = next((d for k, d in derived.items() if k in r and d in {x.name for x in card.derived}), r)
        out[r] = card.row(name).method
    return out


def verdict_sentence(verdicts: pd.DataFrame, where: str) -> str:
    """One sentence on a claims table: how many got each verdict, and which held or reversed."""
    what = verdicts.columns[0]
    counts = verdicts["verdict"].value_counts().to_dict()
    text = report.verdict_tally(counts, len(verdicts), lead=f"On {where}, of", end="")
    for verdict in ("held", "reversed", "paper's gain ruled out"):
        named = list(verdicts.loc[verdicts["verdict"] == verdict, what])
        if named:
            text += f"; {verdict}: {'; '.join(named)}"
    return text + "."


def detectable_column(verdicts: pd.DataFrame) -> list[str]:
    """The detectable gains of a claims table as printed, each with what it rests on (degrees of freedom, or
    the test images of a fixed split's paired bootstrap)."""
    k = len(verdicts)
    return [report.fmt_detectable(v, d, t, i) for v, d, t, i in
            zip(verdicts["detectable"], verdicts.get("df", [math.nan] * k),
                verdicts.get("test", ["corrected t"] * k), verdicts.get("images", [math.nan] * k))]


def claims_table(verdicts: pd.DataFrame, what: str = "claim", n: str = "folds") -> pd.DataFrame:
    """A claims table as the book prints it: the paper's gain, ours ± its corrected 95 % CI, the gain our splits
    detect with 80 % power, the number of splits and the verdict (:mod:`vsalib.verdicts`)."""
    return pd.DataFrame({what: verdicts[what], "paper gain": verdicts["paper gain"].map(report.fmt_gain),
                         "our gain": [report.fmt_gain(m, c) for m, c in zip(verdicts["our gain"], verdicts["ci95"])],
                         "detectable": detectable_column(verdicts),
                         n: verdicts[n], "verdict": verdicts["verdict"]})


# -- the main path and the folded rest ----------------------------------------------------------------
#: Whether what is displayed now belongs to the section's folded rest: ``[sticky, nesting depth of folded()]``.
_FOLD = [False, 0]


def folded_now() -> bool:
    """Whether a display now goes to the folded rest (:func:`vsalib.real_benchmarks.section` with ``part``)."""
    return _FOLD[0] or _FOLD[1] > 0


@contextmanager
def folded():
    """What is displayed inside belongs to the section's long tail (a sweep, a diagnostic, a second reading): a
    chapter that shows its section in two cells (``real_benchmarks.section(..., part="main")``, then
    ``part="rest"`` in a cell tagged ``hide-output``) shows it in the folded one. Shown in place otherwise."""
    _FOLD[1] += 1
    try:
        yield
    finally:
        _FOLD[1] -= 1


def fold_from_here() -> None:
    """Everything displayed after this, to the end of the section (the other protocols and datasets), belongs to
    its folded rest (:func:`folded`)."""
    _FOLD[0] = True


def reset_fold() -> None:
    """Back to the main path (at the start and end of every section)."""
    _FOLD[:] = [False, 0]


# -- displaying -------------------------------------------------------------------------------------
def md(text: str) -> None:
    """Display ``text`` as a paragraph of the page."""
    from IPython.display import Markdown, display

    display(Markdown(text))


def show(df: pd.DataFrame, caption: str) -> None:
    """Display a table with its caption (:func:`vsalib.report.show`)."""
    from IPython.display import display

    display(report.show(df, caption))


def under(runs: pd.DataFrame) -> None:
    """The line under a table: the runs it comes from, and what an older method version changed."""
    md(published.provenance_line(runs) + ("\n\n" + published.stale_note(runs) if published.stale_note(runs) else ""))


def missing(chapter: str, dataset: str, subset: str | None) -> None:
    """The line for a dataset the snapshot holds no run of, with the command that fills it."""
    md(f"*{report.dataset_name(dataset, subset)}*: the snapshot holds no run of this chapter; "
       f"`{published.fill_command(chapter, dataset, subset)}` fills it where the dataset is available.")


def verdicts(paper: str, v: pd.DataFrame, ds: str, sub: str | None, bb: str | None, prof: str | None,
             protocol: str | None = None) -> None:
    """A paper's claims on one dataset (under one ``protocol``, named where it ran under several) as a table and
    a sentence (a line when none of them ran there)."""
    if not len(v):
        md(f"None of {paper}'s claims has both of its rows in the snapshot for this dataset yet.")
        return
    show(claims_table(v), report.caption(f"What held: {paper}'s claims as paired per-fold gains (points)",
                                         ds, sub, bb, prof, protocol=protocol))
    name = report.dataset_name(ds, sub)
    md(verdict_sentence(v, f"{name} ({protocol})" if protocol else name))


__all__ = ["backbone_of", "by_protocol", "claims_table", "detectable_column", "fold_from_here", "folded",
           "folded_now", "latest_of", "majority_rate", "md", "missing", "ours_column", "profile_of", "reset_fold",
           "row_methods", "show", "under", "verdict_sentence", "verdicts"]
