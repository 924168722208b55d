"""The published figures of the five papers, as data, and "paper vs ours" tables.

``targets.csv`` (package data) holds every accuracy the papers print that this study
compares against, one row per (paper, table, method, dataset, classes), accuracy in
percent as printed; ``note`` says where a number needed reading (typos, column
alignment, best K) and ``source`` gives the paper. Paper keys: see ``PAPERS``.
Dataset names in the CSV are the papers' columns: ``twitter1-5``/``-4``/``-3`` (Twitter I,
5/4/3 agree), ``twitter2``, ``flickr-vso``, ``fi``, ``emotionroi``, ``emotion6``,
``iaps-subset``, ``artphoto``, ``abstract``, ``vso``.

Typical notebook use, with ``summary = evaluate.summarize(store.load(), by=[...])``::

    targets.beside_ours(
        summary, paper="sun2016", table=1,
        methods={"VGG16": "frozen", "VGG16+ft": "finetune", "SentiBank": None},
        datasets={"twitter1-5": ("twitter1", "five"), "twitter2": "twitter2"},
    )

gives one row per paper method and, per dataset, the paper's accuracy beside ours as
``mean ± CI``; ``compare`` returns the same numbers as a long, numeric table.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

#: Paper key -> short citation (authors, title, venue, year).
PAPERS: dict[str, str] = {
    "sun2016": (
        "Sun, Yang, Wang, Shen. Discovering affective regions in deep convolutional neural "
        "networks for visual sentiment prediction. ICME 2016"
    ),
    "rcnngsr": (
        "Xiong, Liu, Song, Cai. Region-based convolutional neural network using group sparse "
        "regularization for image sentiment classification. EURASIP Journal on Image and "
        "Video Processing 2019"
    ),
    "wsidnet": (
        "Wu, Zhang, Shi, Deng. Weakly supervised interaction discovery network for image "
        "sentiment analysis. ACPR 2021 (LNCS 13188, 2022)"
    ),
    "rao": (
        "Rao, Li, Zhang, Xu. Multi-level region-based convolutional neural network for image "
        "emotion classification. Neurocomputing 333, 2019"
    ),
    "attr_attention": (
        "Authors and title not in the available text. An attention mechanism guided by "
        "subjective emotional attributes for visual sentiment analysis (VSO experiments)"
    ),
}

COLUMNS: tuple[str, ...] = ("paper", "table", "method", "dataset", "classes", "accuracy", "note", "source")

# How a mapping value picks rows of our summary: a str is our method / dataset name, a
# (dataset, subset) tuple adds the subset, a dict gives any columns, None: no counterpart.
Selector = str | tuple | Mapping[str, Any] | None


@functools.lru_cache(maxsize=1)
def _table() -> pd.DataFrame:
    with resources.files("vsalib").joinpath("targets.csv").open("r", encoding="utf-8") as fh:
        df = pd.read_csv(fh, dtype={"paper": str, "method": str, "dataset": str, "note": str, "source": str})
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise RuntimeError(f"vsalib/targets.csv lacks columns {missing}")
    df["note"] = df["note"].fillna("")
    df = df.astype({"table": int, "classes": int, "accuracy": float})
    return df[list(COLUMNS)]


def _isin(df: pd.DataFrame, column: str, value: Any) -> pd.Series:
    if isinstance(value, (list, tuple, set, frozenset)):
        return df[column].isin(list(value))
    return df[column] == value


def published(
    paper: str | Sequence[str] | None = None,
    table: int | Sequence[int] | None = None,
    dataset: str | Sequence[str] | None = None,
    method: str | Sequence[str] | None = None,
    classes: int | Sequence[int] | None = None,
) -> pd.DataFrame:
    """Published accuracies (percent), filtered; each filter takes a value or a list.

    Columns: paper, table, method, dataset, classes, accuracy, note, source. Unknown
    paper keys raise ``ValueError``; other filters that match nothing give an empty frame.
    """
    df = _table()
    if paper is not None:
        asked = [paper] if isinstance(paper, str) else list(paper)
        unknown = [p for p in asked if p not in PAPERS]
        if unknown:
            raise ValueError(f"unknown paper {unknown}; valid keys: {', '.join(PAPERS)}")
    mask = pd.Series(True, index=df.index)
    for column, value in (("paper", paper), ("table", table), ("dataset", dataset),
                          ("method", method), ("classes", classes)):
        if value is not None:
            mask &= _isin(df, column, value)
    return df[mask].reset_index(drop=True).copy()


def _selector(value: Selector, kind: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return {kind: value}
    if isinstance(value, tuple):
        if kind != "dataset" or len(value) != 2:
            raise ValueError(f"a tuple selects (dataset, subset); got {value!r} for a {kind}")
        return {"dataset": value[0], "subset": value[1]}
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"cannot select our {kind} rows with {value!r}")


def _match(ours: pd.DataFrame, sel: dict[str, Any]) -> pd.DataFrame:
    mask = pd.Series(True, index=ours.index)
    for column, value in sel.items():
        if column not in ours.columns:
            raise KeyError(f"our summary has no column {column!r}; columns: {list(ours.columns)}")
        if value is None:
            mask &= ours[column].isna()
        else:
            mask &= (ours[column] == value).fillna(False).astype(bool)
    return ours[mask]


def _describe(sel: dict[str, Any] | None) -> str:
    if sel is None:
        return ""
    return ", ".join(f"{k}={v}" for k, v in sel.items())


def compare(
    ours: pd.DataFrame,
    paper: str,
    table: int,
    methods: Mapping[str, Selector],
    datasets: Mapping[str, Selector],
    *,
    classes: int | None = None,
    scale: float = 100.0,
    mean_col: str = "mean",
    ci_col: str = "ci95",
    n_col: str = "n",
) -> pd.DataFrame:
    """Paper vs ours as a long numeric table, one row per (paper method, paper dataset).

    ours: a summary with one row per our method × dataset (``evaluate.summarize``), with
    ``mean_col``, ``ci_col``, ``n_col`` and the columns the selectors name.
    methods: paper method name -> our rows: our ``method`` name, a dict of column values
    (e.g. ``{"method": "sun2016", "protocol": "kfold5"}``), or None (paper only).
    datasets: paper dataset name -> our ``dataset`` name, a ``(dataset, subset)`` tuple,
    a dict, or None. A method selector and a dataset selector together must pick at most
    one row of ``ours`` (none: NaN).
    classes: 2 or 8, needed where the table has both (Rao et al.).
    scale: multiplies our mean and CI (100: our fractions to the papers' percent).

    Columns: method, dataset (paper names), ours_rows (our selector, as text), paper,
    ours, ``ci_col`` (CI half-width), n, delta (= ours - paper, percentage points), note;
    ours and the CI scaled by ``scale``.
    """
    pub = published(paper=paper, table=table)
    if pub.empty:
        raise ValueError(f"paper {paper!r} has no table {table}; it has tables "
                         f"{sorted(published(paper=paper)['table'].unique())}")
    if classes is not None:
        pub = pub[pub["classes"] == classes]
    for kind, names in (("method", methods), ("dataset", datasets)):
        valid = list(dict.fromkeys(pub[kind]))
        unknown = [n for n in names if n not in valid]
        if unknown:
            raise ValueError(f"{paper} table {table} has no {kind} {unknown}; valid: {valid}")

    rows = []
    for pm, msel in methods.items():
        msel = _selector(msel, "method")
        for pdset, dsel in datasets.items():
            dsel = _selector(dsel, "dataset")
            hit = pub[(pub["method"] == pm) & (pub["dataset"] == pdset)]
            if len(hit) > 1:
                raise ValueError(
                    f"{paper} table {table} has {len(hit)} rows for {pm!r} on {pdset!r} "
                    f"(classes {sorted(hit['classes'])}): pass classes="
                )
            paper_acc = float(hit["accuracy"].iloc[0]) if len(hit) else math.nan
            note = hit["note"].iloc[0] if len(hit) else ""
            mean = half = math.nan
            n = 0
            sel = None
            if msel is not None and dsel is not None:
                sel = {**dsel, **msel}
                found = _match(ours, sel)
                if len(found) > 1:
                    raise ValueError(
                        f"{len(found)} rows of our summary match {_describe(sel)}; add "
                        f"columns to the selector or summarise by fewer columns:\n{found}"
                    )
                if len(found) == 1:
                    r = found.iloc[0]
                    mean = float(r[mean_col]) * scale
                    half = float(r[ci_col]) * scale if ci_col in found.columns else math.nan
                    n = int(r[n_col]) if n_col in found.columns and pd.notna(r[n_col]) else 0
            rows.append({
                "method": pm, "dataset": pdset, "ours_rows": _describe(sel),
                "paper": paper_acc, "ours": mean, ci_col: half, "n": n,
                "delta": mean - paper_acc, "note": note,
            })
    return pd.DataFrame(rows, columns=["method", "dataset", "ours_rows", "paper", "ours",
                                       ci_col, "n", "delta", "note"])


def _fmt_ours(mean: float, half: float, n: int, decimals: int) -> str:
    if np.isnan(mean):
        return "–"
    if np.isnan(half):
        return f"{mean:.{decimals}f} (n={n})"
    return f"{mean:.{decimals}f} ± {half:.{decimals}f}"


def beside_ours(
    ours: pd.DataFrame,
    paper: str,
    table: int,
    methods: Mapping[str, Selector],
    datasets: Mapping[str, Selector],
    *,
    classes: int | None = None,
    scale: float = 100.0,
    decimals: int = 2,
    **compare_kwargs: Any,
) -> pd.DataFrame:
    """"Paper vs ours" table for a notebook: rows = paper methods, columns = datasets.

    Same arguments as ``compare``. Columns are a MultiIndex (paper dataset name,
    ``"paper"`` | ``"ours"``); cells are text: the paper's accuracy, and ours as
    ``mean ± CI`` (percent, CI half-width as in ``ci_col``), ``mean (n=1)`` when no CI
    can be computed, ``–`` when missing. Rows and columns keep the mappings' order.
    """
    long = compare(ours, paper, table, methods, datasets, classes=classes, scale=scale,
                   **compare_kwargs)
    ci_col = compare_kwargs.get("ci_col", "ci95")
    cols = pd.MultiIndex.from_product([list(datasets), ["paper", "ours"]], names=["dataset", ""])
    out = pd.DataFrame(index=pd.Index(list(methods), name="method"), columns=cols, dtype=object)
    for _, r in long.iterrows():
        paper_text = "–" if np.isnan(r["paper"]) else f"{r['paper']:.{decimals}f}"
        out.loc[r["method"], (r["dataset"], "paper")] = paper_text
        out.loc[r["method"], (r["dataset"], "ours")] = _fmt_ours(r["ours"], r[ci_col], r["n"], decimals)
    return out
