"""The MultiLevelRCNN chapter's experiments, as functions of the store's records (issue 14).

- :func:`published_table`: Rao et al.'s Tables 1–3 as printed, one column per dataset and class count;
- :func:`table`: Tables 1 and 2 (and the controls) run here: ours beside the paper's FI figures (the table's
  dataset) and, for Table 3's rows, its EmotionROI column, with each row's gain over the global feature alone;
- :func:`lam_sweep`: Fig. 8 — accuracy against λ, and λ chosen on each fold's validation part;
- :func:`claims`: the card's claims as paired per-fold gains (those whose rows ran);
- :func:`proposer_summary`: what the proposer's records measured (boxes, recall of true boxes, cost);
- :func:`load_fold`: a fold's trained pieces back from the store and the cache, for the figures;
- :class:`MultiLevelChapter`: its section on the real benchmarks, with the tables as printed
  (:func:`printed_table`, :func:`printed_proposer`, :func:`printed_sweep`), once per protocol a dataset ran under.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from vsalib import chapters, figures, plots, report, sections, targets
from vsalib.methods.base import PaperRow
from vsalib.methods.multilevel_rcnn import CARD, LAMS, PAPER_LAM, MultiLevelRCNN, swept_lams

#: The rows each table of the chapter shows, in the paper's order (controls last).
TABLE1_ROWS = ("ResNet101 global only", "object regions only", "emotional regions only", "global+object regions",
               "global+emotional regions", "global+random boxes", "global+3x3 grid")
TABLE2_ROWS = ("ResNet101+Lcls", "ResNet101+Lp", "ResNet101+Lmulti", "MultiLevelRCNN+Lcls", "MultiLevelRCNN+Lp",
               "MultiLevelRCNN+Lmulti", "MultiLevelRCNN, λ chosen on validation")
#: What each of our rows is, for a reader (the paper's row names are kept beside).
WHAT_RAN = {
    "ResNet101 global only": "X_global only, L_cls",
    "object regions only": "10 object regions (p_obj), no X_global",
    "emotional regions only": "10 emotional regions (S_emo), no X_global",
    "global+object regions": "X_global + 10 object regions",
    "global+emotional regions": "X_global + 10 emotional regions",
    "global+random boxes": "X_global + 10 random boxes (control)",
    "global+3x3 grid": "X_global + a 3×3 grid (control)",
    "ResNet101+Lcls": "X_global only, L_cls", "ResNet101+Lp": "X_global only, L_p",
    "ResNet101+Lmulti": "X_global only, L_multi",
    "MultiLevelRCNN+Lcls": "X_global + emotional regions, L_cls",
    "MultiLevelRCNN+Lp": "X_global + emotional regions, L_p",
    "MultiLevelRCNN+Lmulti": "X_global + emotional regions, L_multi",
    "MultiLevelRCNN, λ chosen on validation": "X_global + emotional regions, L_multi, λ from validation",
}


def published_table(table: int) -> pd.DataFrame:
    """Rao et al.'s Table ``table`` as printed: one row per method, one column per dataset and class count."""
    pub = targets.published(paper="rao", table=table)
    pub = pub.assign(column=[f"{report.PAPER_COLUMNS.get(d, d)} ({c})" for d, c in zip(pub["dataset"], pub["classes"])])
    order_m, order_c = list(dict.fromkeys(pub["method"])), list(dict.fromkeys(pub["column"]))
    wide = pub.pivot_table(index="method", columns="column", values="accuracy", aggfunc="first")
    return wide.reindex(index=order_m, columns=order_c).reset_index().rename(columns={"method": f"Table {table} row"})


def paper_classes(n_classes: int) -> int:
    """The class count of the paper's FI column to set beside ours: 2 for binary data, else FI's 8 (Mikels'
    emotions): a 6-class EmotionROI or an 8-class synthetic run is read against the paper's 8-class figures,
    the only multi-class ones it prints."""
    if n_classes < 2:
        raise ValueError(f"n_classes: expected at least 2 classes, got {n_classes}")
    return 2 if n_classes == 2 else 8


