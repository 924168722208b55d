"""WSIDNet's experiments: the variants its chapter runs, their tables, and what its maps point at.

- :func:`variants`: the runs of the chapter, by name — Table 2 (Backbone, WSIDNet: on binary-only data its
  detection branch trained on EmotionROI's emotions; WSIDNet without emotion supervision, λ = 0), the
  controls (identity, uniform and shuffled graphs, the mean read-out), the k sweep and the λ sweep — as
  :class:`~vsalib.methods.wsidnet.WSIDNetConfig` settings; :func:`readout_gap`: what the read-out lets
  the graph change;
  :func:`run_variants` runs them on the fold runner (a fold already stored is read back).
- :func:`table`, :func:`sweep_table`: the paper's rows beside ours, and a sweep with the value the
  validation part chooses on each fold (never the test part).
- :func:`load_model`, :func:`image_batch`, :func:`emotion_outputs`, :func:`pointing_hits`: a trained
  model back from its record, its emotion maps of any image, and the pointing game (does a map's
  maximum fall inside the affective object's box?) against Grad-CAM's.
- :class:`WSIDNetChapter`: its section on the real benchmarks, with the tables as printed (:func:`printed_table`,
  :func:`printed_sweep`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch

from vsalib import chapters, figures, plots, published, report, sections
from vsalib.methods import base
from vsalib.methods.wsidnet import (CARD, DEFAULT_K, DETECTOR_SOURCE, KS, LAMS, PAPER_LAM, WSIDNet, WSIDNetHeadConfig,
                                    WSIDNetNet, default_knobs, validation_choice)

CONTROL_GRAPHS = ("identity", "uniform", "shuffled")
GROUPS = ("table2", "controls", "k", "lam")


def has_emotions(dataset) -> bool:
    """Whether ``dataset`` (an :class:`~vsalib.data.ImageDataset`) carries an emotion class per image."""
    return "emotion" in dataset.table.columns


def variants(settings: dict, *, emotions: bool, groups: Sequence[str] = GROUPS, controls: Sequence[str] = CONTROL_GRAPHS,
             ks: Sequence[int] = KS, lams: Sequence[float] = LAMS, detector_from: str | None = DETECTOR_SOURCE,
             ) -> dict[str, dict]:
    """The chapter's runs, name → :class:`~vsalib.methods.wsidnet.WSIDNetConfig` settings (``settings``: the
    training's and the head's shared ones). With emotion labels (``emotions``) WSIDNet trains with the
    paper's λ = 0.1; without, with λ = 0 and its detection branch from WSIDNet trained on ``detector_from``
    (the paper's "initialised from FI": without it the C nodes carry no emotion; None: from nothing). Every
    other row keeps the main row's settings but one: λ = 0 with no start (no emotion supervision), the mean
    read-out, a control graph, a k or a λ. A setting that two names share runs once."""
    unknown = sorted(set(groups) - set(GROUPS))
    if unknown:
        raise ValueError(f"unknown variant group(s) {unknown}; valid: {', '.join(GROUPS)}")
    lam = settings.get("lam", PAPER_LAM if emotions else 0.0)
    if lam > 0 and not emotions:
        raise ValueError(f"lam={lam}: this dataset has no emotion labels, so L_detect is undefined; use lam=0")
    start = detector_from if not emotions and detector_from else "none"
    main = {**settings, "branch": "full", "graph": settings.get("graph", "auto"), "k": settings.get("k", DEFAULT_K),
            "lam": lam, "detector_init": start}
    out: dict[str, dict] = {}
    if "table2" in groups:
        out["Backbone"] = {**{k: v for k, v in settings.items() if k not in ("k", "lam", "graph", "readout")},
                           "branch": "holistic", "lam": 0.0}
        out["WSIDNet"] = main
        out["WSIDNet, no emotion supervision (λ = 0)"] = {**main, "lam": 0.0, "detector_init": "none"}
    if "controls" in groups:
        out.update({f"WSIDNet, {g} graph": {**main, "graph": g} for g in controls})
        if main.get("readout", "concat") != "mean":
            out["WSIDNet, mean read-out"] = {**main, "readout": "mean"}
    if "k" in groups:
        out.update({f"k = {k}": {**main, "k": k} for k in ks})
    if "lam" in groups and emotions:
        out.update({f"λ = {lam:g}": {**main, "lam": lam} for lam in lams})
    seen, unique = [], {}
    for name, s in out.items():
        if s not in seen:
            seen.append(s)
            unique[name] = s
    return unique


def run_variants(dataset, splits, runs: dict[str, dict], *, subset: str | None, store, progress: bool = True,
                 **run_settings) -> dict[str, list]:
    """Run every variant on every split (:func:`vsalib.methods.base.run`; stored folds are read back).
    ``run_settings``: how a run is made (``cache_dir``, ``checkpoint_dir``, ``device``, ``num_workers``,
    ``source``), not what it is."""
    from vsalib.progress import tqdm

    out = {}
    for name, settings in tqdm(list(runs.items()), desc="WSIDNet variants", disable=not progress):
        method = WSIDNet(**settings, progress=progress, **run_settings)
        out[name] = base.run(method, dataset, splits, subset=subset, store=store, progress=progress)
    return out


def readout_gap(adjacency, readout: str, *, dim: int = 16, seed: int = 0) -> float:
    """How far one linear graph convolution read out by ``readout`` (``mean`` or ``concat``) moves when the
    graph ``adjacency`` is replaced by no edges (the identity control): the largest absolute difference of
    the two read-outs of ``Â H W`` for random H and W (seeded). 0 (to float precision) for the mean on a
    regular graph (:func:`~vsalib.methods.wsidnet.mean_readout_ignores_graph`): its edges cannot matter."""
    from vsalib.emotions import normalized_adjacency

    a = np.asarray(adjacency, dtype=float)
    rng = np.random.default_rng(seed)
    h, w = rng.standard_normal((a.shape[0], dim)), rng.standard_normal((dim, dim))
    outs = [np.asarray(normalized_adjacency(g)) @ h @ w for g in (a, np.zeros_like(a))]
    read = [o.mean(axis=0) if readout == "mean" else o.ravel() for o in outs]
    return float(np.abs(read[0] - read[1]).max())


# -- tables --------------------------------------------------------------------------------------------
def table(runs: pd.DataFrame, dataset: str, subset: str | None = None, knobs: dict | None = None) -> pd.DataFrame:
    """Every row of the card that ran (and the k chosen on validation): the paper's % beside ours (mean ±
    95 % CI over folds and seeds, n), and each row's gain over the Backbone, the paper's and ours."""
    values = WSIDNet.paper_values(runs, dataset, subset, knobs=knobs)
    backbone, paper_backbone = values["Backbone"]
    rows = []
    for name, (vals, paper) in values.items():
        m, c, n = report.mean_ci_pct(vals)
        if not n:
            continue
        gain = (vals - backbone).dropna() if name != "Backbone" else pd.Series(dtype=float)
        rows.append({"row": name, "paper": paper, "ours": m, "ci95": c, "runs": n,
                     "paper gain": paper - paper_backbone if name != "Backbone" else np.nan,
                     "our gain": gain.mean() if len(gain) else np.nan})
    return pd.DataFrame(rows, columns=["row", "paper", "ours", "ci95", "runs", "paper gain", "our gain"])


def sweep_table(runs: pd.DataFrame, param: str, values: Sequence, knobs: dict | None = None) -> pd.DataFrame:
    """One knob swept (``k`` or ``lam``), the others at ``knobs``: per value, validation and test accuracy
    (mean over the folds where every value ran), on how many of them the validation part chose it; last,
    the test accuracy of the value chosen on each fold's validation part."""
    knobs = {**(default_knobs(runs) if knobs is None else knobs), "branch": "full", "graph": "auto"}
    per = {}
    for v in values:
        row = base.PaperRow(f"{param} = {v}", "wsidnet", {**knobs, param: v})
        per[v] = (report.row_accuracy(row, runs), report.row_accuracy(base.PaperRow(row.name, row.method, row.params,
                                                                                     metric="val_accuracy"), runs))
    test, chosen = validation_choice(per)
    if not len(test):
        return pd.DataFrame(columns=[param, "validation %", "test %", "ci95", "runs", "chosen on (folds)"])
    rows = []
    for v, (t, val) in per.items():
        if not len(t):
            continue
        t, val = t.loc[test.index], val.loc[test.index]  # the folds where every value ran
        m, c, n = report.mean_ci_pct(t)
        rows.append({param: v, "validation %": val.mean(), "test %": m, "ci95": c, "runs": n,
                     "chosen on (folds)": int((chosen == v).sum())})
    m, c, n = report.mean_ci_pct(test)
    rows.append({param: "chosen on validation", "validation %": np.nan, "test %": m, "ci95": c, "runs": n,
                 "chosen on (folds)": n})
    return pd.DataFrame(rows)


