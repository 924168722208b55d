"""Each chapter's section "On the real benchmarks", built from the published snapshot.

``section(chapter)`` walks the chapter's datasets (:data:`vsalib.published.CHAPTER_DATASETS`) and, for
each one the snapshot holds, displays the paper's table beside ours (rows named by what ran, the
paper's row name beside), its figure(s), the verdicts on the paper's claims, and under each table the
runs it comes from; for a dataset the snapshot does not hold it says so in one line, with the command
that fills it. The same functions return the tables, for tests and the scoreboard.
"""

from __future__ import annotations

import math

import pandas as pd

from vsalib import figures, plots, published, report, scoreboard
from vsalib.methods import (global_cnn, multilevel_study, rcnngsr, rcnngsr_study, sun2016, sun2016_study, wsidnet,
                            wsidnet_study)

#: R-CNNGSR's Fig. 5 variants at the paper's ξ (chapter defaults).
XI = (0.001, 0.0005)
#: What the hand-crafted rows are (vsalib.methods.color_histogram), as the tables name them.
HAND_CRAFTED = {"gch": "GCH: 64-bin RGB histogram + linear SVM", "lch": "LCH: 4 × 4 blocks of 64-bin histograms + linear SVM"}
#: The chapters whose paper's table lists GCH and LCH: chapter → the targets' paper key.
HAND_CRAFTED_PAPERS = {"wsidnet": "wsidnet", "multilevel-rcnn": "rao"}
FIG5_VARIANTS = {"L2 only (ξ1 = 0)": (0.0, XI[1]), "GS only (ξ2 = 0)": (XI[0], 0.0), "both": XI}


def _backbone(runs: pd.DataFrame) -> str | None:
    col = runs.get("provenance.run.backbone")
    vals = sorted(set(col.dropna())) if col is not None else []
    return vals[0] if len(vals) == 1 else None


def _profile(runs: pd.DataFrame) -> str | None:
    col = runs.get("provenance.run.profile")
    vals = sorted(set(col.dropna())) if col is not None else []
    return ", ".join(vals) or None


def _ours_column(t: pd.DataFrame, row_methods: dict[str, str] | None = None,
                 runs: pd.DataFrame | None = None) -> list[str]:
    """``mean ± CI`` per row; a row made by an older version of its method gets a ``†``
    (:func:`vsalib.published.stale_note` under the table says what changed)."""
    stale = published.stale_methods(runs) if runs is not None and row_methods else {}
    return [report.fmt_acc(m, c, n) + (" †" if stale and row_methods.get(r) in stale else "")
            for r, m, c, n in zip(t["row"], t["ours"], t["ci95"], t["runs"])]


def _row_methods(card, rows) -> dict[str, str]:
    """The record method behind each displayed row (for the † of stale rows): the card's row of that
    name, or the derived row the name starts with (Sun2016's "… best K (oracle …)", "… K chosen on
    validation")."""
    derived = {"best K": "best K", "K chosen on validation": "K-val"}
    out = {}
    for r in rows:
        name = next((d for k, d in derived.items() if k in r and d in {x.name for x in card.derived}), r)
        out[r] = card.row(name).method
    return out


# -- Sun2016 ----------------------------------------------------------------------------------------
def sun2016_table1(runs: pd.DataFrame, dataset: str, subset: str | None) -> pd.DataFrame:
    """Table 1 with rows named by what ran (the paper's row beside), paper % and ours (mean ± CI, n)."""
    t = sun2016_study.table1(runs, dataset, subset, ks=range(1, 21))
    bb = _backbone(runs)
    return pd.DataFrame({"ours (what ran)": [report.our_row(r, bb) for r in t["row"]], "paper's row": t["row"],
                         "paper %": t["paper"], "ours %": _ours_column(t, _row_methods(sun2016.CARD, t["row"]), runs),
                         "n": t["runs"], "note": t["note"]})


def per_protocol(real: dict) -> list[tuple[str, str, str | None, pd.DataFrame]]:
    """:func:`section`'s runs per dataset *and* protocol (name, dataset, subset, runs), never pooled: a chapter's
    findings and summary read each protocol's claims apart, named as the scoreboard names them."""
    return [(name, ds, sub, r) for (ds, sub), runs in real.items() for name, _, r in scoreboard.by_protocol(runs, ds, sub)]


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