def run_classes(runs: pd.DataFrame) -> int:
    """The class count of the data behind ``runs``, read from their records' test labels and predictions
    (``extra.y_true``, ``extra.y_pred``): the records store no class count, and a run's labels are its classes'
    indices. Raises when no record carries labels."""
    if not len(runs) or "extra.y_true" not in runs:
        raise ValueError("runs: expected records with test labels (extra.y_true); none given")
    seen = [np.asarray(v) for c in ("extra.y_true", "extra.y_pred") if c in runs for v in runs[c] if isinstance(v, list)]
    if not seen or not any(v.size for v in seen):
        raise ValueError("runs: expected records with test labels (extra.y_true); every record's list is empty")
    return int(max(v.max() for v in seen if v.size)) + 1


def _paper(row: str, dataset: str, classes: int) -> float:
    classes = paper_classes(classes)
    r = CARD.row(row)
    pub = targets.published(paper="rao", table=r.table or CARD.table)
    hit = pub[(pub["method"] == row) & (pub["dataset"] == dataset) & (pub["classes"] == classes)]
    return float(hit["accuracy"].iloc[0]) if len(hit) else math.nan


def table(runs: pd.DataFrame, dataset: str, subset: str | None, rows: Sequence[str] = TABLE1_ROWS + TABLE2_ROWS,
          values: dict | None = None, n_classes: int = 2, lam: float = PAPER_LAM) -> pd.DataFrame:
    """Our rows beside the paper's: ``paper FI %`` (its Tables 1–2 are on FI; ``n_classes``: our data's, read
    against FI's 2 or 8 classes by :func:`paper_classes`),
    ours (mean, 95 % CI, n), mean per-class recall, and the paired gain over the global feature alone under the
    same loss (L_cls for the L_cls rows, L_p for L_p, L_multi otherwise), paper's and ours. ``lam``: the λ of the
    L_multi rows (the paper's 0.4)."""
    values = MultiLevelRCNN.paper_values(runs, dataset, subset, lam=lam) if values is None else values
    base_of = {"Lcls": "ResNet101+Lcls", "Lp": "ResNet101+Lp"}
    out = []
    for name in rows:
        t, _ = values.get(name, (report.row_accuracy(None, runs.iloc[:0]), math.nan))
        m, c, n = report.mean_ci_pct(t)
        base = next((b for s, b in base_of.items() if name.endswith(s)), "ResNet101+Lmulti")
        printed = name in {r.name for r in CARD.rows}
        paper = _paper(name, "fi", n_classes) if printed else math.nan
        if name in ("ResNet101 global only", "ResNet101+Lcls", "ResNet101+Lp", "ResNet101+Lmulti"):
            gain, pgain = math.nan, math.nan
        else:
            diff = (t - values.get(base, (t.iloc[:0], math.nan))[0]).dropna()
            gain = float(diff.mean()) if len(diff) else math.nan
            pgain = paper - _paper(base, "fi", n_classes)
        params = CARD.row(name).params
        params = {**params, "lam": float(lam)} if "lam" in params else params
        recall = report.row_accuracy(PaperRow(name, "multilevel-rcnn", params, metric="mean_recall"),
                                     runs) if printed else t.iloc[:0]
        out.append({"row": name, "what ran": WHAT_RAN.get(name, ""), "paper FI %": paper,
                    "ours": m, "ci95": c, "runs": n, "mean recall": float(recall.mean()) if len(recall) else math.nan,
                    "paper gain": pgain, "our gain": gain})
    return pd.DataFrame(out)


