"""The global baseline's chapter: the whole-image CNNs (frozen features with logistic regression, fine-tuned)
and the colour histograms beside the papers' VGG16 and hand-crafted rows, on every real benchmark the papers
use (:class:`GlobalBaselineChapter`). The models themselves are :mod:`vsalib.methods.global_cnn` and
:mod:`vsalib.methods.color_histogram`."""

from __future__ import annotations

import math

import pandas as pd

from vsalib import chapters, published, report, sections
from vsalib.methods import global_cnn

#: What the hand-crafted rows are (vsalib.methods.color_histogram), as the tables name them.
HAND_CRAFTED = {"gch": "GCH: 64-bin RGB histogram + linear SVM", "lch": "LCH: 4 × 4 blocks of 64-bin histograms + linear SVM"}


def baseline_datasets() -> dict[tuple[str, str], tuple[str, str | None]]:
    """(paper, the global-baseline table's dataset column) → (dataset, subset), from global_cnn.PAPER_BASELINES."""
    return {(p, c): d for p, _, _, ds in global_cnn.PAPER_BASELINES for c, d in ds.items()}


def majority_of(runs: pd.DataFrame, paper: str, column: str, method: str) -> float:
    """The majority-class rate of the test images of ``method``'s runs on the dataset that ``paper`` calls ``column``."""
    ds, sub = baseline_datasets().get((paper, column), (None, None))
    sel = runs[(runs["dataset"] == ds) & (runs["method"] == method)] if len(runs) else runs
    if sub is not None and len(sel):
        sel = sel[sel["subset"] == sub]
    return sections.majority_rate(sel) if len(sel) else math.nan


def hand_crafted_table(paper: str, *, path=None) -> pd.DataFrame:
    """The colour-histogram rows (GCH, LCH) that ``paper``'s table quotes, beside ours from the snapshot, per
    dataset: the paper's %, ours (mean ± 95 % CI over splits, n) and the majority class of the test parts."""
    from vsalib import targets

    runs = published.profile_runs(published.load(path), "cpu")
    runs = runs[runs["key"].isin(published.base_keys(runs, ("gch", "lch")))] if len(runs) else runs
    cmp = global_cnn.paper_comparison(runs)
    cmp = cmp[(cmp["paper"] == paper) & cmp["our method"].isin(list(HAND_CRAFTED))]
    notes = targets.published(paper=paper)
    rows = []
    for _, r in cmp.iterrows():
        note = notes[(notes["method"] == r["paper method"]) & (notes["dataset"] == r["dataset"])]["note"].fillna("")
        value = f"{r['paper accuracy']:.2f}"
        typo = any(f"{value} as printed" in n and "typo" in n for n in note)  # targets.csv says so
        rows.append({"dataset": report.PAPER_COLUMNS.get(r["dataset"], r["dataset"]), "paper's row": r["paper method"],
                     "ours (what ran)": HAND_CRAFTED[r["our method"]],
                     "paper %": f"{value} (as printed: likely a typo)" if typo else value,
                     "ours %": report.fmt_acc(r["ours"], r["ci95"], r["runs"]) if r["runs"] else "not run yet",
                     "n": r["runs"], "majority %": report.fmt_num(majority_of(runs, paper, r["dataset"], r["our method"]))})
    return pd.DataFrame(rows, columns=["dataset", "paper's row", "ours (what ran)", "paper %", "ours %", "n", "majority %"])


def show_hand_crafted(paper: str, *, path=None) -> pd.DataFrame:
    """Display :func:`hand_crafted_table` with its caption (and what it is for); returns it."""
    t = hand_crafted_table(paper, path=path)
    table = {"wsidnet": "WSIDNet's Table 1", "rao": "Rao et al.'s Table 3"}.get(paper, f"{paper}'s table")
    if len(t):
        sections.show(t, f"The hand-crafted baselines {table} quotes (Siersdorfer et al. 2010), computed by us: colour "
                         "histograms with a linear SVM, C chosen on validation (vsalib.methods.color_histogram). They "
                         "anchor the scale of every gain: how far a model that sees only colours gets")
    return t


def zero_spread_sentence(runs: pd.DataFrame, have: pd.DataFrame) -> str:
    """Where a row of the global-baseline table shows ``± 0.00`` over several splits: what it is (every split
    scoring the same number of its test images correct), so that a reader does not take it for one split counted
    several times."""
    out = []
    where = baseline_datasets()
    seen = set()
    for _, r in have[(have["runs"] > 1) & (have["ci95"] == 0)].iterrows():
        ds, sub = where.get((r["paper"], r["dataset"]), (None, None))
        if (ds, sub, r["our method"]) in seen:
            continue
        seen.add((ds, sub, r["our method"]))
        sel = runs[(runs["dataset"] == ds) & (runs["method"] == r["our method"])]
        if sub is not None:
            sel = sel[sel["subset"] == sub]
        if ds in global_cnn.PAPER_PROTOCOLS and "protocol" in sel:
            sel = sel[sel["protocol"] == global_cnn.PAPER_PROTOCOLS[ds]]
        sel = sections.latest_of(sel)
        if "extra.y_true" not in sel or not len(sel):
            continue
        n_test = sel["extra.y_true"].map(lambda v: len(v) if isinstance(v, list) else 0)
        right = (sel["metrics.accuracy"] * n_test).round().astype(int)
        ids = sel["extra.test_ids"].map(lambda v: tuple(v) if isinstance(v, list) else ()) if "extra.test_ids" in sel \
            else pd.Series([()] * len(sel), index=sel.index)
        other = "different test images on each split" if ids.nunique() == len(sel) else "the same test images"
        what = {"global-frozen": "frozen + logistic regression", "global-finetune": "fine-tuned"}
        name = (f"{published.backbone_name(r['our backbone'])} {what.get(r['our method'], r['our method'])}"
                if r["our backbone"] else HAND_CRAFTED.get(r["our method"], r["our method"]))
        counts = (f"got {right.iloc[0]} of its {n_test.iloc[0]} test images right" if n_test.nunique() == 1
                  else f"scored {100 * sel['metrics.accuracy'].iloc[0]:.2f} % of its test images")
        out.append(f"*{report.PAPER_COLUMNS.get(r['dataset'], r['dataset'])}, {name}*: ± 0.00 because each of its "
                   f"{len(sel)} splits {counts} ({other}): a coincidence of the counts, not one split counted "
                   "several times.")
    return " ".join(out)