# -- R-CNNGSR ---------------------------------------------------------------------------------------
def rcnngsr_table2(runs: pd.DataFrame, dataset: str, reading: str = "sum") -> pd.DataFrame:
    t = rcnngsr_study.table2(runs, dataset, reading=reading, xi=XI)
    bb = _backbone(runs)
    return pd.DataFrame({"ours (what ran)": [report.our_row(r, bb) for r in t["row"]], "paper's row": t["row"],
                         "paper %": t["paper"], "ours %": _ours_column(t, _row_methods(rcnngsr.CARD, t["row"]), runs),
                         "n": t["runs"]})


def rcnngsr_region_sets(runs: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """R-CNNGSR under each region set and reading of Eq. 3 that ran, as printed: accuracy, regions per image,
    and the regions' gain over f(x) alone with its verdict (:func:`vsalib.methods.rcnngsr_study.region_set_table`)."""
    t = rcnngsr_study.region_set_table(runs, dataset, xi=XI)
    names = {"box": "boxes, every region (ours)", "distinct-masks": "distinct masks"}
    return pd.DataFrame({"region set": t["region set"].map(names), "Eq. 3": t["Eq. 3"],
                         "R-CNNGSR %": [report.fmt_acc(m, c, n) for m, c, n in zip(t["R-CNNGSR %"], t["ci95"], t["splits"])],
                         "regions / image": t["regions / image"].map(lambda v: report.fmt_num(v, 1)),
                         "regions against f(x) alone": [report.fmt_gain(m, c) for m, c in zip(t["regions gain"],
                                                                                           t["gain ci95"])],
                         "verdict": t["verdict"]})


def rcnngsr_region_sentence(runs: pd.DataFrame, dataset: str) -> str:
    """What the region set changes, read off :func:`rcnngsr_region_sets`'s numbers."""
    t = rcnngsr_study.region_set_table(runs, dataset, xi=XI)
    if t["region set"].nunique() < 2:
        return ""
    at = t.set_index(["region set", "Eq. 3"])
    parts = []
    for reading in rcnngsr.FUSION_READINGS:
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


def rcnngsr_grid(runs: pd.DataFrame) -> pd.DataFrame:
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


# -- WSIDNet -----------------------------------------------------------------------------------------
def wsidnet_table(runs: pd.DataFrame, dataset: str, subset: str | None, knobs: dict | None = None) -> pd.DataFrame:
    """Table 2 (and the graph controls) with the paper's % beside ours and each row's gain over the Backbone."""
    t = wsidnet_study.table(runs, dataset, subset, knobs)
    bb = _backbone(runs)
    return pd.DataFrame({"row": t["row"], "paper %": t["paper"],
                         "ours %": [report.fmt_acc(m, c, n) for m, c, n in zip(t["ours"], t["ci95"], t["runs"])],
                         "paper gain": t["paper gain"].map(report.fmt_gain), "our gain": t["our gain"].map(report.fmt_gain),
                         "n": t["runs"]}).assign(backbone=published.backbone_name(bb))


def wsidnet_rows_sentence(runs: pd.DataFrame) -> str:
    """Which WSIDNet the rows above are: their read-out and where the detection branch started (the knobs the
    runs hold, :func:`~vsalib.methods.wsidnet.default_knobs`), and what is still to run where the runs hold only
    the earlier default (the mean read-out)."""
    knobs = wsidnet.default_knobs(runs)
    read = ("the C node vectors concatenated (the default)" if knobs["readout"] == "concat" else
            "the mean of the C node vectors (the first default: it cancels a regular graph, see *The read-out*; "
            "the concatenated rows of this dataset are not in the snapshot yet)")
    start = (f"the detection branch started from WSIDNet trained on {report.dataset_name(knobs['detector_init'], None)}'s "
             "emotions, as the paper starts Twitter I's from FI" if knobs["detector_init"] != "none" else
             f"λ = {knobs['lam']:g}" + (" (the paper's, on the emotion labels)" if knobs["lam"] > 0 else ""))
    return f"WSIDNet rows here: {read}; {start}."


def wsidnet_sweep(runs: pd.DataFrame, param: str, knobs: dict | None = None) -> pd.DataFrame:
    """A sweep (k or λ) as printed: validation and test accuracy per value, and the value validation chose."""
    values = wsidnet.KS if param == "k" else wsidnet.LAMS
    t = wsidnet_study.sweep_table(runs, param, values, knobs)
    label = {"k": "k", "lam": "λ"}[param]
    return pd.DataFrame({label: [v if isinstance(v, str) else f"{v:g}" for v in t[param]],
                         "validation %": t["validation %"].map(report.fmt_num),
                         "test %": [report.fmt_acc(m, c, n) for m, c, n in zip(t["test %"], t["ci95"], t["runs"])],
                         "chosen on (folds)": t["chosen on (folds)"]})


def wsidnet_graph(runs: pd.DataFrame):
    """``(order, A, kind)`` of the faithful graph (``graph='auto'``) a WSIDNet of the first split used, from its
    record (``extra.graph``); None where no record holds one."""
    import numpy as np

    if not len(runs) or "extra.graph.adjacency" not in runs:  # the store's table flattens extra.graph
        return None
    sel = runs[runs["extra.graph.adjacency"].map(lambda a: isinstance(a, list)) & (runs.get("params.graph") == "auto")
               & (runs.get("params.detector_init") == "none")]
    if not len(sel):
        return None
    g = sel.sort_values(["seed", "fold"]).iloc[0]
    return list(g["extra.graph.order"]), np.asarray(g["extra.graph.adjacency"], dtype=float), g["extra.graph.kind"]


def table1_sentence(dataset: str, subset: str | None) -> str:
    """WSIDNet's Table 1 on one dataset in a sentence: every other row the paper prints there, lowest first."""
    from vsalib import targets

    col = report.paper_column(wsidnet.CARD, dataset, subset)
    t = targets.published(paper="wsidnet", table=1)
    t = t[(t["dataset"] == col) & (t["method"] != "WSIDNet")].sort_values("accuracy") if col else t.iloc[:0]
    if not len(t):
        return ""
    return ("The paper's Table 1 there: " + ", ".join(f"{m} {a:.2f}" for m, a in zip(t["method"], t["accuracy"]))
            + " % (the hand-crafted and earlier CNN rows quoted from other work).")


def graph_sentence(order, a) -> str:
    """The strongest edges of a graph, and whether opposite-polarity pairs are its strongest (Eq. 3's intent)."""
    import numpy as np

    from vsalib.data.labels import EKMAN_POLARITY
    from vsalib.emotions import POLARITY

    pol = {**EKMAN_POLARITY, **POLARITY}
    iu = np.triu_indices(len(order), 1)
    edges = sorted(zip(a[iu], [order[i] for i in iu[0]], [order[j] for j in iu[1]]), reverse=True)
    opposite = [e for e in edges if pol.get(e[1]) != pol.get(e[2])]
    text = "Strongest edges: " + "; ".join(f"{p}–{q} {w:.2f}" for w, p, q in edges[:3]) + "."
    if opposite and edges[0] not in opposite:
        text += (f" The strongest opposite-polarity edge ({opposite[0][1]}–{opposite[0][2]}, {opposite[0][0]:.2f}) is "
                 f"weaker than the strongest same-polarity one: with these distances, Eq. 3's +1 for opposite "
                 f"polarity does not make those pairs the strongest links, as it does on Mikels' wheel.")
    return text


# -- displaying a section ---------------------------------------------------------------------------
# -- MultiLevelRCNN ---------------------------------------------------------------------------------
def multilevel_table(runs: pd.DataFrame, dataset: str, subset: str | None, rows, n_classes: int = 2,
                     values: dict | None = None, what_ran: bool = True) -> pd.DataFrame:
    """Tables 1 or 2 as printed: the paper's row, what ran (``what_ran``: the walk-through explains the rows; the
    real section, whose accuracies carry intervals, leaves the column out to fit the page), the paper's FI % and
    ours, mean per-class recall, and the gain over the global feature alone (paper's on FI, ours paired per fold)."""
    t = multilevel_study.table(runs, dataset, subset, rows, values, n_classes)
    return pd.DataFrame({"paper's row": t["row"], **({"what ran": t["what ran"]} if what_ran else {}),
                         f"paper FI ({multilevel_study.paper_classes(n_classes)}) %": t["paper FI %"],
                         "ours %": [report.fmt_acc(m, c, n) for m, c, n in zip(t["ours"], t["ci95"], t["runs"])],
                         "mean recall %": t["mean recall"].map(report.fmt_num),
                         "paper gain": t["paper gain"].map(report.fmt_gain), "our gain": t["our gain"].map(report.fmt_gain)})


def proposer_table(runs: pd.DataFrame) -> pd.DataFrame:
    """The proposer's measurements as printed: one row per measurement, one column per split (a table narrow
    enough for the page however many splits ran)."""
    t = multilevel_study.proposer_summary(runs)
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


def multilevel_sweep(runs: pd.DataFrame, sweep: pd.DataFrame | None = None) -> pd.DataFrame:
    """Fig. 8 as printed: per λ, validation and test accuracy, and on how many folds validation chose it
    (``sweep``: :func:`~vsalib.methods.multilevel_study.lam_sweep` of ``runs`` where the caller has it)."""
    t = multilevel_study.lam_sweep(runs) if sweep is None else sweep
    return pd.DataFrame({"λ": t["λ"], "validation %": t["validation %"].map(report.fmt_num),
                         "test %": [report.fmt_acc(m, c, n) for m, c, n in zip(t["test %"], t["ci95"], t["runs"])],
                         "chosen on (folds)": t["chosen on (folds)"]})


def multilevel_section(runs: pd.DataFrame, ds: str, sub: str | None, bb: str | None, prof: str | None) -> None:
    """The MultiLevelRCNN chapter's part of :func:`section` for one dataset, once per protocol it ran under
    (EmotionROI: its fixed split, and Rao's per-category 5-fold split)."""
    protocols = sorted(runs["protocol"].dropna().unique()) if "protocol" in runs else []
    if len(protocols) <= 1:
        return _multilevel_protocol(runs, ds, sub, bb, prof)
    for proto in protocols:
        _md(f"#### {scoreboard.protocol_label(proto)}")  # named as the scoreboard names it
        _multilevel_protocol(runs[runs["protocol"] == proto], ds, sub, bb, prof, scoreboard.protocol_label(proto))


def _multilevel_protocol(runs: pd.DataFrame, ds: str, sub: str | None, bb: str | None, prof: str | None,
                         protocol: str | None = None) -> None:
    """One protocol's tables; ``protocol`` (its name, where the dataset ran under several) goes into every
    caption, so that two protocols' tables never share a caption."""
    import matplotlib.pyplot as plt

    from vsalib.methods.multilevel_rcnn import MultiLevelRCNN

    def cap(what: str) -> str:
        return report.caption(what, ds, sub, bb, prof, protocol=protocol)

    values = MultiLevelRCNN.paper_values(runs, ds, sub)
    fi = multilevel_study.paper_classes(multilevel_study.run_classes(runs))  # FI's 8 emotions, or its sentiment
    if fi == 8:
        _md("Here the labels are the dataset's emotions, not their sentiment, so the paper's column is its 8-class "
            "FI figure."
            + (" Rao et al. print no figure for EmotionROI's emotions (their Table 3's multi-class EmotionROI column "
               "repeats the 2-class one): these rows are ours alone, and Table 3 is not repeated for them."
               if ds == "emotionroi" else ""))
    _show(multilevel_table(runs, ds, sub, multilevel_study.TABLE1_ROWS, fi, values=values, what_ran=False),
          cap("MultiLevelRCNN Table 1 (which regions) and the controls, paper (FI) beside ours"))
    _show(multilevel_table(runs, ds, sub, multilevel_study.TABLE2_ROWS, fi, values=values, what_ran=False),
          cap("MultiLevelRCNN Table 2 (which loss), paper (FI) beside ours"))
    if ds == "emotionroi" and fi == 2:
        t3 = multilevel_study.table3(runs, ds, sub, values)
        _show(pd.DataFrame({"Table 3 row": t3["row"], "paper %": t3["paper %"],
                            "ours %": [report.fmt_acc(m, c, n) if n else report.DASH
                                       for m, c, n in zip(t3["ours"], t3["ci95"], t3["runs"])]}),
              cap("MultiLevelRCNN Table 3, EmotionROI column, paper beside ours"))
    _under(runs)
    sweep = multilevel_study.lam_sweep(runs)
    if len(sweep) > 2:
        fig = figures.lam_curve(sweep, cap("Fig. 8: accuracy against λ"))
        plots.show(fig)
        _show(multilevel_sweep(runs, sweep), cap("The λ sweep: what validation picks, what test says"))
        _md(multilevel_study.lam_sentence(sweep, multilevel_study.p_star_mean(runs)))
    prop = proposer_table(runs)
    if len(prop):
        _show(prop, cap("The emotional-region proposer per split"))
    _md(f"Always guessing the larger class would score {report.fmt_num(scoreboard.majority_rate(runs))} % on these "
        f"test images. The training images' mean p* is {report.fmt_num(multilevel_study.p_star_mean(runs), 3)}"
        + (" (p* = 1: the three losses coincide here)." if multilevel_study.p_star_mean(runs) == 1 else "."))
    _verdicts("MultiLevelRCNN", multilevel_study.claims(runs, ds, sub, values=values), ds, sub, bb, prof, protocol)


def attr_section(runs: pd.DataFrame, ds: str, sub: str | None, bb: str | None, prof: str | None) -> None:
    """The AttrAttention chapter's part of :func:`section` for one dataset: the four variants beside the paper's
    VSO figures, the shuffled-attribute check, augmentation before vs after the split, the degenerate folder
    attribute where it ran, and the verdicts."""
    from vsalib.methods import attr_attention, attr_study

    main = attr_attention.select_source(runs[runs["method"] == "attr-attention"])
    source = str(main["params.attribute"].iloc[0]) if len(main) else None
    _show(attr_study.formatted_variants(runs), report.caption(
        f"AttrAttention's four variants (attribute: {SOURCE_NAMES.get(source, source)}), paper (VSO) beside ours",
        ds, sub, bb, prof))
    _under(runs)
    sh = attr_study.shuffled_table(runs)
    if len(sh):
        _md(f"With each test image given another test image's attribute, the same model scores "
            f"{report.fmt_num(sh['shuffled attribute %'].mean())} % instead of {report.fmt_num(sh['true attribute %'].mean())} % "
            f"(mean over {len(sh)} splits). Always guessing the larger class would score "
            f"{report.fmt_num(scoreboard.majority_rate(main))} % on these test images.")
    aug = attr_study.augmentation_table(runs, source)
    if len(aug):
        _show(pd.DataFrame({"seed": aug["seed"], "after %": aug["after %"].map(report.fmt_num),
                            "before %": aug["before %"].map(report.fmt_num),
                            "gain from the order": aug["gain from the order"].map(report.fmt_gain),
                            "test images seen in training %": aug["test images seen in training %"].map(report.fmt_num)}),
              report.caption("Augmented copies split with their image (after) or as images of their own (before, the "
                             "paper's order), on an inner split of each training part", ds, sub, bb, prof))
    if len(attr_attention.select_source(runs, "folder")):
        _show(attr_study.formatted_variants(runs, "folder"),
              report.caption("The degenerate attribute: the folder emotion, which fixes the label", ds, sub, bb, prof))
    _verdicts("AttrAttention", attr_study.claims(runs, source), ds, sub, bb, prof)


SOURCE_NAMES = {"adjective": "the adjective", "dominant": "the dominant emotion of the votes",
                "folder": "the folder emotion"}


def _verdicts(paper: str, v: pd.DataFrame, ds: str, sub: str | None, bb: str | None, prof: str | None,
              protocol: str | None = None) -> None:
    """A paper's claims on one dataset (under one ``protocol``, named where it ran under several) as a table and
    a sentence (a line when none of them ran there)."""
    if not len(v):
        _md(f"None of {paper}'s claims has both of its rows in the snapshot for this dataset yet.")
        return
    _show(claims_table(v), report.caption(f"What held: {paper}'s claims as paired per-fold gains (points)",
                                          ds, sub, bb, prof, protocol=protocol))
    name = report.dataset_name(ds, sub)
    _md(verdict_sentence(v, f"{name} ({protocol})" if protocol else name))


def _md(text: str) -> None:
    from IPython.display import Markdown, display

    display(Markdown(text))


def _show(df: pd.DataFrame, caption: str) -> None:
    from IPython.display import display

    display(report.show(df, caption))


def _under(runs: pd.DataFrame) -> None:
    _md(published.provenance_line(runs) + ("\n\n" + published.stale_note(runs) if published.stale_note(runs) else ""))


def _missing(chapter: str, dataset: str, subset: str | None) -> None:
    _md(f"*{report.dataset_name(dataset, subset)}*: the snapshot holds no run of this chapter; "
        f"`{published.fill_command(chapter, dataset, subset)}` fills it where the dataset is available.")


def hand_crafted_table(paper: str, *, path=None) -> pd.DataFrame:
    """The colour-histogram rows (GCH, LCH) that ``paper``'s table quotes, beside ours from the snapshot, per
    dataset: the paper's %, ours (mean ± 95 % CI over splits, n) and the majority class of the test parts."""
    runs = published.profile_runs(published.load(path), "cpu")
    runs = runs[runs["key"].isin(published.base_keys(runs, ("gch", "lch")))] if len(runs) else runs
    cmp = global_cnn.paper_comparison(runs)
    cmp = cmp[(cmp["paper"] == paper) & cmp["our method"].isin(list(HAND_CRAFTED))]
    from vsalib import targets

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
                     "n": r["runs"], "majority %": report.fmt_num(_majority_of(runs, paper, r["dataset"], r["our method"]))})
    return pd.DataFrame(rows, columns=["dataset", "paper's row", "ours (what ran)", "paper %", "ours %", "n", "majority %"])


