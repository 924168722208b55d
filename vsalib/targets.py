"""The published figures of the five papers, as data.

``targets.csv`` (package data) holds every accuracy the papers print that this study
compares against, one row per (paper, table, method, dataset, classes), accuracy in
percent as printed; ``note`` says where a number needed reading (typos, column
alignment, best K) and ``source`` gives the paper. Paper keys: see ``PAPERS``.
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
