"""Sun2016's chapter: which stored runs it reads, its Table 1 and claims (ours beside the paper's), the Fig. 4
curves and what the published runs measured of each substitution, and its section on the real benchmarks
(:class:`Sun2016Chapter`). The method itself (card, config, Eqs. 1-3,
``train``/``evaluate``) is :mod:`vsalib.methods.sun2016`."""

from __future__ import annotations

from dataclasses import fields
from typing import Sequence

import matplotlib.pyplot as plt
import pandas as pd

from vsalib import chapters, figures, plots, published, report, sections
from vsalib.methods.sun2016 import (SUN2016_FIELDS, CARD, OBJ_NORMS, RANKINGS, Sun2016, Sun2016Config,
                                    best_k_accuracy, oracle_k)
from vsalib.results import latest_runs


def select_runs(runs, dataset: str, subset: str | None, cfg: Sun2016Config, global_keys: Sequence[str]):
    """The store's rows of this chapter's run: the global runs with ``global_keys`` (frozen and
    fine-tuned) and the Sun2016 runs built on the fine-tuned ones with ``cfg``'s proposal/scoring settings (Sun2016
    on the frozen model is a rung of *When do regions help?*'s ladder, not a row of Table 1)."""
    df = runs[runs["dataset"] == dataset]
    if subset is not None:
        df = df[df["subset"] == subset]
    keys = list(global_keys)
    is_sun = df["method"].str.startswith("sun2016")
    keep = ~is_sun & df["key"].isin(keys)
    finetuned = set(df.loc[(df["method"] == "global-finetune") & df["key"].isin(keys), "key"])
    if "params.global" in df:
        keep |= is_sun & df["params.global"].isin(finetuned) & matches_config(df, cfg)
    return df[keep]


def matches_config(df, cfg: Sun2016Config):
    """Boolean mask of the rows of ``df`` (the store as a table) whose Sun2016 settings are ``cfg``'s,
    ``k``, ``ranking``, ``alpha`` and ``beta`` aside. A preset knob missing from a row (runs record them
    only where they differ from Sun2016's defaults) counts as its default."""
    import pandas as pd

    mask = pd.Series(True, index=df.index)
    for f in fields(cfg):
        if f.name in ("k", "ranking", "alpha", "beta"):
            continue
        v, col = getattr(cfg, f.name), f"params.{f.name}"
        if col in df:
            same = df[col].map(lambda x, v=v: x == v or (v is None and x is None))
            mask &= same | (df[col].isna() & (v == f.default)) if v is not None else same | df[col].isna()
        elif f.name not in SUN2016_FIELDS and v != f.default:
            mask &= False
    return mask


def table1(runs, dataset: str, subset: str | None, *, ks: Sequence[int] | None = None):
    """Sun2016 Table 1 for one dataset column: paper's accuracy beside ours (mean ± 95 % CI over folds).

    ``runs``: the rows of one run (:func:`select_runs`). The card's rows
    (:func:`vsalib.report.card_table`), then the best-K row with the paper's oracle choice (the K
    with the best mean *test* accuracy) and ours chosen on each fold's validation part.
    """
    import pandas as pd

    from vsalib import report

    t = report.card_table(CARD, runs, dataset, subset)
    k_best = oracle_k(runs, ks)
    extra = []
    if k_best is not None:
        p, note = report.published_value(CARD, "ft+obj+senti+lf best K", report.paper_column(CARD, dataset, subset))
        m, c, n = report.mean_ci_pct(best_k_accuracy(runs, k_best))
        extra.append({"row": "ft+obj+senti+lf best K (oracle: chosen on test)", "paper": p, "ours": m, "ci95": c,
                      "runs": n, "note": f"paper {note}; ours K={k_best}" if note else f"ours K={k_best}"})
    kv = runs[runs["method"] == "sun2016-K-val"] if len(runs) else runs
    if len(kv):
        m, c, n = report.mean_ci_pct(report.row_accuracy(CARD.row("K-val"), runs))
        extra.append({"row": "ft+obj+senti+lf K chosen on validation", "paper": float("nan"), "ours": m, "ci95": c,
                      "runs": n, "note": f"K per fold: {', '.join(str(int(k)) for k in kv['metrics.k'])}"})
    return pd.concat([t, pd.DataFrame(extra, columns=t.columns)], ignore_index=True) if extra else t