def own_baseline_notes(runs: pd.DataFrame, have: pd.DataFrame) -> list[str]:
    """Per row of the global-baseline table: where the paper's chapter measures its gains against a whole-image
    model of its own (:meth:`vsalib.chapters.Chapter.own_baseline`, e.g. WSIDNet's Backbone: the holistic branch,
    trained by WSIDNet's method) rather than the global fine-tune this table shows, that model's figure, so that
    the two pages' numbers are told apart."""
    where = baseline_datasets()
    by_paper = {c.method.card.key: c for c in chapters.registered() if c.method is not None and c.method.card}
    notes = []
    for _, r in have.iterrows():
        note = ""
        chapter = by_paper.get(r["paper"])
        ds, sub = where.get((r["paper"], r["dataset"]), (None, None))
        if chapter is not None and ds:
            own = chapter.own_baseline(chapters.chapter_runs(chapter.name, ds, sub, runs=runs), ds, sub)
            if own is not None and own[0] == r["paper method"]:
                note = own[1]
        notes.append(note)
    return notes


@chapters.register
class GlobalBaselineChapter(chapters.Chapter):
    """The whole-image baselines every paper compares with, beside the papers' rows, on every dataset."""

    name, order, notebook = "global_baseline", 1, "global_baseline"
    datasets = (("twitter1", "five"), ("twitter1", "four"), ("twitter1", "three"), ("twitter2", None),
                ("emotion6", "binary"), ("emotionroi", "binary"))
    runs = (chapters.RunGroup("global_baseline", "Twitter I five/four/three-agree and Twitter II (5-fold CV), EmotionROI "
                              "(binary, its fixed split, three seeds) and R-CNNGSR's datasets (Emotion6, IAPS, ArtPhoto, "
                              "Abstract; binary, 75/20/5 split over three seeds)",
                              (*chapters.TWITTER, *chapters.RCNNGSR_DATASETS, chapters.EMOTIONROI)),)

    @classmethod
    def records(cls, runs, dataset, subset):
        """The two CNN baselines and the colour histograms: the latest run of each fold."""
        return runs[runs["key"].isin(published.base_keys(runs, global_cnn.BASELINE_METHODS))]

    @classmethod
    def show(cls, *, path=None):
        """One table over every dataset (the profile's backbone and scope, not the ladder's rungs), where each
        dataset's runs come from, and what fine-tuning adds."""
        shown: dict[tuple[str, str | None], pd.DataFrame] = {}
        runs = published.profile_runs(published.load(path), "cpu")
        cmp = global_cnn.paper_comparison(runs[runs["key"].isin(published.base_keys(
            runs, global_cnn.BASELINE_METHODS))] if len(runs) else runs)
        have = cmp[cmp["runs"] > 0]
        if not len(have):
            sections.missing(cls.name, "twitter1", None)
            return shown
        bb = ", ".join(sorted(set(have["our backbone"]) - {""})) or None
        what = {"global-frozen": f"{published.backbone_name(bb)} frozen + logistic regression",
                "global-finetune": f"{published.backbone_name(bb)} fine-tuned", **HAND_CRAFTED}
        table = pd.DataFrame({"paper": have["paper"], "paper's row": have["paper method"],
                              "ours (what ran)": have["our method"].map(what),
                              "dataset": have["dataset"].map(lambda d: report.PAPER_COLUMNS.get(d, d)),
                              "paper %": have["paper accuracy"],
                              "ours %": [report.fmt_acc(m, c, n) for m, c, n in zip(have["ours"], have["ci95"], have["runs"])],
                              "n": have["runs"],
                              "majority %": [report.fmt_num(majority_of(runs, p, d, m)) for p, d, m in
                                             zip(have["paper"], have["dataset"], have["our method"])]})
        notes = own_baseline_notes(runs, have)
        if any(notes):
            table["note"] = notes
        sections.show(table, "The global baseline beside the papers' VGG16 rows (published snapshot); majority %: "
                             "always guessing the larger class on the same test images" + (
                                 "; note: where a paper's chapter compares with a baseline of its own, trained by its "
                                 "method, that baseline's figure" if any(notes) else ""))
        if (zero := zero_spread_sentence(runs, have)):
            sections.md(zero)
        for ds, sub in cls.datasets:
            r = chapters.chapter_runs(cls.name, ds, sub, runs=runs)
            if len(r):
                shown[(ds, sub)] = r
                sections.md(f"*{report.dataset_name(ds, sub)}* — " + published.provenance_line(r))
            else:
                sections.missing(cls.name, ds, sub)
        gain = global_cnn.finetune_gain(cmp)
        if len(gain):
            gain["dataset"] = gain["dataset"].map(lambda d: report.PAPER_COLUMNS.get(d, d))
            sections.show(gain, "What fine-tuning adds over frozen features, Sun2016 Table 1 against ours (points)")
        return shown


__all__ = ["GlobalBaselineChapter", "HAND_CRAFTED", "baseline_datasets", "hand_crafted_table", "majority_of",
           "own_baseline_notes", "show_hand_crafted", "zero_spread_sentence"]