def _majority_of(runs: pd.DataFrame, paper: str, column: str, method: str) -> float:
    """The majority-class rate of the test images of ``method``'s runs on the dataset that ``paper`` calls ``column``."""
    where = _baseline_datasets()
    ds, sub = where.get((paper, column), (None, None))
    sel = runs[(runs["dataset"] == ds) & (runs["method"] == method)] if len(runs) else runs
    if sub is not None and len(sel):
        sel = sel[sel["subset"] == sub]
    return scoreboard.majority_rate(sel) if len(sel) else math.nan



def _baseline_datasets() -> dict[tuple[str, str], tuple[str, str | None]]:
    """(paper, the global-baseline table's dataset column) → (dataset, subset), from global_cnn.PAPER_BASELINES."""
    return {(p, c): d for p, _, _, ds in global_cnn.PAPER_BASELINES for c, d in ds.items()}

def zero_spread_sentence(runs: pd.DataFrame, have: pd.DataFrame) -> str:
    """Where a row of the global-baseline table shows ``± 0.00`` over several splits: what it is (every split
    scoring the same number of its test images correct), so that a reader does not take it for one split counted
    several times."""
    out = []
    where = _baseline_datasets()
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
        sel = latest_of(sel)
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
    model of its own (WSIDNet's Backbone: the holistic branch, trained by WSIDNet's method, one seed) rather than
    the global fine-tune this table shows, that model's figure, so that the two pages' numbers are told apart."""
    where = _baseline_datasets()
    notes = []
    for _, r in have.iterrows():
        note = ""
        if r["paper"] == "wsidnet" and r["paper method"] == "Backbone":
            ds, sub = where.get((r["paper"], r["dataset"]), (None, None))
            t = wsidnet_study.table(published.chapter_runs("wsidnet", ds, sub, runs=runs), ds, sub) if ds else None
            bb = t[t["row"] == "Backbone"] if t is not None and len(t) else pd.DataFrame()
            if len(bb):
                b = bb.iloc[0]
                note = (f"WSIDNet's chapter compares with its own Backbone (the holistic branch, trained by WSIDNet's "
                        f"method): {report.fmt_acc(b['ours'], b['ci95'], b['runs'])}, n {int(b['runs'])}")
        notes.append(note)
    return notes


def latest_of(sel: pd.DataFrame) -> pd.DataFrame:
    """The latest record of each (seed, fold) of ``sel``."""
    if not len(sel):
        return sel
    return sel.sort_values("created").drop_duplicates(["seed", "fold"], keep="last")


def show_hand_crafted(paper: str, *, path=None) -> pd.DataFrame:
    """Display :func:`hand_crafted_table` with its caption (and what it is for); returns it."""
    t = hand_crafted_table(paper, path=path)
    table = {"wsidnet": "WSIDNet's Table 1", "rao": "Rao et al.'s Table 3"}.get(paper, f"{paper}'s table")
    if len(t):
        _show(t, f"The hand-crafted baselines {table} quotes (Siersdorfer et al. 2010), computed by us: colour "
                 "histograms with a linear SVM, C chosen on validation (vsalib.methods.color_histogram). They anchor the "
                 "scale of every gain: how far a model that sees only colours gets")
    return t


def section(chapter: str, *, path=None) -> dict[tuple[str, str | None], pd.DataFrame]:
    """Display ``chapter``'s real-benchmark results from the snapshot; returns the runs per dataset."""
    import matplotlib.pyplot as plt

    shown: dict[tuple[str, str | None], pd.DataFrame] = {}
    if chapter == "global_baseline":  # the profile's backbone and scope (not the ladder's rungs)
        runs = published.profile_runs(published.load(path), "cpu")
        cmp = global_cnn.paper_comparison(runs[runs["key"].isin(published.base_keys(
            runs, global_cnn.BASELINE_METHODS))] if len(runs) else runs)
        have = cmp[cmp["runs"] > 0]
        if not len(have):
            _missing(chapter, "twitter1", None)
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
                              "majority %": [report.fmt_num(_majority_of(runs, p, d, m)) for p, d, m in
                                             zip(have["paper"], have["dataset"], have["our method"])]})
        notes = own_baseline_notes(runs, have)
        if any(notes):
            table["note"] = notes
        _show(table, "The global baseline beside the papers' VGG16 rows (published snapshot); majority %: always "
                     "guessing the larger class on the same test images" + (
                         "; note: where a paper's chapter compares with a baseline of its own, trained by its "
                         "method, that baseline's figure" if any(notes) else ""))
        if (zero := zero_spread_sentence(runs, have)):
            _md(zero)
        for ds, sub in published.CHAPTER_DATASETS[chapter]:
            r = published.chapter_runs(chapter, ds, sub, runs=runs)
            if len(r):
                shown[(ds, sub)] = r
                _md(f"*{report.dataset_name(ds, sub)}* — " + published.provenance_line(r))
            else:
                _missing(chapter, ds, sub)
        gain = global_cnn.finetune_gain(cmp)
        if len(gain):
            gain["dataset"] = gain["dataset"].map(lambda d: report.PAPER_COLUMNS.get(d, d))
            _show(gain,
                  "What fine-tuning adds over frozen features, Sun2016 Table 1 against ours (points)")
        return shown
    all_runs = published.load(path)
    if chapter in HAND_CRAFTED_PAPERS:  # the colour-histogram rows its table quotes, computed by us
        show_hand_crafted(HAND_CRAFTED_PAPERS[chapter], path=path)
    for ds, sub in published.CHAPTER_DATASETS[chapter]:
        runs = published.chapter_runs(chapter, ds, sub, runs=all_runs)
        if not len(runs):
            _missing(chapter, ds, sub)
            continue
        shown[(ds, sub)] = runs
        bb, prof = _backbone(runs), _profile(runs)
        _md(f"### {report.dataset_name(ds, sub)}")
        if chapter == "sun2016":
            _show(sun2016_table1(runs, ds, sub), report.caption("Sun2016 Table 1, paper beside ours", ds, sub, bb, prof))
            _under(runs)
            _md(f"Always guessing the larger class would score {report.fmt_num(scoreboard.majority_rate(runs))} % on "
                "these test images: read every row against it.")
            fig = figures.sun2016_fig4(
                runs, report.caption("Sun2016 Fig. 4", ds, sub, bb, prof) + " · mean ± 95 % CI over folds")
            plots.show(fig)
            v = sun2016_study.claims(runs, ds, sub)
            _show(claims_table(v), report.caption("What held: Sun2016's claims as paired per-fold gains (points)",
                                                  ds, sub, bb, prof))
            _md(verdict_sentence(v, report.dataset_name(ds, sub)))
        elif chapter == "rcnngsr":
            for reading in rcnngsr.FUSION_READINGS:
                _show(rcnngsr_table2(runs, ds, reading),
                      report.caption(f"R-CNNGSR Table 2, Eq. 3 read as '{reading}', paper beside ours", ds, sub, bb, prof))
            t2 = {r: rcnngsr_study.table2(runs, ds, reading=r, xi=XI).set_index("row") for r in rcnngsr.FUSION_READINGS}
            _md(f"R-CNNGSR scores {t2['sum'].loc['R-CNNGSR', 'ours']:.2f} % with Eq. 3 as printed and "
                f"{t2['average'].loc['R-CNNGSR', 'ours']:.2f} % as an average, against "
                f"{t2['sum'].loc['VGG16 fine-tuned', 'ours']:.2f} % for plain fine-tuning (the paper: "
                f"{report.fmt_num(t2['sum'].loc['R-CNNGSR', 'paper'])} against "
                f"{report.fmt_num(t2['sum'].loc['VGG16 fine-tuned', 'paper'])} %).")
            _under(runs)
            if len(rcnngsr_study.region_sets_run(runs)) > 1:
                _show(rcnngsr_region_sets(runs, ds), report.caption("R-CNNGSR under both region sets: Eq. 3 over "
                                                                    "boxes and over distinct masks", ds, sub, bb, prof))
                _md(rcnngsr_region_sentence(runs, ds))
            ab = rcnngsr_study.ablation(runs, FIG5_VARIANTS)
            if ab[["f(x)", "R-CNNGSR"]].notna().any().any():
                fig = figures.rcnngsr_fig5(ab, report.caption("R-CNNGSR Fig. 5", ds, sub, bb, prof))
                plots.show(fig)
            grid = rcnngsr_grid(runs)
            if len(grid):
                _show(grid, report.caption("ξ grid on the first seed's split: what validation picks and what test says",
                                           ds, sub, bb, prof))
            for reading in rcnngsr.FUSION_READINGS:
                v = rcnngsr_study.contributions(runs, ds, reading=reading, xi=XI)
                _show(claims_table(v, "contribution", "splits"),
                      report.caption(f"What each part brings, Eq. 3 read as '{reading}' (points)", ds, sub, bb, prof))
                _md(verdict_sentence(v, report.dataset_name(ds, sub)))
        elif chapter == "wsidnet":
            _show(wsidnet_table(runs, ds, sub), report.caption("WSIDNet Table 2 and the graph controls, paper beside "
                                                               "ours", ds, sub, bb, prof))
            _under(runs)
            _md(wsidnet_rows_sentence(runs))
            for param in ("k", "lam"):
                sw = wsidnet_sweep(runs, param)
                if len(sw) > 2:  # at least two values and the choice
                    _show(sw, report.caption(f"The {'λ' if param == 'lam' else 'k'} sweep: what validation picks, "
                                             f"what test says", ds, sub, bb, prof))
            _md(f"Always guessing the larger class would score {report.fmt_num(scoreboard.majority_rate(runs))} % on "
                f"these test images. " + table1_sentence(ds, sub))
            graph = wsidnet_graph(runs)
            if graph is not None:
                order, a, kind = graph
                fig, ax = plt.subplots(figsize=(5.4, 4.6))
                figures.adjacency_heatmap(a, order, report.caption(f"The {kind} graph (Eq. 3) of the first split",
                                                                   ds, sub, None, prof), ax)
                fig.tight_layout()
                plots.show(fig)
                _md(graph_sentence(order, a))
            _verdicts("WSIDNet", wsidnet_study.claims(runs, ds, sub), ds, sub, bb, prof)
        elif chapter == "multilevel-rcnn":
            multilevel_section(runs, ds, sub, bb, prof)
        elif chapter == "attr-attention":
            attr_section(runs, ds, sub, bb, prof)
    if chapter == "sun2016":
        curves = sun2016_study.k_curves_by_subset(
            pd.concat(list(shown.values())) if shown else all_runs.iloc[:0], "twitter1", sun2016.Sun2016Config())
        if len(curves):
            fig = figures.k_curves(curves, "Twitter I: obj+senti late fusion against K, every subset (Fig. 4)")
            plots.show(fig)
    return shown


__all__ = ["FIG5_VARIANTS", "SOURCE_NAMES", "attr_section", "XI", "claims_table", "per_protocol", "verdict_sentence", "rcnngsr_grid", "rcnngsr_region_sentence", "rcnngsr_region_sets", "rcnngsr_table2", "section",
           "sun2016_table1", "graph_sentence", "multilevel_section", "multilevel_sweep", "proposer_table", "multilevel_table", "table1_sentence", "wsidnet_graph", "wsidnet_sweep", "wsidnet_table"]