CLAIMS = [(c.text, c.better, c.worse) for c in CARD.claims]  # (claim, better row, the row it beats)


def claims(runs, dataset: str, subset: str | None):
    """What held: each claim of the paper (:data:`CLAIMS`) as the paper's gain beside ours
    (:func:`vsalib.report.card_claims`). The paper's best K was chosen on test data; ours is the oracle K
    of these runs (the K with the best mean test accuracy); ``K-val`` is K chosen on validation."""
    return Sun2016.paper_claims(runs, dataset, subset)


def curve(runs, method: str, param: str, **fixed):
    """Mean ± CI of test accuracy against one parameter (Fig. 4: K; also β and α)."""
    import pandas as pd

    from vsalib.report import mean_ci_pct

    sel = runs[runs["method"] == method]
    for k, v in fixed.items():
        sel = sel[sel[f"params.{k}"] == v] if f"params.{k}" in sel else sel.iloc[:0]
    rows = [{param: x, **dict(zip(("mean", "ci95", "runs"), mean_ci_pct(100 * g["metrics.accuracy"])))}
            for x, g in sel.groupby(f"params.{param}")]
    return pd.DataFrame(rows)


def k_curves_by_subset(runs, dataset: str, cfg: Sun2016Config, ranking: str = "obj+senti",
                       backbone: str | None = None):
    """Fig. 4 across subsets: mean ± CI accuracy against K for every subset of ``dataset`` in the store
    (Sun2016 runs with ``cfg``'s proposal and scoring settings; one row per subset and K)."""
    import pandas as pd

    from vsalib.report import mean_ci_pct

    df = runs[(runs["dataset"] == dataset) & (runs["method"] == "sun2016-lf")] if len(runs) else runs
    if not len(df):
        return pd.DataFrame(columns=["subset", "k", "mean", "ci95", "runs"])
    df = df[df["params.ranking"] == ranking]
    if backbone is not None:
        df = df[df["params.backbone"] == backbone]
    df = df[matches_config(df, cfg)]
    df = df[(df["params.alpha"] == cfg.alpha) & (df["params.beta"] == cfg.beta)]
    df = latest_runs(df, ["subset", "seed", "fold", "params.k"])  # earlier global models are superseded
    rows = [{"subset": s, "k": int(k), **dict(zip(("mean", "ci95", "runs"), mean_ci_pct(100 * g["metrics.accuracy"])))}
            for (s, k), g in df.groupby(["subset", "params.k"])]
    return pd.DataFrame(rows)


def measured_effects(real: dict) -> dict[str, str]:
    """What the published runs measured of the substitutions and readings (:attr:`CARD` ``.substitutions``'
    ``measured`` names), per dataset: ``real`` maps ``(dataset, subset)`` to the snapshot's runs of this
    chapter (:func:`vsalib.real_benchmarks.section`). Text with the numbers, for the chapter's table."""
    from vsalib import report

    parts: dict[str, list[str]] = {"obj_norm": [], "k": [], "finetune": []}
    for (ds, sub), runs in real.items():
        name = report.dataset_name(ds, sub)
        norms = runs[(runs["method"] == "sun2016-lf-objnorm") & (runs["params.k"] == 1)] if len(runs) else runs
        if len(norms):
            acc = norms.groupby("params.norm")["metrics.accuracy"].mean() * 100
            parts["obj_norm"].append(f"{name}: " + ", ".join(f"{n} {acc[n]:.2f}" for n in OBJ_NORMS if n in acc))
        t = table1(runs, ds, sub, ks=range(1, 21)).set_index("row")
        oracle = next((r for r in t.index if "oracle" in r), None)
        val = "ft+obj+senti+lf K chosen on validation"
        if oracle and val in t.index:
            parts["k"].append(f"{name}: oracle {t.loc[oracle, 'note'].split('ours ')[-1]} "
                              f"{t.loc[oracle, 'ours']:.2f} %, on validation {t.loc[val, 'ours']:.2f} %")
        c = claims(runs, ds, sub).set_index("claim").loc["fine-tuning helps"]
        parts["finetune"].append(f"{name}: {report.fmt_gain(c['our gain'], c['ci95'])} points ({c['verdict']})")
    return {"obj_norm": "accuracy % at K = 1 with Obj divided by its max / min-max / raw — " + "; ".join(parts["obj_norm"])
            if parts["obj_norm"] else "",
            "k": "; ".join(parts["k"]),
            "finetune": "fine-tuned over frozen — " + "; ".join(parts["finetune"]) if parts["finetune"] else ""}