def claims(runs: pd.DataFrame, dataset: str, subset: str | None = None, knobs: dict | None = None, *,
           run_only: bool = True) -> pd.DataFrame:
    """The card's claims on ``runs`` (:func:`vsalib.report.card_claims`); ``run_only``: without the claims
    whose rows did not run on this dataset (the EmotionROI-trained detector on EmotionROI itself, a control
    graph a run left out)."""
    v = report.card_claims(CARD, WSIDNet.paper_values(runs, dataset, subset, knobs=knobs), runs,
                           rows=WSIDNet.paper_rows(runs, knobs))
    return v[v["verdict"] != "–"].reset_index(drop=True) if run_only else v


def graph_verdict(verdicts: dict[str, pd.DataFrame]) -> str:
    """Markdown: per dataset, whether the emotion graph is what brings WSIDNet's gain, from its claims
    (:func:`claims` per dataset name): the gain over the Backbone, then the faithful graph against the
    controls that keep everything but the edges."""
    main, controls = CARD.claims[0].text, [c.text for c in CARD.claims[1:4]]
    with_controls = [name for name, v in verdicts.items() if set(controls) & set(v[v.columns[0]])]
    out = []
    for name, v in verdicts.items():
        v = v.set_index(v.columns[0])
        if main not in v.index:
            continue
        g = v.loc[main]
        ran = [c for c in controls if c in v.index]
        text = f"On {name}, WSIDNet against its Backbone: {report.fmt_gain(g['our gain'], g['ci95'])} points ({g['verdict']}"
        text += f"; the paper {report.fmt_gain(g['paper gain'])})." if g["paper gain"] == g["paper gain"] else ")."
        if not ran:
            elsewhere = f" (they ran on {', '.join(with_controls)})" if with_controls else ""
            out.append(text + f" The control graphs have not run there{elsewhere}, so the graph's share cannot be told "
                       "on this data (the chapter's `cpu` and `paper` profiles run them beside Table 2).")
            continue
        text += " Against graphs that keep everything but the edges: " + "; ".join(
            f"{c.split('against ')[-1]} {report.fmt_gain(v.loc[c, 'our gain'], v.loc[c, 'ci95'])} ({v.loc[c, 'verdict']})"
            for c in ran) + "."
        held = [v.loc[c, "verdict"] == "held" for c in ran]
        if g["verdict"] != "held" and not any(held):
            text += " There is no resolved gain to attribute, and the faithful graph does not beat its controls."
        elif all(held):
            text += " The faithful graph beats every control: here the emotion graph is what brings the gain."
        elif any(held):
            text += " The faithful graph beats some controls and not others: the edges matter only in part."
        else:
            text += (" The faithful graph does not beat its controls: what the graph branch brings does not depend on "
                     "the psychology-based edges.")
        out.append(text)
    return "\n\n".join(out) if out else "No run of the graph controls on a real benchmark is in the snapshot yet."


