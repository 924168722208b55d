"""What the chapters print: tables formatted once, captions that name what ran, the papers' own tables.

- :func:`fmt_acc` / :func:`fmt_gain`: one way to write an accuracy (``87.64 ± 0.90``) and a gain
  (``+1.50 ± 2.10``), ``–`` where there is nothing;
- :func:`show`: a table without its index, missing values as ``–``, numbers to 2 decimals;
- :func:`what_ran` / :func:`caption`: the dataset, backbone and profile a table or figure came from;
- :func:`walkthrough_banner`: the warning at the top of a chapter whose walk-through runs on
  synthetic data;
- :func:`our_row`: a paper's row name rewritten for what we ran (``VGG16+ft`` with EfficientNet-Lite0
  is ``EfficientNet-Lite0+ft``);
- :func:`paper_table`: a paper's table exactly as published (``vsalib/targets.csv``);
- :func:`card_table` / :func:`card_claims`: any method's table and claims, ours beside the paper's,
  built from its :class:`~vsalib.methods.base.PaperCard` and the store (each row of the card says which
  records give it; each claim names two rows; verdicts by :mod:`vsalib.verdicts`).
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import pandas as pd

from vsalib import targets
from vsalib.selection import validation_choice  # noqa: F401  (re-exported: where chapters met it)

DASH = "–"

#: How the book names the datasets and their subsets.
DATASET_NAMES = {"twitter1": "Twitter I", "twitter2": "Twitter II", "emotion6": "Emotion6", "fi": "FI",
                 "emotionroi": "EmotionROI", "iaps": "IAPS", "artphoto": "ArtPhoto", "abstract": "Abstract",
                 "synthetic": "synthetic affective scenes"}
#: How the book names the backbones.
BACKBONE_NAMES = {"efficientnet_lite0": "EfficientNet-Lite0", "efficientnet_lite1": "EfficientNet-Lite1",
                  "efficientnet_lite2": "EfficientNet-Lite2",
                  "efficientnet_lite0_stride16": "EfficientNet-Lite0 (stride-16 stage)", "vgg16": "VGG16", "resnet101": "ResNet-101",
                  "tiny": "tiny CNN"}
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
    text = {c: out[c].astype(str) for c in out.columns}
    numeric = [c for c, t in text.items() if t.str.contains(" ± ", regex=False).any() and t.str.len().max() <= 32]
    if numeric:  # "87.64 ± 0.90" on one line (prose that holds a ± wraps as prose)
        sty = sty.set_properties(subset=numeric, **{"white-space": "nowrap"})
    if caption:
        sty = sty.set_caption(caption)
    wide = len(out.columns) > 7  # a wide table in a smaller font, so that it fits the column unwrapped
    cell = [("text-align", "left"), ("padding", "0.2em 0.7em 0.2em 0" if wide else "0.2em 1em 0.2em 0")]
    return sty.set_table_styles([{"selector": "td, th", "props": cell + ([("font-size", "0.8em")] if wide else [])},
                                 {"selector": "caption", "props": [("caption-side", "top"), ("text-align", "left"),
                                                                   ("font-size", "0.9em")]}])


def backbone_name(backbone: str | None) -> str:
    return BACKBONE_NAMES.get(backbone or "", backbone or "?")


def protocol_label(protocol: str) -> str:
    """How the scoreboard names a record's protocol: ``kfold5-grouped`` → "5-fold CV", ``kfold5-per-emotion`` →
    "per-emotion 5-fold CV", ``fixed`` → "fixed split", ``ratio`` → "random split"."""
    import re

    m = re.fullmatch(r"kfold(\d+)(?:-per-(\w+))?(-grouped)?", protocol)
    if m:
        return (f"per-{m.group(2)} " if m.group(2) else "") + f"{m.group(1)}-fold CV"
    return {"fixed": "fixed split", "ratio": "random split"}.get(protocol, protocol)


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
            image_size: int | None = None, protocol: str | None = None) -> str:
    """A table or figure caption: what it shows, then the data (with its protocol where a dataset ran under
    several, named as the scoreboard names it: ``EmotionROI (fixed split)``), backbone and profile it came from."""
    ran = what_ran(dataset, subset, backbone, profile, image_size).replace('`', '')
    if protocol:
        name = dataset_name(dataset, subset)
        ran = f"{name} ({protocol})" + ran[len(name):]
    return f"{what} — {ran}"


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


def _setting(v: Any) -> str:
    if v is None:
        return DASH
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(_setting(x) for x in v) or DASH
    if isinstance(v, dict):
        return ", ".join(f"{k}: {_setting(x)}" for k, x in v.items()) or DASH
    return str(v)


def settings_table(values: dict) -> pd.DataFrame:
    """``setting | value`` rows, values written for a reader (``–`` for none, ``0.0005`` not ``5e-04``)."""
    return pd.DataFrame({"setting": list(values), "value": [_setting(v) for v in values.values()]})


def show_settings(main: dict, rest: dict | None = None, caption: str = "Settings of this run") -> None:
    """Display the knobs that matter as a short table and every other setting under it, both folded (a reader
    meets the chapter's claim and method first; one click shows what ran)."""
    from IPython.display import HTML, display

    inner = show(settings_table(main)).to_html()
    if rest:
        more = show(settings_table(rest)).to_html()
        inner += f"<details><summary>Every other setting ({len(rest)})</summary>{more}</details>"
    display(HTML(f"<details><summary>{caption} ({len(main)} settings; click to show)</summary>{inner}</details>"))


# -- a paper's table and claims, from its card and the store ----------------------------------------
def paper_column(card, dataset: str, subset: str | None = None) -> str | None:
    """The paper's column (its dataset name in targets.csv) for our dataset and subset, if it has one."""
    if (dataset, subset) in card.datasets:
        return card.datasets[(dataset, subset)]
    cols = [c for (d, _), c in card.datasets.items() if d == dataset]
    return cols[0] if subset is None and len(cols) == 1 else None


def published_value(card, row: str, column: str | None, classes: int | None = None) -> tuple[float, str]:
    """The paper's accuracy (%) of ``row`` in ``column`` (of ``classes`` classes where the column has several),
    and its note; ``(nan, "")`` where it has none."""
    table = next((r.table for r in card.rows + card.derived if r.name == row and r.table is not None), card.table)
    pub = targets.published(paper=card.key, table=table)
    hit = pub[(pub["method"] == row) & (pub["dataset"] == column)] if column else pub.iloc[:0]
    if classes is not None and len(hit):
        hit = hit[hit["classes"] == classes]
    return (float(hit["accuracy"].iloc[0]), str(hit["note"].iloc[0] or "")) if len(hit) else (math.nan, "")


def _stand_in(card, subset: str | None) -> tuple[str, int] | None:
    return card.stand_in.get(subset, card.stand_in.get(None)) if card is not None else None


def _row_table(card, row: str) -> int:
    return next((r.table for r in card.rows + card.derived if r.name == row and r.table is not None), card.table)


def uses_stand_in(card, row: str, dataset: str, subset: str | None = None) -> bool:
    """Whether the paper's figure for ``row`` beside our run on ``dataset`` is its stand-in column's: the card has
    one for our subset (``stand_in``: e.g. FI's 2 classes for binary runs, its 8 for emotion runs) and the row's table prints no figure in the paper's column for our dataset (decided per
    table, so that the two rows of a claim always come from one dataset)."""
    if card is None or _stand_in(card, subset) is None:
        return False
    col = paper_column(card, dataset, subset)
    return col is None or targets.published(paper=card.key, table=_row_table(card, row), dataset=col).empty


def stand_in_name(card, dataset: str, subset: str | None = None, row: str | None = None) -> str | None:
    """The name of the other dataset (with its classes: "FI, 2 classes") whose figure stands beside ours for
    ``row`` (any of the card's rows where None) on ``dataset``; None where the paper's own column serves."""
    rows = [row] if row is not None else [r.name for r in card.rows + card.derived] if card is not None else []
    if not any(uses_stand_in(card, r, dataset, subset) for r in rows):
        return None
    column, classes = _stand_in(card, subset)
    return f"{PAPER_COLUMNS.get(column, column)}, {classes} classes"


def paper_figure(card, row: str, dataset: str, subset: str | None = None) -> tuple[float, str]:
    """The paper's figure for ``row`` beside our run on ``dataset``, and its note: in the paper's column for our
    dataset, or in its stand-in column where the row's table prints none there (:func:`uses_stand_in`)."""
    if uses_stand_in(card, row, dataset, subset):
        return published_value(card, row, *_stand_in(card, subset))
    return published_value(card, row, paper_column(card, dataset, subset))


def row_accuracy(row, runs: pd.DataFrame, where: dict[str, dict] | None = None) -> pd.Series:
    """Test accuracy (%) per (seed, fold) of a card's :class:`~vsalib.methods.base.PaperRow`: the records
    of its method whose parameters match its own and ``where[method]`` (a run's settings, e.g. the
    fusion reading), its metric averaged over the records of one fold."""
    none = pd.Series(dtype=float, index=pd.MultiIndex.from_tuples([], names=["seed", "fold"]))
    if not len(runs) or "method" not in runs:
        return none
    sel = row_records(row, runs, where)
    metric = f"metrics.{row.metric}"
    if not len(sel) or metric not in sel:
        return none
    return 100 * sel.groupby(["seed", "fold"])[metric].mean()


def row_records(row, runs: pd.DataFrame, where: dict[str, dict] | None = None) -> pd.DataFrame:
    """The records of a card row: its method's, with its parameters (and ``where[method]``)."""
    mask = (runs["method"] == row.method).to_numpy(dtype=bool, copy=True)
    for k, v in {**row.params, **(where or {}).get(row.method, {})}.items():  # one mask, one copy of the rows
        col = f"params.{k}"
        mask &= (runs[col] == v).to_numpy(dtype=bool, na_value=False) if col in runs else False
    return runs[mask]


def mean_ci_pct(values: pd.Series) -> tuple[float, float, int]:
    """``(mean, 95 % CI half-width, n)`` of accuracies in percent (NaNs left out)."""
    from vsalib.evaluate import mean_ci

    vals = [v / 100 for v in values.dropna()]
    if not vals:
        return math.nan, math.nan, 0
    m, c = mean_ci(vals)
    return 100 * m, 100 * c, len(vals)


def row_values(card, runs: pd.DataFrame, dataset: str, subset: str | None = None, *,
               where: dict[str, dict] | None = None) -> dict[str, tuple[pd.Series, float]]:
    """Per row of ``card``: ``(test accuracy % per (seed, fold), the paper's %)`` on one dataset.
    ``runs``: the store's rows of one run; ``where``: more parameter filters per method."""
    return {r.name: (row_accuracy(r, runs, where), paper_figure(card, r.name, dataset, subset)[0]) for r in card.rows}


def card_table(card, runs: pd.DataFrame, dataset: str, subset: str | None = None, *,
               where: dict[str, dict] | None = None) -> pd.DataFrame:
    """A paper's table for one dataset: per row of its card, the paper's accuracy beside ours (mean ±
    95 % CI over folds and seeds, n) and the paper's note. ``runs``: the store's rows of one run
    (``ResultStore.load()``, selected); ``where``: more parameter filters per method."""
    rows = []
    for name, (values, paper) in row_values(card, runs, dataset, subset, where=where).items():
        m, c, n = mean_ci_pct(values)
        note = paper_figure(card, name, dataset, subset)[1]
        if (other := stand_in_name(card, dataset, subset, name)) and _finite(paper):
            note = "; ".join(x for x in (f"the paper's figure on {other} (another dataset)", note) if x)
        rows.append({"row": name, "paper": paper, "ours": m, "ci95": c, "runs": n, "note": note})
    return pd.DataFrame(rows, columns=["row", "paper", "ours", "ci95", "runs", "note"])


def card_claims(card, values: dict[str, tuple[pd.Series, float]], runs: pd.DataFrame | None, *,
                what: str = "claim", n: str = "folds", rows: dict | None = None) -> pd.DataFrame:
    """What held of a paper's claims (its card's): the paper's gain (better row minus worse row, points) beside
    ours, the mean of the paired per-fold differences (same folds, same models) with its corrected 95 % CI, the
    gain the design detects with 80 % power, and the verdict of :mod:`vsalib.verdicts` (corrected resampled t,
    McNemar where the records hold both rows' predictions, Holm over the card's claims, an equivalence margin).

    ``values``: :func:`row_values` (a method's ``paper_values``, with its derived rows); a row it does not hold
    counts as not run. ``runs``: the records ``values`` came from (the design's n_test / n_train and the rows'
    predictions); None only where no record exists (every verdict is then "–"). ``rows``: the
    :class:`~vsalib.methods.base.PaperRow` each figure was read with, where a method adds settings to its card's
    rows (:meth:`~vsalib.methods.base.Method.paper_rows`), so that the per-image tests read the same records.

    On a fixed split (:func:`vsalib.verdicts.is_fixed_split`) the claims whose rows hold predictions are
    decided by the per-image paired bootstrap, the others by the corrected t."""
    from vsalib import verdicts as V

    none = (row_accuracy(None, pd.DataFrame()), math.nan)
    runs = runs if runs is not None else pd.DataFrame()
    ratio = V.design_of(runs).test_train_ratio if len(runs) else 0.0
    fixed = V.is_fixed_split(runs)
    tests, papers = [], []
    for claim in card.claims:
        (a, pa), (b, pb) = values.get(claim.better, none), values.get(claim.worse, none)
        d = (a - b).dropna()
        kw = {}
        if fixed and (correct := fixed_split_correct(card, claim.better, claim.worse, a, b, d.index, runs, rows)):
            kw["fixed_split"] = correct
        elif pooled := _paired_predictions(card, claim.better, claim.worse, a, b, d.index, runs, rows):
            kw = dict(zip(("y_true", "pred_better", "pred_worse"), pooled))
        tests.append(V.test_claim(d.to_numpy(), ratio, paper_gain=pa - pb, **kw))
        papers.append(pa - pb)
    folds = _folds_per_repetition(runs)
    out = [{what: claim.text, "paper gain": paper, "our gain": t.gain, "ci95": t.ci95, n: t.n,
            "detectable": t.detectable, "df": t.df, "se": t.se, "test": t.basis, "images": t.n_images, "p": t.p,
            "p (Holm)": t.p_holm, "verdict": t.verdict,
            "excludes the paper's gain": bool(_finite(paper) and _finite(t.ci95) and abs(paper - t.gain) > t.ci95),
            "to decide": V.design_to_decide(t, ratio, paper, folds=folds).text}
           for claim, paper, t in zip(card.claims, papers, V.decide(tests, papers))]
    return pd.DataFrame(out, columns=[what, "paper gain", "our gain", "ci95", n, "detectable", "df", "se", "test",
                                      "images", "p", "p (Holm)", "verdict", "excludes the paper's gain", "to decide"])


def _folds_per_repetition(runs: pd.DataFrame) -> int | None:
    """k of a k-fold protocol (``kfold5-grouped`` → 5) read from the records; None for random or fixed splits."""
    import re

    if not len(runs) or "protocol" not in runs or not runs["protocol"].notna().any():
        return None
    m = re.match(r"kfold(\d+)", str(runs["protocol"].dropna().iloc[0]))
    return int(m.group(1)) if m else None


def _row_predictions(card, name: str, acc: pd.Series, folds, runs: pd.DataFrame, rows: dict | None = None) -> dict | None:
    """One row's test predictions per fold, ``{fold: (y_true, y_pred, ids)}``, where the row has exactly one
    record per fold holding them and its accuracy there is the row's figure (so that the per-image tests test
    the very predictions the row's figure comes from); None otherwise. ``ids``: the records' test image ids
    where they hold them, else None."""
    import numpy as np

    try:
        row = (rows or {}).get(name) or card.row(name)
    except KeyError:
        return None
    sel = row_records(row, runs)
    cols = [c for c in ("seed", "fold", "extra.y_true", "extra.y_pred", "extra.test_ids") if c in sel]
    by_fold: dict = {}
    for rec in sel[cols].to_dict("records"):
        by_fold.setdefault((rec["seed"], rec["fold"]), []).append(rec)
    per = {}
    for f in folds:
        found = []
        for rec in by_fold.get(tuple(f), []):
            y, p = rec["extra.y_true"], rec["extra.y_pred"]
            if not (isinstance(y, list) and isinstance(p, list) and len(y) == len(p) and len(y)):
                continue
            y, p = np.asarray(y), np.asarray(p)
            if abs(100 * float((y == p).mean()) - float(acc.loc[f])) <= 1e-6:
                ids = rec.get("extra.test_ids")
                found.append((y, p, [str(i) for i in ids] if isinstance(ids, list) and len(ids) == len(y) else None))
        # the record the row's figure comes from: where the row selects among several (a validation choice), the
        # one whose accuracy is the figure; two such with other predictions leave it unknown
        if not found or any(not (np.array_equal(found[0][0], y) and np.array_equal(found[0][1], p))
                            for y, p, _ in found[1:]):
            return None
        per[f] = found[0]
    return per


def _both_rows(card, better: str, worse: str, a: pd.Series, b: pd.Series, folds, runs: pd.DataFrame,
               rows: dict | None) -> list[dict] | None:
    """Both rows' predictions per fold (:func:`_row_predictions`), or None where either lacks them."""
    if not (len(runs) and {"extra.y_true", "extra.y_pred"} <= set(runs.columns) and len(folds)):
        return None
    preds = [_row_predictions(card, name, acc, folds, runs, rows) for name, acc in ((better, a), (worse, b))]
    return None if any(p is None for p in preds) else preds


def _paired_predictions(card, better: str, worse: str, a: pd.Series, b: pd.Series, folds, runs: pd.DataFrame,
                        rows: dict | None = None):
    """The two rows' test predictions pooled over ``folds`` as ``(y_true, pred_better, pred_worse)``, where each
    row holds them for every fold (:func:`_row_predictions`); None otherwise. Only the first repetition's folds
    are pooled (:func:`vsalib.verdicts.mcnemar_folds` says why)."""
    import numpy as np

    from vsalib.verdicts import mcnemar_folds

    folds = mcnemar_folds(folds)
    preds = _both_rows(card, better, worse, a, b, folds, runs, rows)
    if preds is None:
        return None
    if any(not np.array_equal(preds[0][f][0], preds[1][f][0]) for f in folds):
        return None  # not the same test images
    return (np.concatenate([preds[0][f][0] for f in folds]), np.concatenate([preds[0][f][1] for f in folds]),
            np.concatenate([preds[1][f][1] for f in folds]))


def fixed_split_correct(card, better: str, worse: str, a: pd.Series, b: pd.Series, folds, runs: pd.DataFrame,
                        rows: dict | None = None):
    """Where every split of a claim tests the same images (a fixed split run with several seeds): each row's
    correctness per seed and image, ``(correct_better, correct_worse)`` as seeds × images arrays with the images
    in one order (by the records' test ids where they hold them), for :func:`vsalib.verdicts.paired_bootstrap`;
    None where the records do not hold both rows' predictions on the same images."""
    import numpy as np

    folds = sorted(folds)
    preds = _both_rows(card, better, worse, a, b, folds, runs, rows)
    if preds is None:
        return None
    labels, out = None, []
    for per in preds:
        per_seed = []
        for f in folds:
            y, p, ids = per[f]
            order = np.argsort(np.asarray(ids), kind="stable") if ids is not None else np.arange(len(y))
            key = (tuple(sorted(ids)) if ids is not None else None, y[order].tolist())
            if labels is None:
                labels = key
            elif key != labels:
                return None  # other images (or the same ones labelled otherwise): not one fixed split
            per_seed.append((y[order] == p[order]).astype(np.int8))
        out.append(np.stack(per_seed))
    return out[0], out[1]


def substitutions(card, measured: dict[str, str] | None = None) -> pd.DataFrame:
    """A card's substitutions (or a sequence of :class:`~vsalib.methods.base.Substitution`) as the
    chapter prints them: the paper's choice, ours, why, and the measured effect where the chapter
    measured it (``measured``: a substitution's ``measured`` name → what the measurement showed, with
    its numbers; "not measured" elsewhere)."""
    subs = getattr(card, "substitutions", card)
    measured = measured or {}
    return pd.DataFrame({"what": [s.what for s in subs], "the paper": [s.paper for s in subs],
                         "ours": [s.ours for s in subs], "why": [s.why for s in subs],
                         "measured effect": [measured.get(s.measured, "not measured") if s.measured else "–"
                                             for s in subs]})


def findings(verdicts: dict[str, pd.DataFrame]) -> str:
    """Markdown prose of what held, from claim tables (:func:`card_claims`) per dataset name: per claim,
    where it held, where it reversed, where the folds could not tell, with our gains beside the paper's."""
    if not verdicts:
        return "No run of this chapter on a real benchmark is in the snapshot yet, so there is nothing to report."
    first = next(iter(verdicts.values()))
    what = first.columns[0]
    claims = list(dict.fromkeys(c for t in verdicts.values() for c in t[what]))  # a table may leave a claim out
    lines, tally = [], {}
    for claim in claims:
        parts = {}
        for ds, t in verdicts.items():
            hit = t[t[what] == claim]
            if not len(hit):
                continue
            r = hit.iloc[0]
            tally[r["verdict"]] = tally.get(r["verdict"], 0) + 1
            paper = f"the paper {fmt_gain(r['paper gain'])}" if _finite(r["paper gain"]) else "no figure in the paper"
            if bool(r.get("excludes the paper's gain", False)):
                paper += ", outside our interval"
            parts.setdefault(r["verdict"], []).append(f"{ds} ({fmt_gain(r['our gain'], r['ci95'])} points; {paper})")
        said = []
        for verdict, label in (("held", "held on"), ("reversed", "reversed on"),
                               ("paper's gain ruled out", "had the paper's gain ruled out (it lies beyond our 95 % "
                                                          "interval) on"),
                               ("consistent with the paper", "was consistent with the paper (a gain within ±2 "
                                                             "points, the paper's inside our interval) on"),
                               ("no practical difference", "made no practical difference (within ±2 points) on"),
                               ("not testable here", "was not testable here (our splits cannot detect the paper's "
                                                     "gain) on"),
                               ("not resolved", "could not be told from no gain on"),
                               ("identical by construction", "gave the same predictions as the row it is "
                                                             "compared with (identical by construction) on"),
                               ("no difference", "made no difference on"), ("one run only", "has one run only on"),
                               ("–", "was not run on")):
            if verdict in parts:
                said.append(f"{label} {', '.join(parts[verdict])}")
        lines.append(f"- **{claim[0].upper() + claim[1:]}** — " + "; ".join(said) + ".")
    n = sum(tally.values())
    if not n:
        return "No claim of this chapter has both of its rows run on a real benchmark yet, so there is nothing to report."
    summary = verdict_tally(tally, n) + (" How a verdict is reached: the page *How a verdict is reached* (a corrected "
                                         "t-test over the splits, McNemar on the test images or, on a fixed split, a paired bootstrap over "
                                         "them, Holm over the claims).")
    return "\n".join(lines) + "\n\n" + summary


def verdict_tally(tally: dict, n: int, pairs: str = "claim × dataset pairs", lead: str = "Of", end: str = ".") -> str:
    """One sentence: of ``n`` ``pairs``, how many got each verdict (``tally``: verdict → count); ``lead`` opens
    it and ``end`` closes it (another sentence's start, and ``""`` where the caller's sentence goes on)."""
    parts = [f"{tally.get('held', 0)} held", f"{tally.get('reversed', 0)} reversed"]
    phrases = {"paper's gain ruled out": "had the paper's gain ruled out", "consistent with the paper":
               "{verb} consistent with the paper", "no practical difference": "showed no practical difference",
               "not testable here": "{verb} not testable here", "not resolved": "{verb} not resolved"}
    for verdict, phrase in phrases.items():
        if tally.get(verdict):
            k = tally[verdict]
            parts.append(f"{k} " + phrase.format(verb="was" if k == 1 else "were"))
    rest = n - sum(tally.get(v, 0) for v in ("held", "reversed", *phrases))
    if rest:
        names = {"identical by construction": "identical by construction", "no difference": "no difference",
                 "one run only": "one run", "–": "not run"}
        others = [v for v in names if tally.get(v)]
        what = ", ".join(f"{tally[v]} {names[v]}" if len(others) > 1 else names[v] for v in others) \
            or "no difference, one run, not run"
        parts.append(f"{rest} other{'s' if rest > 1 else ''} ({what})")
    return f"{lead} {n} {pairs}, " + ", ".join(parts[:-1]) + " and " + parts[-1] + end


def fmt_detectable(value: float, df, test: str = "corrected t", images: Any = None) -> str:
    """The detectable gain with what it rests on: ``3.8 (df 4)`` for the corrected t, ``3.1 (594 images)`` for
    the paired bootstrap of a fixed split; ``∞`` where no gain could be detected (fewer than six test images told
    apart by the two rows: McNemar's exact test cannot reach 5 %); a dash where there is none."""
    if isinstance(value, float) and math.isinf(value):
        return "∞ (too few images differ for McNemar)"
    if not _finite(value):
        return DASH
    if test == "paired bootstrap" and _finite(images):
        return f"{fmt_num(value, 1)} ({int(images)} images)"
    return f"{fmt_num(value, 1)} (df {int(df)})" if _finite(df) else fmt_num(value, 1)


def source_of(paper: str) -> str:
    return targets.papers()[paper]


__all__ = ["BACKBONE_NAMES", "DASH", "backbone_name", "protocol_label", "caption", "card_claims", "fixed_split_correct", "fmt_detectable", "verdict_tally", "card_table", "dataset_name", "findings", "fmt_acc", "fmt_gain", "fmt_num", "our_row", "row_records", "validation_choice",
           "mean_ci_pct", "paper_column", "paper_figure", "paper_table", "published_value", "row_accuracy", "row_values", "settings_table", "show", "show_settings", "source_of", "stand_in_name", "substitutions", "uses_stand_in",
           "walkthrough_banner", "what_ran"]
