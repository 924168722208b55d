"""Sun2016's chapter: which stored runs it reads, its Table 1 and claims (ours beside the paper's), the Fig. 4
curves and what the published runs measured of each substitution. The method itself (card, config, Eqs. 1-3,
``train``/``evaluate``) is :mod:`vsalib.methods.sun2016`."""

from __future__ import annotations

from dataclasses import fields
from typing import Sequence

from vsalib.methods.sun2016 import (_SUN2016_FIELDS, CARD, OBJ_NORMS, Sun2016, Sun2016Config, _best_k_accuracy,
                                    _oracle_k)
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
        elif f.name not in _SUN2016_FIELDS and v != f.default:
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
    k_best = _oracle_k(runs, ks)
    extra = []
    if k_best is not None:
        p, note = report.published_value(CARD, "ft+obj+senti+lf best K", report.paper_column(CARD, dataset, subset))
        m, c, n = report.mean_ci_pct(_best_k_accuracy(runs, k_best))
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