# -- the trained model, its maps and the pointing game -------------------------------------------------
def load_model(record, n_classes: int) -> WSIDNetNet:
    """The WSIDNet (or Backbone) network of a ``wsidnet`` record, from its saved weights, in eval mode, taking
    images (the whole trunk runs, not only the stages trained on cached activations)."""
    from vsalib.backbones import create_backbone

    from vsalib.methods.base import missing_weights

    if missing_weights([record]):
        raise FileNotFoundError(f"the weights of run {record.key} are not at {record.extra['model_path']}; rerun the "
                                f"fold (delete its record from the results store) to recreate them")
    p = record.params
    state = torch.load(record.extra["model_path"], map_location="cpu", weights_only=True)
    head = WSIDNetHeadConfig(**{k: p[k] for k in ("k", "lam", "gcn_layers", "gcn_width", "activation", "readout")
                                if k in p}, holistic_dim=p["holistic_dim"], dropout=p.get("dropout", 0.5))
    c = state["head.detector.weight"].shape[0] // head.k if "head.detector.weight" in state else 1
    model = WSIDNetNet(create_backbone(p["backbone"]), np.zeros((c, c)), n_classes, head, 0, p["branch"])
    model.load_state_dict(state)  # the graph's normalised adjacency comes back with the weights
    return model.eval()


def image_batch(model: WSIDNetNet, images, size: int) -> torch.Tensor:
    """PIL images resized to ``size``×``size`` (no crop, so a map cell maps linearly back onto the image),
    normalised for the model's backbone."""
    import torchvision.transforms.functional as TF

    x = torch.stack([TF.to_tensor(im.convert("RGB").resize((size, size))) for im in images])
    return model.backbone.normalize(x)