# -- Fig. 4 and Table 1 as printed -------------------------------------------------------------------
def fig4(runs: pd.DataFrame, title: str, *, k: int = 1, preset: str = "sun2016"):
    """Sun2016 Fig. 4 and its companions, 2 × 2: accuracy against K per ranking, against β and α (at
    ``k``), and against K for the three normalisations of Obj; the fine-tuned global model dashed."""
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    axes = axes.ravel()
    for rk in RANKINGS:
        c = curve(runs, "sun2016-lf", "k", ranking=rk)
        if len(c):
            axes[0].errorbar(c["k"], c["mean"], yerr=c["ci95"], marker="o", ms=3, capsize=2, label=rk)
    g = runs[runs["method"] == "global-finetune"]["metrics.accuracy"] if len(runs) else pd.Series(dtype=float)
    for ax in axes:
        if len(g):
            ax.axhline(100 * g.mean(), color="gray", ls="--", lw=1, label="global (fine-tuned)")
        ax.set_ylabel("accuracy %")
    axes[0].set_xlabel("K (regions fused)")
    axes[0].set_title("late fusion against K (Fig. 4)")
    for ax, (method, param, what) in zip(axes[1:3], (("sun2016-lf-beta", "beta", "β (Eq. 3)"),
                                                     ("sun2016-lf-alpha", "alpha", "α (Eq. 2)"))):
        c = curve(runs, method, param)
        if len(c):
            ax.errorbar(c[param], c["mean"], yerr=c["ci95"], marker="o", capsize=2)
            ax.set_xscale("symlog", linthresh=0.1)
        else:
            ax.text(0.5, 0.5, f"no {param} sweep:\nthe {preset} preset has no {what}", ha="center", va="center",
                    transform=ax.transAxes)
        ax.set_xlabel(f"{what}, K = {k}")
        ax.set_title(f"obj+senti against {what}")
    for norm in OBJ_NORMS:
        c = curve(runs, "sun2016-lf-objnorm", "k", norm=norm)
        if len(c):
            axes[3].errorbar(c["k"], c["mean"], yerr=c["ci95"], marker="o", ms=3, capsize=2, label=f"Obj / {norm}")
    axes[3].set_xlabel("K (obj+senti)")
    axes[3].set_title("normalisation of Obj (not given by the paper)")
    for ax in (axes[0], axes[3]):
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def printed_table1(runs: pd.DataFrame, dataset: str, subset: str | None) -> pd.DataFrame:
    """Table 1 with rows named by what ran (the paper's row beside), paper % and ours (mean ± CI, n)."""
    t = table1(runs, dataset, subset, ks=range(1, 21))
    bb = sections.backbone_of(runs)
    return pd.DataFrame({"ours (what ran)": [report.our_row(r, bb) for r in t["row"]], "paper's row": t["row"],
                         "paper %": t["paper"], "ours %": sections.ours_column(t, sections.row_methods(CARD, t["row"]), runs),
                         "n": t["runs"], "note": t["note"]})


