"""The one rule by which every hyper-parameter of every method is chosen (K, C, β, ξ, λ, k): the option with
the best validation score, the first of equals. It reads the validation part only, so a choice never sees a
fold's test labels (:class:`vsalib.methods.base.Fold` hands those out to no one).

- :func:`choose_on_validation`: inside a method, while it trains or evaluates one fold;
- :func:`validation_choice`: after the runs, per (seed, fold) from the stored validation and test accuracies
  of each value (a chapter's "chosen on validation" row)."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import pandas as pd


def choose_on_validation(options: Iterable, val_score) -> tuple[Any, float]:
    """The option with the best validation score (ties: the first); ``val_score(option) -> float``."""
    best, best_s = None, -np.inf
    for opt in options:
        s = float(val_score(opt))
        if s > best_s:
            best, best_s = opt, s
    if best is None:
        raise ValueError("no options to choose from")
    return best, best_s


def validation_choice(per_value: dict) -> tuple[pd.Series, pd.Series]:
    """Per (seed, fold), the value whose model scored best on the validation part (ties: the first in
    ``per_value``'s order) and its test accuracy: ``(test % per fold, chosen value per fold)``, on the folds
    where every value ran (a value without any run is left out), so that every fold chooses among the same
    values. ``per_value``: value → (test % per (seed, fold), validation % per (seed, fold))."""
    per_value = {v: tv for v, tv in per_value.items() if len(tv[0])}
    if not per_value:
        return pd.Series(dtype=float), pd.Series(dtype=object)
    folds = sorted(set.intersection(*(set(t.index) & set(v.index) for t, v in per_value.values())))
    test, chosen = {}, {}
    for f in folds:
        try:
            best, _ = choose_on_validation(per_value, lambda value: float(per_value[value][1].loc[f]))
        except ValueError:  # no value has a validation score on this fold
            continue
        test[f], chosen[f] = float(per_value[best][0].loc[f]), best
    index = pd.MultiIndex.from_tuples(list(test), names=["seed", "fold"])
    return pd.Series(list(test.values()), index=index, dtype=float), pd.Series(list(chosen.values()), index=index)