@torch.no_grad()
def emotion_outputs(model: WSIDNetNet, x: torch.Tensor) -> dict[str, np.ndarray]:
    """``maps`` (B, C, h, w), ``emotion`` (softmax of Eq. 1's v, B × C) and ``sentiment`` (B × classes)
    probabilities of a batch."""
    out = model(x, all_outputs=True)
    if out.maps is None:
        raise ValueError("the Backbone (branch='holistic') has no emotion maps")
    return {"maps": out.maps.numpy(), "emotion": out.detection.softmax(1).numpy(),
            "sentiment": out.logits.softmax(1).numpy()}


def pointing_hits(heatmaps: np.ndarray, boxes: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """The pointing game: for each map (N, h, w), does the centre of its highest cell, mapped onto the image
    of size ``sizes`` (N, 2: width, height), fall inside the box (N, 4: x0, y0 inclusive, x1, y1 exclusive)?"""
    heatmaps, boxes, sizes = np.asarray(heatmaps, float), np.asarray(boxes, float), np.asarray(sizes, float)
    n, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, -1).argmax(1)
    i, j = flat // w, flat % w
    cx, cy = (j + 0.5) / w * sizes[:, 0], (i + 0.5) / h * sizes[:, 1]
    return (boxes[:, 0] <= cx) & (cx < boxes[:, 2]) & (boxes[:, 1] <= cy) & (cy < boxes[:, 3])


__all__ = ["CONTROL_GRAPHS", "DETECTOR_SOURCE", "GROUPS", "claims", "graph_verdict", "emotion_outputs", "has_emotions", "image_batch",
           "load_model", "pointing_hits", "run_variants", "sweep_table", "table", "variants"]


# -- the section's tables as printed ------------------------------------------------------------------
def printed_table(runs: pd.DataFrame, dataset: str, subset: str | None, knobs: dict | None = None) -> pd.DataFrame:
    """Table 2 (and the graph controls) with the paper's % beside ours and each row's gain over the Backbone."""
    t = table(runs, dataset, subset, knobs)
    bb = sections.backbone_of(runs)
    return pd.DataFrame({"row": t["row"], "paper %": t["paper"],
                         "ours %": [report.fmt_acc(m, c, n) for m, c, n in zip(t["ours"], t["ci95"], t["runs"])],
                         "paper gain": t["paper gain"].map(report.fmt_gain), "our gain": t["our gain"].map(report.fmt_gain),
                         "n": t["runs"]}).assign(backbone=published.backbone_name(bb))


def rows_sentence(runs: pd.DataFrame) -> str:
    """Which WSIDNet the rows above are: their read-out and where the detection branch started (the knobs the
    runs hold, :func:`~vsalib.methods.wsidnet.default_knobs`), and what is still to run where the runs hold only
    the earlier default (the mean read-out)."""
    knobs = default_knobs(runs)
    read = ("the C node vectors concatenated (the default)" if knobs["readout"] == "concat" else
            "the mean of the C node vectors (the first default: it cancels a regular graph, see *The read-out*; "
            "the concatenated rows of this dataset are not in the snapshot yet)")
    start = (f"the detection branch started from WSIDNet trained on {report.dataset_name(knobs['detector_init'], None)}'s "
             "emotions, as the paper starts Twitter I's from FI" if knobs["detector_init"] != "none" else
             f"λ = {knobs['lam']:g}" + (" (the paper's, on the emotion labels)" if knobs["lam"] > 0 else ""))
    return f"WSIDNet rows here: {read}; {start}."


def printed_sweep(runs: pd.DataFrame, param: str, knobs: dict | None = None) -> pd.DataFrame:
    """A sweep (k or λ) as printed: validation and test accuracy per value, and the value validation chose."""
    values = KS if param == "k" else LAMS
    t = sweep_table(runs, param, values, knobs)
    label = {"k": "k", "lam": "λ"}[param]
    return pd.DataFrame({label: [v if isinstance(v, str) else f"{v:g}" for v in t[param]],
                         "validation %": t["validation %"].map(report.fmt_num),
                         "test %": [report.fmt_acc(m, c, n) for m, c, n in zip(t["test %"], t["ci95"], t["runs"])],
                         "chosen on (folds)": t["chosen on (folds)"]})