def table3(runs: pd.DataFrame, dataset: str, subset: str | None, values: dict | None = None) -> pd.DataFrame:
    """Table 3's EmotionROI column: every printed row, and ours beside the two we run (ResNet101: the global
    feature alone; MultiLevelRCNN: global + emotional regions, L_multi)."""
    values = MultiLevelRCNN.paper_values(runs, dataset, subset) if values is None else values
    pub = targets.published(paper="rao", table=3)
    pub = pub[pub["dataset"] == "emotionroi"]
    out = []
    for _, p in pub.iterrows():
        t = values.get(p["method"], (pd.Series(dtype=float), math.nan))[0] if p["method"] in ("ResNet101",
                                                                                              "MultiLevelRCNN") else None
        m, c, n = report.mean_ci_pct(t) if t is not None else (math.nan, math.nan, 0)
        out.append({"row": p["method"], "paper %": float(p["accuracy"]), "ours": m, "ci95": c, "runs": n})
    return pd.DataFrame(out)


def lam_sweep(runs: pd.DataFrame, lams: Sequence[float] | None = None) -> pd.DataFrame:
    """Fig. 8 as a table: per λ, validation and test accuracy (mean, CI, n) and on how many folds validation chose
    it; last row: λ chosen on each fold's validation part."""
    d = CARD.derived[0]
    have = swept_lams(runs)
    lams = sorted(set(float(v) for v in lams) & set(have)) if lams is not None else have
    per = {lam: (report.row_accuracy(PaperRow(d.name, d.method, {**d.params, "lam": lam}), runs),
                 report.row_accuracy(PaperRow(d.name, d.method, {**d.params, "lam": lam}, metric="val_accuracy"), runs))
           for lam in lams}
    test, chosen = report.validation_choice(per)
    rows = []
    for lam, (t, v) in per.items():
        m, c, n = report.mean_ci_pct(t)
        rows.append({"λ": f"{lam:g}", "validation %": float(v.mean()) if len(v) else math.nan, "test %": m,
                     "ci95": c, "runs": n, "chosen on (folds)": int((chosen == lam).sum())})
    m, c, n = report.mean_ci_pct(test)
    rows.append({"λ": "chosen on validation", "validation %": math.nan, "test %": m, "ci95": c, "runs": n,
                 "chosen on (folds)": len(chosen)})
    return pd.DataFrame(rows)


def claims(runs: pd.DataFrame, dataset: str, subset: str | None, *, run_only: bool = True,
           values: dict | None = None, lam: float = PAPER_LAM, neutral: str = "count") -> pd.DataFrame:
    """The card's claims as paired per-fold gains (the records of p*'s ``neutral`` reading); those whose two
    rows did not both run are left out."""
    from vsalib.methods.multilevel_rcnn import select_neutral

    values = MultiLevelRCNN.paper_values(runs, dataset, subset, lam=lam, neutral=neutral) if values is None else values
    v = report.card_claims(CARD, values, select_neutral(runs, neutral))
    if run_only:
        v = v[v["verdict"] != "–"].reset_index(drop=True)
    return v


