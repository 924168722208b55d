"""R-CNNGSR's chapter: which stored runs it reads, Table 2 and the paper's three contributions (ours beside the
paper's), Fig. 5's ablation, the region-set reading and what the published runs measured of each reading, and its section
on the real benchmarks (:class:`RCNNGSRChapter`).
The method itself (card, config, Eqs. 3-6, ``train``/``evaluate``) is :mod:`vsalib.methods.rcnngsr`."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Iterable

import numpy as np
import pandas as pd

from vsalib import chapters, figures, plots, published, report, sections
from vsalib.methods.rcnngsr import (CARD, FUSION_READINGS, PAPER_XI, RCNNGSR, REGION_SETS, run_filters,
                                    fusion_rows)


def select_runs(runs, dataset: str, subset: str | None, keys: Iterable[str]):
    """The store's rows of one run of this chapter: the records with ``keys`` (global and
    ``rcnngsr-train`` runs) and the ``rcnngsr-fusion`` records built on them."""
    keys = list(keys)
    df = runs[runs["dataset"] == dataset] if len(runs) else runs
    if subset is not None and len(df):
        df = df[df["subset"] == subset]
    if not len(df):
        return df
    keep = df["key"].isin(keys)
    if "params.global" in df:
        keep |= (df["method"] == "rcnngsr-fusion") & df["params.global"].isin(keys)
    return df[keep]


def _rows(runs, row: str, reading: str = "sum", xi: tuple[float, float] | None = None, on: str = "probs",
          regions: str = "box"):
    """Test accuracy (%) per (seed, fold) of one row of Table 2 / Fig. 5."""
    from vsalib import report

    return report.row_accuracy(CARD.row(row), fusion_rows(runs, on, regions), run_filters(reading, xi))


TABLE2_ROWS = tuple(r.name for r in CARD.rows)


def table2(runs, dataset: str, *, reading: str = "sum", xi: tuple[float, float] | None = None, on: str = "probs",
           regions: str = "box"):
    """R-CNNGSR Table 2 for one dataset: the paper's accuracy beside ours (mean ± 95 % CI over splits;
    :func:`vsalib.report.card_table`).

    ``runs``: the rows of one run (:func:`select_runs`). Rows: VGG16 (frozen features + linear
    classifier), fine-tuned, our model trained with R alone (``f(x)``) and with its dead groups removed,
    R-CNNGSR (Eq. 3, ``reading``, f on ``on``, over the region set ``regions``: :func:`fusion_rows`) with the
    grouping's sentiment term and without it. ``xi``: keep the R-CNNGSR runs of these (ξ1, ξ2) only."""
    from vsalib import report

    return report.card_table(CARD, fusion_rows(runs, on, regions), dataset, where=run_filters(reading, xi)).drop(
        columns="note")


CONTRIBUTIONS = [(c.text, c.better, c.worse) for c in CARD.claims]  # (what, better row, the row it is compared with)


def contributions(runs, dataset: str, *, reading: str = "sum", xi: tuple[float, float] | None = None,
                  on: str = "probs", regions: str = "box"):
    """What each part brings: paired per-split differences of accuracy (points) with their 95 % CI,
    beside the paper's where its Table 2 has both rows (:func:`vsalib.report.card_claims`); Eq. 3's
    input as :func:`table2`'s."""
    from vsalib import report

    runs = fusion_rows(runs, on, regions)
    return report.card_claims(CARD, RCNNGSR.paper_values(runs, dataset, reading=reading, xi=xi, on=on, regions=regions),
                              runs, what="contribution", n="splits")


