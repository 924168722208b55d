"""What the chapters print: tables formatted once, captions that name what ran, the papers' own tables.

- :func:`fmt_acc` / :func:`fmt_gain`: one way to write an accuracy (``87.64 ± 0.90``) and a gain
  (``+1.50 ± 2.10``), ``–`` where there is nothing;
- :func:`show`: a table without its index, missing values as ``–``, numbers to 2 decimals;
- :func:`what_ran` / :func:`caption`: the dataset, backbone and profile a table or figure came from;
- :func:`walkthrough_banner`: the warning at the top of a chapter whose walk-through runs on
  synthetic data;
- :func:`our_row`: a paper's row name rewritten for what we ran (``VGG16+ft`` with EfficientNet-Lite0
  is ``EfficientNet-Lite0+ft``);
- :func:`paper_table`: a paper's table exactly as published (``vsalib/targets.csv``).
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import pandas as pd

from vsalib import targets
from vsalib.published import backbone_name

DASH = "–"

#: How the book names the datasets and their subsets.
DATASET_NAMES = {"twitter1": "Twitter I", "twitter2": "Twitter II", "emotion6": "Emotion6", "fi": "FI",
                 "emotionroi": "EmotionROI", "iaps": "IAPS", "artphoto": "ArtPhoto", "abstract": "Abstract",
                 "synthetic": "synthetic affective scenes"}
SUBSET_NAMES = {"five": "five-agree", "four": "four-agree", "three": "three-agree"}
#: The papers' column names in targets.csv, for the book.
PAPER_COLUMNS = {"twitter1-5": "Twitter I 5-agree", "twitter1-4": "Twitter I 4-agree", "twitter1-3": "Twitter I 3-agree",
                 "twitter2": "Twitter II", "flickr-vso": "Flickr (VSO)", "fi": "FI", "emotionroi": "EmotionROI",
                 "emotion6": "Emotion6", "iaps-subset": "IAPS subset", "artphoto": "ArtPhoto", "abstract": "Abstract",
                 "vso": "VSO"}


def _finite(x: Any) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def fmt_num(x: Any, decimals: int = 2) -> str:
    return f"{float(x):.{decimals}f}" if _finite(x) else DASH


def fmt_acc(mean: Any, ci: Any = None, n: Any = None, decimals: int = 2) -> str:
    """``87.64 ± 0.90`` (a CI where there is one), ``87.64`` (one run), ``–`` (none)."""
    if not _finite(mean) or (n is not None and _finite(n) and int(n) == 0):
        return DASH
    return f"{float(mean):.{decimals}f}" + (f" ± {float(ci):.{decimals}f}" if _finite(ci) else "")


def fmt_gain(mean: Any, ci: Any = None, decimals: int = 2) -> str:
    """``+1.50 ± 2.10`` with its sign; ``–`` where there is none."""
    if not _finite(mean):
        return DASH
    m = round(float(mean), decimals) + 0.0  # no "-0.00"
    return f"{m:+.{decimals}f}" + (f" ± {float(ci):.{decimals}f}" if _finite(ci) else "")


def show(df: pd.DataFrame, caption: str | None = None, decimals: int = 2):
    """A table as the book shows it: no index, missing values as ``–``, floats to ``decimals``,
    integers as integers, cells never truncated."""
    out = df.copy()
    for c in out.columns:
        col = out[c]
        if pd.api.types.is_float_dtype(col):
            whole = col.dropna().map(float.is_integer).all() and len(col.dropna())
            out[c] = col.map(lambda v: DASH if not _finite(v) else (f"{int(v)}" if whole else f"{v:.{decimals}f}"))
        else:
            out[c] = col.map(lambda v: DASH if v is None or (isinstance(v, float) and math.isnan(v)) else v)
    sty = out.style.hide(axis="index")
    numeric = [c for c in out.columns if out[c].astype(str).str.contains(" ± ", regex=False).any()]
    if numeric:  # "87.64 ± 0.90" on one line
        sty = sty.set_properties(subset=numeric, **{"white-space": "nowrap"})
    if caption:
        sty = sty.set_caption(caption)
    return sty.set_table_styles([{"selector": "td, th", "props": [("white-space", "normal"), ("text-align", "left"),
                                                                   ("padding", "0.2em 1em 0.2em 0")]},
                                 {"selector": "caption", "props": [("caption-side", "top"), ("text-align", "left"),
                                                                   ("font-size", "0.9em")]}])


def dataset_name(dataset: str, subset: str | None = None) -> str:
    name = DATASET_NAMES.get(dataset, dataset)
    if subset and dataset in ("twitter1",):
        return f"{name} {SUBSET_NAMES.get(subset, subset)}"
    if subset and subset != "binary":
        return f"{name} ({subset})"
    return name


def what_ran(dataset: str, subset: str | None, backbone: str | None, profile: str | None,
             image_size: int | None = None) -> str:
    """``Twitter I five-agree · EfficientNet-Lite0 at 224 px · profile cpu``."""
    parts = [dataset_name(dataset, subset)]
    if backbone:
        parts.append(backbone_name(backbone) + (f" at {image_size} px" if image_size else ""))
    if profile:
        parts.append(f"profile `{profile}`")
    return " · ".join(parts)


def caption(what: str, dataset: str, subset: str | None, backbone: str | None, profile: str | None,
            image_size: int | None = None) -> str:
    """A table or figure caption: what it shows, then the data, backbone and profile it came from."""
    return f"{what} — {what_ran(dataset, subset, backbone, profile, image_size).replace('`', '')}"


def walkthrough_banner(dataset: str, profile: str, backbone: str | None, image_size: int | None = None) -> str:
    """Markdown for a chapter's top: what its walk-through runs on, and a warning when it is synthetic."""
    ran = what_ran(dataset, None, backbone, profile, image_size)
    if dataset == "synthetic":
        return (f"```{{note}}\nThis page's walk-through runs on **synthetic data** ({ran}), so that it builds in "
                f"minutes on a laptop CPU. Its numbers show how the method works; they are **not** a "
                f"reproduction of the paper. The reproduction on the real benchmarks is in the section "
                f"*On the real benchmarks* below.\n```")
    return f"This page's walk-through runs on {ran}."


def our_row(paper_row: str, backbone: str | None) -> str:
    """A paper's row name rewritten for our backbone (the VGG16 of the name becomes what ran)."""
    name = backbone_name(backbone)
    return paper_row.replace("VGG16", name) if name != "VGG16" else paper_row


def paper_table(paper: str, table: int, datasets: Iterable[str] | None = None) -> pd.DataFrame:
    """A paper's table as published: one row per method, one column per dataset (accuracy %), ``NaN``
    where the paper has no figure (``show`` prints ``–``)."""
    pub = targets.published(paper=paper, table=table)
    if datasets is not None:
        pub = pub[pub["dataset"].isin(list(datasets))]
    order_m = list(dict.fromkeys(pub["method"]))
    order_d = list(dict.fromkeys(pub["dataset"]))
    wide = pub.pivot_table(index="method", columns="dataset", values="accuracy", aggfunc="first")
    wide = wide.reindex(index=order_m, columns=order_d)
    wide.columns = [PAPER_COLUMNS.get(c, c) for c in wide.columns]
    return wide.reset_index().rename(columns={"method": f"{paper} Table {table} row"})


def source_of(paper: str) -> str:
    return targets.PAPERS[paper]


__all__ = ["DASH", "caption", "dataset_name", "fmt_acc", "fmt_gain", "fmt_num", "our_row", "paper_table",
           "show", "source_of", "walkthrough_banner", "what_ran"]