def proposer_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Per fold, what the proposer's record measured: pseudo boxes per image and their area, the candidates, the
    recall of the dataset's own box among each source's 10 regions (where it has them), seconds per image."""
    r = runs[runs["method"] == "multilevel-rcnn-regions"] if len(runs) else runs
    if not len(r):
        return pd.DataFrame()
    cols = {"metrics.boxes_per_image": "boxes / image", "metrics.box_area": "box area (share)",
            "metrics.candidates_per_image": "candidates / image", "metrics.recall_emotional": "recall, emotional",
            "metrics.recall_object": "recall, object", "metrics.recall_random": "recall, random",
            "metrics.recall_grid": "recall, grid", "metrics.seconds_per_image": "regions + features s / image",
            "metrics.seconds_proposer": "proposer training s"}
    have = {k: v for k, v in cols.items() if k in r}
    out = r[["seed", "fold", *have]].rename(columns=have).sort_values(["seed", "fold"]).reset_index(drop=True)
    return out


def lam_sentence(sweep: pd.DataFrame, p_star: float, paper_lam: float = PAPER_LAM) -> str:
    """What Fig. 8's sweep (:func:`lam_sweep`) shows, in a sentence or two, its numbers read from it: where every
    label is certain (``p_star`` 1) that the curve must be flat; else which λ validation chose most often, its
    test accuracy beside the paper's λ, and whether the test curve's span exceeds the noise."""
    per = sweep[sweep["λ"] != "chosen on validation"]
    if not len(per):
        return ""
    chosen = sweep[sweep["λ"] == "chosen on validation"].iloc[0]
    if p_star == 1:
        return ("Every λ trains the same classifier here: with p* = 1 on every training image Eq. 4 puts all the "
                "mass on the label, so L_ed = L_cls and the curve is flat; validation's choice (the smallest of "
                "the tied λ) means nothing. The real section's runs, whose labels carry doubt, are where λ can "
                "matter.")
    picked = per[per["chosen on (folds)"] > 0].sort_values("chosen on (folds)", ascending=False, kind="stable")
    paper = per[per["λ"] == f"{paper_lam:g}"]
    span = float(per["test %"].max() - per["test %"].min())
    noise = float(per["ci95"].mean())
    out = ("Validation chose " + ", ".join(f"λ = {r['λ']} on {int(r['chosen on (folds)'])}" for _, r in picked.iterrows())
           + f" of the {int(chosen['chosen on (folds)'])} splits; with λ chosen per split the test accuracy is "
           f"{chosen['test %']:.2f} %")
    if len(paper):
        out += f", against {float(paper['test %'].iloc[0]):.2f} % at the paper's λ = {paper_lam:g}"
    out += (f". Test accuracy spans {span:.2f} points over λ" + (
        f", less than its mean 95 % interval ({noise:.2f} points): these splits cannot tell one λ from another."
        if math.isfinite(noise) and noise > span else "."))
    return out


def p_star_mean(runs: pd.DataFrame) -> float:
    """The mean p* of the training images over the runs' folds (1: the three losses coincide)."""
    col = runs.get("metrics.p_star_mean")
    return float(col.dropna().mean()) if col is not None and col.notna().any() else math.nan


def load_fold(method: MultiLevelRCNN, fold, store):
    """A completed fold's pieces for the figures: ``(global model, proposer, every image's features)``, from the
    store and the cache (recomputed where the cache was cleared)."""
    ft = method.model_record(fold, store, train=False)
    if ft is None:
        raise LookupError(f"no global model is stored for {fold.id}; run the chapter's experiments first")
    model = method.load(ft, fold)
    det, _ = method.proposer(fold, ft, model)
    return model, det, method.features(fold, ft, model, det, progress=False)


def wheel_bars(label: str, p_star: float, order: Sequence[str], plus_one: bool = False) -> pd.Series:
    """Eq. 4's distribution for one dominant emotion, indexed by ``order`` (for a bar chart on the wheel)."""
    from vsalib.emotions import emotion_distribution

    return pd.Series(np.asarray(emotion_distribution(label, p_star, order=tuple(order), plus_one=plus_one)),
                     index=list(order))


__all__ = ["TABLE1_ROWS", "TABLE2_ROWS", "WHAT_RAN", "claims", "paper_classes", "run_classes", "lam_sentence", "lam_sweep", "load_fold", "p_star_mean",
           "proposer_summary", "published_table", "table", "table3", "wheel_bars", "LAMS"]


# -- the section's tables as printed ------------------------------------------------------------------
def printed_table(runs: pd.DataFrame, dataset: str, subset: str | None, rows, n_classes: int = 2,
                  values: dict | None = None, what_ran: bool = True) -> pd.DataFrame:
    """Tables 1 or 2 as printed: the paper's row, what ran (``what_ran``: the walk-through explains the rows; the
    real section, whose accuracies carry intervals, leaves the column out to fit the page), the paper's FI % and
    ours, mean per-class recall, and the gain over the global feature alone (paper's on FI, ours paired per fold)."""
    t = table(runs, dataset, subset, rows, values, n_classes)
    return pd.DataFrame({"paper's row": t["row"], **({"what ran": t["what ran"]} if what_ran else {}),
                         f"paper FI ({paper_classes(n_classes)}) %": t["paper FI %"],
                         "ours %": [report.fmt_acc(m, c, n) for m, c, n in zip(t["ours"], t["ci95"], t["runs"])],
                         "mean recall %": t["mean recall"].map(report.fmt_num),
                         "paper gain": t["paper gain"].map(report.fmt_gain), "our gain": t["our gain"].map(report.fmt_gain)})