def ablation(runs, variants: dict[str, tuple[float, float]], *, reading: str = "sum", on: str = "probs",
             regions: str = "box"):
    """Fig. 5: per regulariser variant (name → (ξ1, ξ2)), the accuracy of f(x) and of R-CNNGSR
    (mean ± 95 % CI over splits; Eq. 3's input as :func:`table2`'s), and the fraction of dead groups."""
    import pandas as pd

    from vsalib.report import mean_ci_pct

    rows = []
    for name, xi in variants.items():
        row = {"variant": name, "xi1": xi[0], "xi2": xi[1]}
        for label, r in (("f(x)", "f(x) trained with R"), ("R-CNNGSR", "R-CNNGSR")):
            m, c, _ = mean_ci_pct(_rows(runs, r, reading, xi, on, regions))
            row.update({label: m, f"{label} ci95": c})
        tr = runs[(runs["method"] == "rcnngsr-train") & (runs["params.xi1"] == xi[0]) & (runs["params.xi2"] == xi[1])] \
            if len(runs) and "params.xi1" in runs else runs.iloc[:0]
        row["dead groups %"] = 100 * float(tr["metrics.dead_fraction"].mean()) if len(tr) else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def region_sets_run(runs) -> list[str]:
    """The region sets (:data:`REGION_SETS`) that have ``rcnngsr-fusion`` records in ``runs`` (f on probabilities)."""
    if not len(runs) or "method" not in runs:
        return []
    return [r for r in REGION_SETS if (fusion_rows(runs, "probs", r)["method"] == "rcnngsr-fusion").any()]


REGIONS_CLAIM = CARD.claims[2].text  # the regions (Eq. 3 against f(x) alone)


def region_set_table(runs, dataset: str, *, xi: tuple[float, float] | None = PAPER_XI):
    """R-CNNGSR under each region set that ran × each reading of Eq. 3 (f on probabilities): its accuracy
    (mean ± 95 % CI over splits), the regions per image, and what the regions bring over f(x) alone (the
    card's claim, paired per split, with its verdict: :func:`contributions`)."""
    import pandas as pd

    from vsalib import report

    rows = []
    for regions in region_sets_run(runs):
        sub = fusion_rows(runs, "probs", regions)
        for reading in FUSION_READINGS:
            acc = _rows(runs, "R-CNNGSR", reading, xi, "probs", regions)
            if not len(acc.dropna()):
                continue
            m, c, n = report.mean_ci_pct(acc)
            fr = sub[(sub["method"] == "rcnngsr-fusion") & (sub["params.reading"] == reading)
                     & (sub["params.sentiment"] == "with")]
            claim = contributions(runs, dataset, reading=reading, xi=xi, regions=regions).set_index("contribution")
            g = claim.loc[REGIONS_CLAIM]
            rows.append({"region set": regions, "Eq. 3": reading, "R-CNNGSR %": m, "ci95": c, "splits": n,
                         "regions / image": float(fr["metrics.mean_regions"].mean()) if len(fr) else np.nan,
                         "regions gain": g["our gain"], "gain ci95": g["ci95"], "verdict": g["verdict"]})
    return pd.DataFrame(rows, columns=["region set", "Eq. 3", "R-CNNGSR %", "ci95", "splits", "regions / image",
                                       "regions gain", "gain ci95", "verdict"])


def measured_effects(real: dict) -> dict[str, str]:
    """What the published runs measured of the card's substitutions (their ``measured`` names), per
    dataset of ``real`` (``(dataset, subset)`` → the snapshot's runs of this chapter): text with numbers."""
    from vsalib import report

    reading = []
    for (ds, sub), runs in real.items():
        t = {r: table2(runs, ds, reading=r, xi=PAPER_XI).set_index("row").loc["R-CNNGSR", "ours"] for r in FUSION_READINGS}
        reading.append(f"{report.dataset_name(ds, sub)}: R-CNNGSR " + ", ".join(f"{r} {v:.2f} %" for r, v in t.items()))
    return {"reading": "; ".join(reading)}


__all__ = ["CONTRIBUTIONS", "REGIONS_CLAIM", "TABLE2_ROWS", "ablation", "contributions", "measured_effects",
           "region_set_table", "region_sets_run", "select_runs", "table2"]


# -- the section's tables as printed ------------------------------------------------------------------
#: Fig. 5's variants at the paper's ξ.
FIG5_VARIANTS = {"L2 only (ξ1 = 0)": (0.0, PAPER_XI[1]), "GS only (ξ2 = 0)": (PAPER_XI[0], 0.0), "both": PAPER_XI}