def faithful_graph(runs: pd.DataFrame):
    """``(order, A, kind)`` of the faithful graph (``graph='auto'``) a WSIDNet of the first split used, from its
    record (``extra.graph``); None where no record holds one."""
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

    col = report.paper_column(CARD, dataset, subset)
    t = targets.published(paper="wsidnet", table=1)
    t = t[(t["dataset"] == col) & (t["method"] != "WSIDNet")].sort_values("accuracy") if col else t.iloc[:0]
    if not len(t):
        return ""
    return ("The paper's Table 1 there: " + ", ".join(f"{m} {a:.2f}" for m, a in zip(t["method"], t["accuracy"]))
            + " % (the hand-crafted and earlier CNN rows quoted from other work).")


def graph_sentence(order, a) -> str:
    """The strongest edges of a graph, and whether opposite-polarity pairs are its strongest (Eq. 3's intent)."""
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


@chapters.register
class WSIDNetChapter(chapters.Chapter):
    """WSIDNet on Twitter I's three subsets, Twitter II and EmotionROI: Table 2 and the graph controls, the k and λ
    sweeps, the graph it used and the claims; the hand-crafted rows its Table 1 quotes first."""

    name, order, method, notebook = "wsidnet", 4, WSIDNet, "wsidnet"
    datasets = (("twitter1", "five"), ("twitter1", "four"), ("twitter1", "three"), ("twitter2", None),
                ("emotionroi", "binary"))
    runs = (chapters.RunGroup("wsidnet", "Twitter I five/four/three-agree and Twitter II (5-fold CV) and EmotionROI "
                              "(binary, its fixed split, three seeds): WSIDNet's Table 2, the graph controls and the k "
                              "and λ sweeps", (*chapters.TWITTER, chapters.EMOTIONROI)),
            chapters.RunGroup("wsidnet-graph", "the same chapter's main rows and controls alone (no k or λ sweep) on "
                              "Twitter I five-agree, Twitter II and EmotionROI, the runs that decide whether the graph "
                              "matters", ({"dataset": "twitter1", "subset": "five", "ks": [4], "lams": [0.1]},
                                          {"dataset": "twitter2", "ks": [4], "lams": [0.1]},
                                          {**chapters.EMOTIONROI, "ks": [4], "lams": [0.1]}), main=False))
    record_methods = ("wsidnet",)  # every WSIDNet record of the dataset: Table 2, the controls and the sweeps

    @classmethod
    def before(cls, path=None):
        from vsalib.methods import global_study

        with sections.folded():  # the hand-crafted rows: the long tail
            global_study.show_hand_crafted("wsidnet", path=path)

    @classmethod
    def section(cls, runs, ds, sub, bb, prof):
        import matplotlib.pyplot as plt

        sections.show(printed_table(runs, ds, sub), report.caption("WSIDNet Table 2 and the graph controls, paper "
                                                                   "beside ours", ds, sub, bb, prof))
        sections.under(runs)
        sections.md(rows_sentence(runs))
        for param in ("k", "lam"):
            sw = printed_sweep(runs, param)
            if len(sw) > 2:  # at least two values and the choice
                sections.show(sw, report.caption(f"The {'λ' if param == 'lam' else 'k'} sweep: what validation picks, "
                                                 f"what test says", ds, sub, bb, prof))
        sections.md(f"Always guessing the larger class would score {report.fmt_num(sections.majority_rate(runs))} % on "
                    f"these test images. " + table1_sentence(ds, sub))
        graph = faithful_graph(runs)
        if graph is not None:
            order, a, kind = graph
            fig, ax = plt.subplots(figsize=(5.4, 4.6))
            figures.adjacency_heatmap(a, order, report.caption(f"The {kind} graph (Eq. 3) of the first split",
                                                               ds, sub, None, prof), ax)
            fig.tight_layout()
            plots.show(fig)
            sections.md(graph_sentence(order, a))
        sections.verdicts("WSIDNet", claims(runs, ds, sub), ds, sub, bb, prof)
        if (ds, sub) == cls.datasets[0]:  # the main path ends with Twitter I five-agree; the rest is folded
            sections.fold_from_here()

    @classmethod
    def own_baseline(cls, runs, dataset, subset):
        t = table(runs, dataset, subset)
        bb = t[t["row"] == "Backbone"] if len(t) else t
        if not len(bb):
            return None
        b = bb.iloc[0]
        return "Backbone", (f"WSIDNet's chapter compares with its own Backbone (the holistic branch, trained by "
                            f"WSIDNet's method): {report.fmt_acc(b['ours'], b['ci95'], b['runs'])}, n {int(b['runs'])}")