#: The ladder's lower rungs: Lite0 on 96/128/160-px images, its regions scored at 224 px from the original image.
LOWER_RUNGS = tuple({"dataset": "twitter1", "subset": "five", "image_size": px, "region_size": 224} for px in (96, 128, 160))


@chapters.register
class Sun2016Chapter(chapters.Chapter):
    """Sun2016 on Twitter I's three subsets and Twitter II: Table 1, Fig. 4, the claims; Fig. 4 over every subset."""

    name, order, method, notebook = "sun2016", 2, Sun2016, "sun2016_affective_regions"
    datasets = (("twitter1", "five"), ("twitter1", "four"), ("twitter1", "three"), ("twitter2", None))
    runs = (chapters.RunGroup("sun2016", "Twitter I five/four/three-agree and Twitter II (5-fold CV): Table 1 and Fig. 4 "
                              "of Sun et al.", chapters.TWITTER),
            chapters.RunGroup("regions-help", "the runs of *When do regions help?* (Twitter I, Sun2016): three repetitions "
                              "of the grouped 5-fold CV on each subset (fold seeds 0, 1, 2: seed 0 is sun2016's), crop "
                              "scoring on five-agree, and the ladder's rungs on five-agree (Sun2016 on the frozen features' "
                              "classifier; every layer fine-tuned; EfficientNet-Lite1 and -Lite2 at their own 240 and 260 "
                              "px, each also on its frozen features; the lower rungs)", (
                *({**c, "seeds": [0, 1, 2]} for c in chapters.TWITTER[:3]),
                {"dataset": "twitter1", "subset": "five", "scoring": "crop"},
                {"dataset": "twitter1", "subset": "five", "full_finetune": True},
                {"dataset": "twitter1", "subset": "five", "on_frozen": True},
                {"dataset": "twitter1", "subset": "five", "backbone": "efficientnet_lite1", "image_size": 240,
                 "on_frozen": True},
                {"dataset": "twitter1", "subset": "five", "backbone": "efficientnet_lite2", "image_size": 260,
                 "on_frozen": True},
                *LOWER_RUNGS), main=False),
            chapters.RunGroup("ladder-low", "the ladder's lower rungs alone: Lite0 on 96, 128 and 160-px images with its "
                              "regions scored at 224 px from the original image", LOWER_RUNGS, main=False))

    @classmethod
    def records(cls, runs, dataset, subset):
        """The global models (the latest run of each fold) and the Sun2016 runs built on the fine-tuned ones with
        the default preset's settings (:func:`select_runs`)."""
        keys = published.base_keys(runs, ["global-frozen", "global-finetune"])
        return select_runs(runs, dataset, subset, Sun2016Config(), keys)

    @classmethod
    def section(cls, runs, ds, sub, bb, prof):
        sections.show(printed_table1(runs, ds, sub), report.caption("Sun2016 Table 1, paper beside ours", ds, sub, bb, prof))
        sections.under(runs)
        sections.md(f"Always guessing the larger class would score {report.fmt_num(sections.majority_rate(runs))} % on "
                    "these test images: read every row against it.")
        plots.show(fig4(runs, report.caption("Sun2016 Fig. 4", ds, sub, bb, prof) + " · mean ± 95 % CI over folds"))
        v = claims(runs, ds, sub)
        sections.show(sections.claims_table(v), report.caption("What held: Sun2016's claims as paired per-fold gains "
                                                               "(points)", ds, sub, bb, prof))
        sections.md(sections.verdict_sentence(v, report.dataset_name(ds, sub)))
        if (ds, sub) == cls.datasets[0]:  # the main path ends with Twitter I five-agree; the rest is folded
            sections.fold_from_here()

    @classmethod
    def after(cls, shown, all_runs):
        curves = k_curves_by_subset(pd.concat(list(shown.values())) if shown else all_runs.iloc[:0], "twitter1",
                                    Sun2016Config())
        if len(curves):
            plots.show(figures.k_curves(curves, "Twitter I: obj+senti late fusion against K, every subset (Fig. 4)"))