def printed_table2(runs: pd.DataFrame, dataset: str, reading: str = "sum") -> pd.DataFrame:
    """Table 2 with rows named by what ran (the paper's row beside), paper % and ours (mean ± CI, n)."""
    t = table2(runs, dataset, reading=reading, xi=PAPER_XI)
    bb = sections.backbone_of(runs)
    return pd.DataFrame({"ours (what ran)": [report.our_row(r, bb) for r in t["row"]], "paper's row": t["row"],
                         "paper %": t["paper"], "ours %": sections.ours_column(t, sections.row_methods(CARD, t["row"]), runs),
                         "n": t["runs"]})


def printed_region_sets(runs: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """R-CNNGSR under each region set and reading of Eq. 3 that ran, as printed: accuracy, regions per image,
    and the regions' gain over f(x) alone with its verdict (:func:`region_set_table`)."""
    t = region_set_table(runs, dataset, xi=PAPER_XI)
    names = {"box": "boxes, every region (ours)", "distinct-masks": "distinct masks"}
    return pd.DataFrame({"region set": t["region set"].map(names), "Eq. 3": t["Eq. 3"],
                         "R-CNNGSR %": [report.fmt_acc(m, c, n) for m, c, n in zip(t["R-CNNGSR %"], t["ci95"], t["splits"])],
                         "regions / image": t["regions / image"].map(lambda v: report.fmt_num(v, 1)),
                         "regions against f(x) alone": [report.fmt_gain(m, c) for m, c in zip(t["regions gain"],
                                                                                           t["gain ci95"])],
                         "verdict": t["verdict"]})


def region_sentence(runs: pd.DataFrame, dataset: str) -> str:
    """What the region set changes, read off :func:`printed_region_sets`' numbers."""
    t = region_set_table(runs, dataset, xi=PAPER_XI)
    if t["region set"].nunique() < 2:
        return ""
    at = t.set_index(["region set", "Eq. 3"])
    parts = []
    for reading in FUSION_READINGS:
        if ("box", reading) in at.index and ("distinct-masks", reading) in at.index:
            b, d = at.loc[("box", reading)], at.loc[("distinct-masks", reading)]
            parts.append(f"with Eq. 3 {'as printed' if reading == 'sum' else 'as an average'}, "
                         f"{b['R-CNNGSR %']:.2f} % over boxes ({b['regions / image']:.0f} regions per image) and "
                         f"{d['R-CNNGSR %']:.2f} % over distinct masks ({d['regions / image']:.0f}); the regions "
                         f"against f(x) alone {report.fmt_gain(b['regions gain'], b['gain ci95'])} and "
                         f"{report.fmt_gain(d['regions gain'], d['gain ci95'])} points")
    return ("R-CNNGSR scores " + "; ".join(parts) + ". The paper does not say which of a region it scores; the "
            "box reading is R-CNN's practice (a region's bounding box warped to the network), the one the paper "
            "builds on, and the distinct-mask reading is what its area weights suggest (a region's own pixels, "
            "each counted once).") if parts else ""


def xi_grid(runs: pd.DataFrame) -> pd.DataFrame:
    """The ξ1 × ξ2 grid of the first seed: validation and test accuracy of f(x), dead groups."""
    tr = runs[runs["method"] == "rcnngsr-train"] if len(runs) else runs
    if not len(tr):
        return pd.DataFrame()
    tr = tr[tr["seed"] == tr["seed"].min()]
    g = tr.groupby(["params.xi1", "params.xi2"]).agg(val=("metrics.val_accuracy", "mean"),
                                                     test=("metrics.accuracy", "mean"),
                                                     dead=("metrics.dead_fraction", "mean")).reset_index()
    return pd.DataFrame({"ξ1": g["params.xi1"].map("{:g}".format), "ξ2": g["params.xi2"].map("{:g}".format),
                         "validation %": 100 * g["val"],
                         "test %": 100 * g["test"], "dead groups %": 100 * g["dead"]})


@chapters.register
class RCNNGSRChapter(chapters.Chapter):
    """R-CNNGSR on Emotion6, IAPS, ArtPhoto and Abstract: Table 2 under both readings of Eq. 3, the region sets,
    Fig. 5, the ξ grid and what each contribution brings."""

    name, order, method, notebook = "rcnngsr", 3, RCNNGSR, "rcnngsr"
    datasets = (("emotion6", "binary"), ("iaps", "binary"), ("artphoto", "binary"), ("abstract", "binary"))
    runs = (chapters.RunGroup("rcnngsr", "Emotion6, IAPS, ArtPhoto, Abstract (binary, 75/20/5 split over three seeds): "
                              "Table 2 and Fig. 5 of R-CNNGSR", chapters.RCNNGSR_DATASETS),
            chapters.RunGroup("rcnngsr-seeds", "seeds 3 and 4 of Emotion6's 75/20/5 split (five in all with the "
                              "chapter's three), for the claims three seeds leave undecided",
                              ({"dataset": "emotion6", "subset": "binary", "seeds": [3, 4]},), main=False))

    @classmethod
    def records(cls, runs, dataset, subset):
        """The global models and the ``rcnngsr-train`` runs (the latest of each fold and ξ), trained with
        subgradients (the chapter's main run), and the fusion records built on them (:func:`select_runs`)."""
        if "params.gs_proximal" in runs:
            runs = runs[~runs["params.gs_proximal"].fillna(False).astype(bool)]
        keys = published.base_keys(runs, ["global-frozen", "global-finetune"])
        keys += published.base_keys(runs, ["rcnngsr-train"], by=("params.xi1", "params.xi2"))
        return select_runs(runs, dataset, subset, keys)

    @classmethod
    def section(cls, runs, ds, sub, bb, prof):
        """Table 2 and the contributions with Eq. 3 as printed ('sum') are the main path; the 'average' reading, the
        region sets, Fig. 5, the ξ grid and the other datasets are the section's folded rest."""
        for reading in FUSION_READINGS:
            with sections.folded() if reading != FUSION_READINGS[0] else nullcontext():
                sections.show(printed_table2(runs, ds, reading),
                              report.caption(f"R-CNNGSR Table 2, Eq. 3 read as '{reading}', paper beside ours", ds, sub,
                                             bb, prof))
        t2 = {r: table2(runs, ds, reading=r, xi=PAPER_XI).set_index("row") for r in FUSION_READINGS}
        sections.md(f"R-CNNGSR scores {t2['sum'].loc['R-CNNGSR', 'ours']:.2f} % with Eq. 3 as printed and "
                    f"{t2['average'].loc['R-CNNGSR', 'ours']:.2f} % as an average, against "
                    f"{t2['sum'].loc['VGG16 fine-tuned', 'ours']:.2f} % for plain fine-tuning (the paper: "
                    f"{report.fmt_num(t2['sum'].loc['R-CNNGSR', 'paper'])} against "
                    f"{report.fmt_num(t2['sum'].loc['VGG16 fine-tuned', 'paper'])} %).")
        sections.under(runs)
        with sections.folded():
            if len(region_sets_run(runs)) > 1:
                sections.show(printed_region_sets(runs, ds), report.caption(
                    "R-CNNGSR under both region sets: Eq. 3 over boxes and over distinct masks", ds, sub, bb, prof))
                sections.md(region_sentence(runs, ds))
            ab = ablation(runs, FIG5_VARIANTS)
            if ab[["f(x)", "R-CNNGSR"]].notna().any().any():
                plots.show(figures.rcnngsr_fig5(ab, report.caption("R-CNNGSR Fig. 5", ds, sub, bb, prof)))
            grid = xi_grid(runs)
            if len(grid):
                sections.show(grid, report.caption("ξ grid on the first seed's split: what validation picks and what "
                                                   "test says", ds, sub, bb, prof))
        for reading in FUSION_READINGS:
            v = contributions(runs, ds, reading=reading, xi=PAPER_XI)
            with sections.folded() if reading != FUSION_READINGS[0] else nullcontext():
                sections.show(sections.claims_table(v, "contribution", "splits"),
                              report.caption(f"What each part brings, Eq. 3 read as '{reading}' (points)", ds, sub, bb,
                                             prof))
                sections.md(sections.verdict_sentence(v, report.dataset_name(ds, sub)))
        if (ds, sub) == cls.datasets[0]:  # the main path ends with Emotion6; the other datasets are folded
            sections.fold_from_here()

