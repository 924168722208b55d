"""The majority-class baseline: every test image gets the class most frequent in the training part.

The floor every accuracy in the book is read against (Twitter I five-agree: 65.9 % positive), and
the smallest method on the :mod:`vsalib.methods.base` contract: no config, a "model" that is one
class index learnt from the training labels, scored on the test part by :meth:`Fold.score`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vsalib import provenance
from vsalib.methods.base import Fold, Method, Trained, register_method
from vsalib.results import Record, ResultStore

VERSION = provenance.declare_method("majority", 1, changes={
    1: "first version: the most frequent class of the training part (ties: the lower class index)",
})


@dataclass(frozen=True)
class MajorityConfig:
    """No knobs."""


@register_method
class MajorityClass(Method):
    name = "majority"
    version = VERSION
    Config = MajorityConfig

    def train(self, fold: Fold, store: ResultStore) -> Trained:
        counts = np.bincount(fold.labels("train"), minlength=len(fold.classes))
        return Trained(fold.id, int(counts.argmax()))

    def evaluate(self, fold: Fold, trained: Trained) -> list[Record]:
        cls = trained.model
        s = fold.score(np.full(len(fold.index("test")), cls))
        return [fold.record("majority", {}, {"accuracy": s["accuracy"], "class": cls},
                            extra={"y_true": s["y_true"], "y_pred": s["y_pred"], "test_index": fold.index("test")})]
