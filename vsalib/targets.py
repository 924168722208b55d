"""The published figures of the five papers, as data.

``targets.csv`` (package data) holds every accuracy the papers print that this study
compares against, one row per (paper, table, method, dataset, classes), accuracy in
percent as printed; ``note`` says where a number needed reading (typos, column
alignment, best K) and ``source`` gives the paper. Paper keys and citations: :func:`papers`.
Dataset names in the CSV are the papers' columns: ``twitter1-5``/``-4``/``-3`` (Twitter I,
5/4/3 agree), ``twitter2``, ``flickr-vso``, ``fi``, ``emotionroi``, ``emotion6``,
``iaps-subset``, ``artphoto``, ``abstract``, ``vso``.

:func:`published` selects rows; the book's "paper beside ours" tables are built from a method's card
and the results store by :func:`vsalib.report.card_table` and :func:`vsalib.report.card_claims`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from importlib import resources
from typing import Any

import pandas as pd

#: Paper key -> short citation (authors, title, venue, year).
COLUMNS: tuple[str, ...] = ("paper", "table", "method", "dataset", "classes", "accuracy", "note", "source")


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


@functools.lru_cache(maxsize=1)
def _papers() -> tuple[tuple[str, str], ...]:
    table = _table()
    pairs = table[["paper", "source"]].drop_duplicates()
    twice = pairs[pairs["paper"].duplicated(keep=False)]
    if len(twice):
        raise RuntimeError(f"vsalib/targets.csv gives papers {sorted(set(twice['paper']))} more than one source; "
                           "each paper's rows must cite it the same way")
    return tuple(zip(pairs["paper"], pairs["source"]))


def papers() -> dict[str, str]:
    """Each paper's key and its citation, as its rows of targets.csv give them (the ``source`` column): a new
    paper is its rows there, not an entry here."""
    return dict(_papers())


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
        known = papers()
        unknown = [p for p in asked if p not in known]
        if unknown:
            raise ValueError(f"unknown paper {unknown}; valid keys: {', '.join(known)}")
    mask = pd.Series(True, index=df.index)
    for column, value in (("paper", paper), ("table", table), ("dataset", dataset),
                          ("method", method), ("classes", classes)):
        if value is not None:
            mask &= _isin(df, column, value)
    return df[mask].reset_index(drop=True).copy()
