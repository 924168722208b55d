"""The MultiLevelRCNN chapter's experiments, as functions of the store's records (issue 14).

- :func:`published_table`: Rao et al.'s Tables 1–3 as printed, one column per dataset and class count;
- :func:`table`: Tables 1 and 2 (and the controls) run here: ours beside the paper's FI figures (the table's
  dataset) and, for Table 3's rows, its EmotionROI column, with each row's gain over the global feature alone;
- :func:`lam_sweep`: Fig. 8 — accuracy against λ, and λ chosen on each fold's validation part;
- :func:`claims`: the card's claims as paired per-fold gains (those whose rows ran);
- :func:`proposer_summary`: what the proposer's records measured (boxes, recall of true boxes, cost);
- :func:`load_fold`: a fold's trained pieces back from the store and the cache, for the figures.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from vsalib import report, targets
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