def printed_proposer(runs: pd.DataFrame) -> pd.DataFrame:
    """The proposer's measurements as printed: one row per measurement, one column per split (a table narrow
    enough for the page however many splits ran)."""
    t = proposer_summary(runs)
    if not len(t):
        return t
    names = [f"seed {int(s)} fold {int(f)}" for s, f in zip(t["seed"], t["fold"])]
    cols = [n if names.count(n) == 1 else f"{n} (run {names[:i + 1].count(n)})" for i, n in enumerate(names)]
    body = t.drop(columns=["seed", "fold"])
    fmt = {"boxes / image": 2, "box area (share)": 3, "candidates / image": 1, "regions + features s / image": 3,
           "proposer training s": 0}
    return pd.DataFrame({"measurement": list(body.columns),
                         **{c: [report.fmt_num(body.iloc[i][m], fmt.get(m, 3)) for m in body.columns]
                            for i, c in enumerate(cols)}})


def printed_sweep(runs: pd.DataFrame, sweep: pd.DataFrame | None = None) -> pd.DataFrame:
    """Fig. 8 as printed: per λ, validation and test accuracy, and on how many folds validation chose it
    (``sweep``: :func:`lam_sweep` of ``runs`` where the caller has it)."""
    t = lam_sweep(runs) if sweep is None else sweep
    return pd.DataFrame({"λ": t["λ"], "validation %": t["validation %"].map(report.fmt_num),
                         "test %": [report.fmt_acc(m, c, n) for m, c, n in zip(t["test %"], t["ci95"], t["runs"])],
                         "chosen on (folds)": t["chosen on (folds)"]})


@chapters.register
class MultiLevelChapter(chapters.Chapter):
    """MultiLevelRCNN on EmotionROI (binary, its six emotions, Rao's per-category protocol) and Twitter I's three
    subsets: Tables 1-3, Fig. 8, the proposer and the claims, per protocol; the hand-crafted rows of Table 3 first."""

    name, order, method, notebook = "multilevel-rcnn", 5, MultiLevelRCNN, "multilevel_rcnn"
    datasets = (("emotionroi", "binary"), ("emotionroi", "emotion"), ("twitter1", "five"), ("twitter1", "four"),
                ("twitter1", "three"))
    runs = (chapters.RunGroup("multilevel-rcnn", "EmotionROI (binary, its fixed split, three seeds) and Twitter I "
                              "five/four/three-agree (5-fold CV): MultiLevelRCNN's Tables 1-3 with the random-box and "
                              "grid controls, and the λ sweep of Fig. 8", (chapters.EMOTIONROI, *chapters.TWITTER[:3])),
            chapters.RunGroup("multilevel-protocols", "MultiLevelRCNN on EmotionROI under Rao's per-category 5-fold "
                              "protocol (binary) and on EmotionROI's six emotions (its fixed split, three seeds): Table "
                              "3's second protocol and the 6-class column",
                              ({"dataset": "emotionroi", "subset": "binary", "protocol": "per_category", "seeds": [0]},
                               {"dataset": "emotionroi", "subset": "emotion", "seeds": [0, 1, 2]}), main=False))
    record_methods = ("multilevel-rcnn", "multilevel-rcnn-regions")  # every head and the proposer's record

    @classmethod
    def before(cls, path=None):
        from vsalib.methods import global_study

        with sections.folded():  # the hand-crafted rows: the long tail
            global_study.show_hand_crafted("rao", path=path)

    @classmethod
    def section(cls, runs, ds, sub, bb, prof):
        """Once per protocol the dataset ran under (EmotionROI: its fixed split, and Rao's per-category 5-fold split).
        The main path ends after the first dataset's first protocol (EmotionROI's fixed split): the other protocols
        and datasets are the section's folded rest."""
        protocols = sorted(runs["protocol"].dropna().unique()) if "protocol" in runs else []
        if len(protocols) <= 1:
            _protocol_section(runs, ds, sub, bb, prof)
        else:
            for proto in protocols:
                sections.md(f"#### {report.protocol_label(proto)}")  # named as the scoreboard names it
                _protocol_section(runs[runs["protocol"] == proto], ds, sub, bb, prof, report.protocol_label(proto))
                if (ds, sub) == cls.datasets[0]:  # its first protocol is the main path's last part
                    sections.fold_from_here()
        if (ds, sub) == cls.datasets[0]:
            sections.fold_from_here()


