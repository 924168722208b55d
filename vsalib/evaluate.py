"""Metrics and summaries: accuracy, per-class accuracy, confusion matrices, mean ± CI.

All five papers report classification accuracy (the fraction of test images whose
predicted class is the true one); ``accuracy`` returns it as a fraction in [0, 1],
while the papers print percentages (``vsalib.targets.compare`` rescales).
Confidence intervals over repeated runs (folds, seeds) use Student's t.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn import metrics as skm


def _labels(y: Any) -> np.ndarray:
    """A flat numpy array of labels (lists, arrays, pandas objects, torch tensors)."""
    if type(y).__module__.split(".")[0] == "torch":
        y = y.detach().cpu().numpy()
    return np.asarray(y).reshape(-1)


def _pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t, p = _labels(y_true), _labels(y_pred)
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} labels but y_pred has {p.size}")
    if t.size == 0:
        raise ValueError("no labels: y_true and y_pred are empty")
    return t, p


def accuracy(y_true: Any, y_pred: Any) -> float:
    """Fraction of correct predictions (``sklearn.metrics.accuracy_score``)."""
    t, p = _pair(y_true, y_pred)
    return float(skm.accuracy_score(t, p))


def per_class_accuracy(y_true: Any, y_pred: Any, classes: Sequence[str]) -> dict[str, float]:
    """Accuracy within each true class (= recall of that class), keyed by class name.

    Labels are indices into ``classes`` (label ``i`` is ``classes[i]``); labels given as
    class names also work. A class with no test image gets ``nan``.
    """
    t, p = _pair(y_true, y_pred)
    classes = list(classes)
    if t.dtype.kind in "US" or p.dtype.kind in "US" or t.dtype == object:
        labels: list[Any] = classes
    else:
        labels = list(range(len(classes)))
        bad = sorted(set(np.unique(np.concatenate([t, p])).tolist()) - set(labels))
        if bad:
            raise ValueError(f"labels {bad} are not indices into classes {classes}")
    rec = skm.recall_score(t, p, labels=labels, average=None, zero_division=np.nan)
    return {c: float(r) for c, r in zip(classes, rec)}


def confusion(y_true: Any, y_pred: Any, n_classes: int) -> np.ndarray:
    """Confusion matrix ``C[i, j]`` = images of true class i predicted as j (sklearn).

    Always ``n_classes`` × ``n_classes``, also when a class never occurs.
    """
    t, p = _pair(y_true, y_pred)
    return skm.confusion_matrix(t, p, labels=list(range(n_classes)))


def plot_confusion(
    cm: Any,
    classes: Sequence[str],
    ax: Any = None,
    normalize: bool = True,
    **heatmap_kwargs: Any,
):
    """Draw a confusion matrix as a seaborn heatmap and return the matplotlib Axes.

    Rows are true classes, columns predictions. ``normalize=True`` divides each row by
    its total (a row with no image stays 0), so the diagonal shows per-class accuracy.
    Extra keyword arguments go to ``seaborn.heatmap``.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    cm = np.asarray(cm, dtype=np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] != len(classes):
        raise ValueError(f"cm of shape {cm.shape} does not fit {len(classes)} classes")
    if normalize:
        totals = cm.sum(axis=1, keepdims=True)
        cm = np.divide(cm, totals, out=np.zeros_like(cm), where=totals > 0)
    if ax is None:
        _, ax = plt.subplots(figsize=(1.0 + 0.7 * len(classes), 0.8 + 0.6 * len(classes)))
    kwargs = dict(
        annot=True,
        fmt=".2f" if normalize else ".0f",
        cmap="Blues",
        vmin=0.0,
        vmax=1.0 if normalize else None,
        square=True,
        cbar=False,
        xticklabels=list(classes),
        yticklabels=list(classes),
    )
    kwargs.update(heatmap_kwargs)
    sns.heatmap(cm, ax=ax, **kwargs)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    return ax


def mean_ci(values: Iterable[float], confidence: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of its Student-t confidence interval.

    ``half = t_{(1 + confidence) / 2, n - 1} * s / sqrt(n)`` with s the sample standard
    deviation (ddof = 1). NaN values are dropped first (n counts the rest). With one
    value the half-width is ``nan`` (no spread can be estimated: read it as "unknown",
    not as 0); with none both are ``nan``.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    v = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=np.float64)
    v = v.reshape(-1)
    v = v[~np.isnan(v)]
    n = v.size
    if n == 0:
        return math.nan, math.nan
    mean = float(v.mean())
    if n == 1:
        return mean, math.nan
    sem = float(v.std(ddof=1)) / math.sqrt(n)
    return mean, float(stats.t.ppf((1 + confidence) / 2, n - 1)) * sem


def _ci_column(confidence: float) -> str:
    pct = confidence * 100
    return f"ci{pct:g}".replace(".", "_")


def summarize(
    df: pd.DataFrame,
    by: str | Sequence[str] = ("dataset", "subset", "method"),
    metric: str = "accuracy",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Mean ± CI of ``metric`` over the runs (folds, seeds) of each group.

    ``df``: one row per run, e.g. ``ResultStore.load()``; ``metric`` names a column,
    and ``"accuracy"`` also finds ``"metrics.accuracy"`` (the store's flattened name).
    Returns one row per group: the ``by`` columns, then ``mean``, ``ci95`` (half-width;
    named ``ci90`` etc. for another confidence), ``std`` and ``n`` (runs with a value).
    Groups whose key is missing (e.g. ``subset`` None) are kept. Sorted by ``by``.
    """
    by = [by] if isinstance(by, str) else list(by)
    col = metric
    if col not in df.columns and f"metrics.{metric}" in df.columns:
        col = f"metrics.{metric}"
    missing = [c for c in [*by, col] if c not in df.columns]
    if missing:
        raise KeyError(f"columns {missing} not in the frame; it has {list(df.columns)}")
    ci_col = _ci_column(confidence)
    rows = []
    for key, group in df.groupby(by, dropna=False, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        values = pd.to_numeric(group[col], errors="coerce").to_numpy(dtype=np.float64)
        mean, half = mean_ci(values, confidence)
        finite = values[~np.isnan(values)]
        std = float(finite.std(ddof=1)) if finite.size > 1 else math.nan
        rows.append({**dict(zip(by, key)), "mean": mean, ci_col: half, "std": std, "n": int(finite.size)})
    out = pd.DataFrame(rows, columns=[*by, "mean", ci_col, "std", "n"])
    return out.reset_index(drop=True)