def _protocol_section(runs: pd.DataFrame, ds: str, sub: str | None, bb: str | None, prof: str | None,
                      protocol: str | None = None) -> None:
    """One protocol's tables; ``protocol`` (its name, where the dataset ran under several) goes into every
    caption, so that two protocols' tables never share a caption."""

    def cap(what: str) -> str:
        return report.caption(what, ds, sub, bb, prof, protocol=protocol)

    values = MultiLevelRCNN.paper_values(runs, ds, sub)
    fi = paper_classes(run_classes(runs))  # FI's 8 emotions, or its sentiment
    if fi == 8:
        sections.md("Here the labels are the dataset's emotions, not their sentiment, so the paper's column is its "
                    "8-class FI figure."
                    + (" Rao et al. print no figure for EmotionROI's emotions (their Table 3's multi-class EmotionROI "
                       "column repeats the 2-class one): these rows are ours alone, and Table 3 is not repeated for them."
                       if ds == "emotionroi" else ""))
    sections.show(printed_table(runs, ds, sub, TABLE1_ROWS, fi, values=values, what_ran=False),
                  cap("MultiLevelRCNN Table 1 (which regions) and the controls, paper (FI) beside ours"))
    sections.show(printed_table(runs, ds, sub, TABLE2_ROWS, fi, values=values, what_ran=False),
                  cap("MultiLevelRCNN Table 2 (which loss), paper (FI) beside ours"))
    if ds == "emotionroi" and fi == 2:
        t3 = table3(runs, ds, sub, values)
        with sections.folded():  # Table 3 (other methods' rows), the λ sweep, the proposer: the long tail
            sections.show(pd.DataFrame({"Table 3 row": t3["row"], "paper %": t3["paper %"],
                                        "ours %": [report.fmt_acc(m, c, n) if n else report.DASH
                                                   for m, c, n in zip(t3["ours"], t3["ci95"], t3["runs"])]}),
                          cap("MultiLevelRCNN Table 3, EmotionROI column, paper beside ours"))
    sections.under(runs)
    sweep = lam_sweep(runs)
    with sections.folded():
        if len(sweep) > 2:
            plots.show(figures.lam_curve(sweep, cap("Fig. 8: accuracy against λ")))
            sections.show(printed_sweep(runs, sweep), cap("The λ sweep: what validation picks, what test says"))
            sections.md(lam_sentence(sweep, p_star_mean(runs)))
        prop = printed_proposer(runs)
        if len(prop):
            sections.show(prop, cap("The emotional-region proposer per split"))
    sections.md(f"Always guessing the larger class would score {report.fmt_num(sections.majority_rate(runs))} % on "
                f"these test images. The training images' mean p* is {report.fmt_num(p_star_mean(runs), 3)}"
                + (" (p* = 1: the three losses coincide here)." if p_star_mean(runs) == 1 else "."))
    sections.verdicts("MultiLevelRCNN", claims(runs, ds, sub, values=values), ds, sub, bb, prof, protocol)

