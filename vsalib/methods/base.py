"""The contract every paper's method implements, and the one fold runner that runs them all.

Shaped after pytorch-grad-cam's ``base_cam.py`` (the shared machinery once, each method a small
module that overrides a hook or two) and timm's registry (methods register by name;
:func:`create_method` builds any of them from keyword settings, checked against its config):

- :class:`Fold`: one split of one dataset, with the leak guard built in. Selection code (a K, a
  C, a β, a threshold) reads the labels of the ``train`` and ``val`` parts only; the test labels
  are not handed out at all: :meth:`Fold.score` compares predictions with them and returns the
  metrics, and that is the only way to reach them.
- :class:`FoldId`: what a model or a record was made for, ``(dataset, subset, protocol, seed,
  fold)``. The runner pairs every fold with its own model by this identity, never by position,
  and refuses a mismatch (:func:`check_pairing`).
- :class:`PaperCard`: a paper as data: citation, equations implemented, what we substituted or
  chose where the text is open (:class:`Substitution`), the rows of its table (which of our methods and parameters give which
  published row) and its claims (pairs of rows).
- :class:`Method`: ``Config`` (a frozen dataclass), ``card``, ``train(fold)`` and
  ``evaluate(fold, model)``; :func:`run` / :func:`run_fold` do identity, skip-if-stored, records
  (with provenance) and progress, once for every method.
- :class:`OnTrainedModel`: a method evaluated with a model that another method trains per fold
  (Sun2016 and R-CNNGSR score regions with the fold's own CNN), paired by identity.
- The paper's table and claims are built from the card and the store by
  :func:`vsalib.report.card_table` / :func:`vsalib.report.card_claims`.

What a new paper touches: its module here (config, card, equations, ``train``/``evaluate``,
registered, with its ``provenance.declare_method`` version; :func:`vsalib.methods.import_all` finds it by
its being in this package, no import list names it), its ``<paper>_study.py`` beside it (its chapter's reporting
and its :class:`vsalib.chapters.Chapter`: which runs the chapter reads, on which datasets, what its section on the
real benchmarks shows; found the same way), its rows in ``vsalib/targets.csv``, its chapter notebook (and
``book/_toc.yml``), and its tests; the runner, the store, the published snapshot's reader, the real-benchmark
sections, the scoreboard and the registry-driven tests loop over the registries and need no change.

Where we chose otherwise than the examples (``STYLE.md``):

- a method here is not an ``nn.Module`` (timm's models are), because a paper's method is a
  protocol around models — a global CNN trained per fold, regions scored by it, fusion rules and
  selections on validation data — and its outcome is a set of records, not a tensor. The networks
  it trains stay ``nn.Module``s (``GlobalCNN``).
- torchvision's detection models return their dict of named losses from ``forward`` in training
  mode; ours stay plain classifiers and a method hands :func:`vsalib.train.loop.fit` a *step*
  (``StepOutput``: named loss terms, summed and logged term by term) or one more named term
  (:meth:`vsalib.methods.global_cnn.GlobalFinetune.regularizer`), so the same network serves the
  methods that train it differently.
- pytorch-grad-cam's base is a pipeline with hooks; ours is about folds and results only, since
  the papers share no pipeline (proposals, maps, attention): region pieces live in
  :mod:`vsalib.regions` and each method calls those it needs.
- mmdetection's cards link configs and logs; ours link each published row to the records (method
  and parameters) that reproduce it, so the book's tables are computed, never typed.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Iterable, Sequence

import numpy as np

from vsalib.data.registry import ImageDataset
from vsalib.errors import FoldMismatchError, UnknownNameError  # noqa: F401  (re-exported)
from vsalib.selection import choose_on_validation  # noqa: F401  (the one selection rule; re-exported)
from vsalib.data.splits import Split
from vsalib.progress import tqdm
from vsalib.results import Record, ResultStore
from vsalib.provenance import MethodVersion, method_family

PARTS = ("train", "val", "test")


# -- identity and pairing -------------------------------------------------------------------------
@dataclass(frozen=True)
class FoldId:
    """What a fold is: the dataset (and subset) it splits, the protocol, the seed and the fold."""

    dataset: str
    subset: str | None
    protocol: str
    seed: int
    fold: int

    @classmethod
    def of(cls, record: Record) -> FoldId:
        """The fold a record (a trained model's, a result's) was made for."""
        return cls(record.dataset, record.subset, record.protocol, int(record.seed or 0), int(record.fold or 0))

    def __str__(self) -> str:
        sub = f"/{self.subset}" if self.subset else ""
        return f"{self.dataset}{sub} {self.protocol} seed {self.seed} fold {self.fold}"


def check_pairing(fold: Fold, record: Record, what: str = "model") -> None:
    """Raise :class:`FoldMismatchError` unless ``record`` was made for ``fold``."""
    got = FoldId.of(record)
    if got != fold.id:
        raise FoldMismatchError(
            f"the {what} {record.method!r} ({record.key}) was trained for {got}, not for {fold.id}: its "
            f"training images may be this fold's test images. Pair each fold with its own {what}.")


def pair_by_identity(folds: Sequence[Fold], records: Iterable[Record], what: str = "model") -> list[Record]:
    """For each fold, the record made for it (by :class:`FoldId`, whatever the order); raises
    :class:`FoldMismatchError` for a fold without one, and where two records share one identity
    (which of them is meant?)."""
    by_id: dict[FoldId, Record] = {}
    for r in records:
        if FoldId.of(r) in by_id:
            raise FoldMismatchError(f"two {what}s share one identity ({FoldId.of(r)}): pass one per fold")
        by_id[FoldId.of(r)] = r
    out = []
    for f in folds:
        if f.id not in by_id:
            have = ", ".join(str(i) for i in by_id) or "none"
            raise FoldMismatchError(f"no {what} was trained for {f.id} (have: {have})")
        out.append(by_id[f.id])
    return out


def protocol_name(split: Split) -> str:
    """The record's protocol name for a split (``kfold5-grouped``, ``ratio``, ``fixed``)."""
    if split.kind == "kfold":
        return f"kfold{split.n_folds}" + ("-grouped" if split.grouped else "")
    return split.kind


# -- the fold, with its leak guard ----------------------------------------------------------------
class Fold:
    """One split of a dataset. Train and validation labels are readable; test labels are not.

    ``paths(part)``, ``index(part)`` for any part; ``labels(part)`` for ``"train"`` and ``"val"``
    only; :meth:`score` for the test part (and any part), the one place where test labels are used.
    """

    def __init__(self, dataset: ImageDataset, split: Split, subset: str | None = None):
        split.check(len(dataset))
        self._dataset = dataset
        self.split = split
        self.subset = subset
        self.id = FoldId(dataset.name, subset, protocol_name(split), int(split.seed), int(split.fold))

    # -- what any code may read ----------------------------------------------------------------
    @property
    def classes(self) -> list[str]:
        return list(self._dataset.classes)

    @property
    def dataset_name(self) -> str:
        return self._dataset.name

    def index(self, part: str) -> np.ndarray:
        """Row indices of ``part`` in the dataset (no labels)."""
        return getattr(self.split, _part(part)).copy()

    def all_paths(self) -> list[str]:
        """Every image of the dataset, in its order (``index(part)`` indexes into it): for what is
        computed per image without labels, e.g. features extracted once."""
        return list(self._dataset.paths)

    def identity(self, method: str, params: dict) -> dict:
        """The store's identity of this fold's record of ``method`` with ``params`` (for ``store.get``)."""
        return {"dataset": self.id.dataset, "subset": self.id.subset, "protocol": self.id.protocol,
                "method": method, "params": params, "seed": self.id.seed, "fold": self.id.fold}

    def paths(self, part: str) -> list[str]:
        paths = self._dataset.paths
        return [paths[i] for i in self.index(part)]

    def labels(self, part: str) -> np.ndarray:
        """Labels of the training or validation part; the test labels are only reached by :meth:`score`."""
        if _part(part) == "test":
            raise PermissionError(
                "test labels are not readable: choose on the 'val' part, then pass the test predictions to "
                "Fold.score()")
        return self._dataset.labels[self.index(part)]

    def annotations(self, column: str, part: str, *, as_test_input: bool = False) -> np.ndarray:
        """What the dataset holds beside the label (an ``emotion`` class, ``valence``, ``arousal``) for the
        training or validation part; like the labels, the test part's are not readable.

        ``as_test_input=True`` reads the test part's too, for the one use a paper prescribes: a column its model
        takes as an *input* at test time (AttrAttention feeds each test image its true adjective). A method that
        asks for it says so in its records, and its tests check which of its variants ask."""
        if _part(part) == "test" and not as_test_input:
            raise PermissionError(f"the test part's {column!r} is not readable: it is a label of the test images")
        table = self._dataset.table
        if column not in table.columns:
            raise KeyError(f"{self.id.dataset} has no column {column!r}; it has {', '.join(map(str, table.columns))}")
        return table[column].to_numpy()[self.index(part)]

    def has_column(self, column: str) -> bool:
        return column in self._dataset.table.columns

    # -- the one place the test labels are used -------------------------------------------------
    def score(self, predictions, part: str = "test") -> dict[str, Any]:
        """``{"accuracy", "y_true", "y_pred"}`` of ``predictions`` (one per image of ``part``, in order)."""
        pred = np.asarray(predictions).reshape(-1)
        idx = self.index(part)
        if len(pred) != len(idx):
            raise ValueError(f"{len(pred)} predictions for the {len(idx)} images of the {part} part of {self.id}")
        y = self._dataset.labels[idx]
        return {"accuracy": float((pred == y).mean()) if len(y) else float("nan"), "y_true": y, "y_pred": pred}

    def record(self, method: str, params: dict, metrics: dict, *, wall_time_s: float | None = None,
               extra: dict | None = None) -> Record:
        """A record of this fold (identity filled in), with the split's part sizes in ``extra["sizes"]`` (what
        :func:`vsalib.verdicts.design_of` reads)."""
        return Record(dataset=self.id.dataset, subset=self.id.subset, protocol=self.id.protocol, method=method,
                      params=params, seed=self.id.seed, fold=self.id.fold, metrics=metrics, wall_time_s=wall_time_s,
                      extra={**(extra or {}), "sizes": {k: int(v) for k, v in self.split.sizes().items()}})

    def __repr__(self) -> str:
        return f"Fold({self.id}, {self.split.sizes()})"


def _part(part: str) -> str:
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; valid: {', '.join(PARTS)}")
    return part


def folds_of(dataset: ImageDataset, splits: Sequence[Split], subset: str | None = None) -> list[Fold]:
    return [Fold(dataset, s, subset) for s in splits]


def fit_on_validation(make, grid: Iterable, x, fold: "Fold") -> tuple[Any, Any, float]:
    """A classifier ``make(c)`` on the features ``x`` (one row per image of the fold's dataset), fitted on the
    training part with the ``c`` of ``grid`` whose fit scores best on the validation part (the first of equals;
    the first of the grid where there is no validation part): ``(fitted, c, validation accuracy or nan)``."""
    grid = list(grid)
    x_tr, y_tr = x[fold.index("train")], fold.labels("train")
    x_va, y_va = x[fold.index("val")], fold.labels("val")
    best_c, best_acc = grid[0], float("nan")
    if len(y_va):
        best_c, best_acc = choose_on_validation(grid, lambda c: float((make(c).fit(x_tr, y_tr).predict(x_va) == y_va).mean()))
    return make(best_c).fit(x_tr, y_tr), best_c, best_acc


# -- a paper as data --------------------------------------------------------------------------------
@dataclass(frozen=True)
class PaperRow:
    """A row of a paper's table and the records of ours that reproduce it."""

    name: str  # the row's name in the paper (and in vsalib/targets.csv)
    method: str  # our record method
    params: dict = field(default_factory=dict)  # params that pick the row's records
    metric: str = "accuracy"
    uses_regions: bool = False  # its prediction goes through the method's region step (the scoreboard's cost)
    table: int | None = None  # the paper's table that prints the row (None: the card's table)


@dataclass(frozen=True)
class Claim:
    """A claim of a paper: the row ``better`` beats the row ``worse``. ``regions``: the claim that the method's
    regions (maps, proposals, attention) add to its own whole-image model, the one *When do regions help?*
    plots (:mod:`vsalib.region_gains`). ``control``: ours, not the paper's: ``worse`` keeps the whole method and
    swaps its idea for an arbitrary stand-in (random boxes for the chosen regions, a shuffled graph for the
    emotion graph), so that the claim asks whether the idea, not the extra computation, helps."""

    text: str
    better: str
    worse: str
    regions: bool = False
    control: bool = False


@dataclass(frozen=True)
class Substitution:
    """Where we do otherwise than the paper, or choose where it says nothing: the paper's choice, ours,
    why, and (``measured``) the name of the measurement that shows its effect, filled in by the chapter."""

    what: str
    paper: str
    ours: str
    why: str
    measured: str = ""


@dataclass(frozen=True)
class PaperCard:
    """What the book says of a paper, as data.

    ``rows``: the published rows of its table and the records that give each; ``derived``: rows a
    claim names that the paper does not print as such and the method computes from its records at
    report time (Sun2016's best K, chosen on test as the paper did); ``claims``: pairs of rows."""

    key: str  # the paper's key in vsalib/targets.csv
    short: str  # how the book names it
    title: str
    venue: str
    table: int  # the table its rows come from
    equations: dict[str, str] = field(default_factory=dict)
    substitutions: tuple[Substitution, ...] = ()  # the paper's choices against ours, and the readings we chose
    rows: tuple[PaperRow, ...] = ()
    claims: tuple[Claim, ...] = ()
    datasets: dict[tuple[str, str | None], str] = field(default_factory=dict)  # ours -> paper's column
    derived: tuple[PaperRow, ...] = ()
    # our subset (None: any other) -> (column, classes): where the paper prints no figure on our dataset, its
    # figure there stands beside ours, marked as another dataset's (AttrAttention's VSO, MultiLevelRCNN's FI)
    stand_in: dict[str | None, tuple[str, int]] = field(default_factory=dict)

    def __post_init__(self):
        known = {r.name for r in self.rows + self.derived}
        for c in self.claims:
            missing = [x for x in (c.better, c.worse) if x not in known]
            if missing:
                raise ValueError(f"{self.key}: the claim {c.text!r} names {missing}, neither a row nor a derived row "
                                 f"of the card")

    def row(self, name: str) -> PaperRow:
        for r in self.rows + self.derived:
            if r.name == name:
                return r
        raise KeyError(f"{self.key} has no row {name!r}; rows: {', '.join(r.name for r in self.rows + self.derived)}")


# -- the method contract ----------------------------------------------------------------------------
@dataclass
class Trained:
    """What :meth:`Method.train` made for one fold: the fold it was made for, whatever
    :meth:`Method.evaluate` needs (a fitted classifier, a network, a class index), and the stored record
    of the trained model where there is one (a fine-tuned network's)."""

    fold: FoldId
    model: Any = None
    record: Record | None = None


class Method(ABC):
    """A paper's method: a config, a card, ``train(fold)`` and ``evaluate(fold, trained)``.

    ``train`` returns a :class:`Trained` made for that fold (the runner checks); ``evaluate`` returns
    the records of every variant it measures, made with :meth:`Fold.record` and scored with
    :meth:`Fold.score`; ``done`` returns a fold's stored records when the fold is complete, so that it is
    neither trained nor evaluated again. ``name`` names the method (its records are ``name`` or
    ``<family>-...``); ``Config`` is a frozen dataclass whose fields are the method's knobs.
    """

    name: ClassVar[str]
    Config: ClassVar[type]
    #: The declared version of the method's record family (:func:`vsalib.provenance.declare_method`): it changes
    #: whenever a change to the method would change its numbers, and every record it writes carries it.
    version: ClassVar[MethodVersion]
    card: ClassVar[PaperCard | None] = None
    #: The paper's chapter on the real benchmarks (a :class:`vsalib.chapters.Chapter`: which runs it reads, on which
    #: datasets, what its section shows), set when its ``*_study`` module registers it; None until then.
    chapter: ClassVar[type | None] = None

    def __init__(self, config=None, **settings):
        if config is not None and settings:
            raise TypeError("give a config or keyword settings, not both")
        self.config = config if config is not None else make_config(self.Config, settings, self.name)

    @abstractmethod
    def train(self, fold: Fold, store: ResultStore) -> Trained:
        """What this method evaluates on ``fold``, trained on its train part (choices on its val part)."""

    @abstractmethod
    def evaluate(self, fold: Fold, trained: Trained) -> list[Record]:
        """The records of every variant measured on ``fold`` with ``trained``."""

    def done(self, fold: Fold, store: ResultStore) -> list[Record] | None:
        """The fold's stored records if the fold is complete, else None (default: never stored)."""
        return None

    # -- what the book reports, from the card and the store -------------------------------------------
    #: The records whose ``seconds_per_image`` is the cost of the method's region step (the scoreboard's).
    cost_method: ClassVar[str | None] = None

    @classmethod
    def paper_values(cls, runs, dataset: str, subset: str | None = None) -> dict:
        """Per row of the card (and derived row): ``(test accuracy % per (seed, fold), the paper's %)``,
        from ``runs`` (the store's rows of one run). A method overrides it to filter by a run's settings
        or to compute its derived rows."""
        from vsalib import report

        return report.row_values(cls.card, runs, dataset, subset)

    @classmethod
    def paper_claims(cls, runs, dataset: str, subset: str | None = None):
        """What held of the card's claims on ``runs`` (:func:`vsalib.report.card_claims`)."""
        from vsalib import report

        return report.card_claims(cls.card, cls.paper_values(runs, dataset, subset), cls.claim_runs(runs),
                                  rows=cls.paper_rows(runs))

    @classmethod
    def paper_rows(cls, runs) -> dict:
        """The :class:`PaperRow` each of ``paper_values``' figures is read with, by name (the card's own rows; a
        method whose figures add a run's settings to them says so), for the per-image tests' records."""
        return {r.name: r for r in cls.card.rows} if cls.card is not None else {}

    @classmethod
    def paper_data(cls, dataset: str, subset: str | None = None, row: str | None = None) -> str | None:
        """The dataset the paper's figure for ``row`` (any row where None) beside ours comes from where it is not
        ours (its card's stand-in, e.g. "FI, 2 classes"), else None."""
        from vsalib import report

        return report.stand_in_name(cls.card, dataset, subset, row) if cls.card is not None else None

    @classmethod
    def claim_runs(cls, runs):
        """The records behind ``paper_values``' rows, for the verdicts' design and paired predictions (a method
        whose rows read a subset of a run's records narrows them)."""
        return runs

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"


class OneRecordPerFold:
    """For a :class:`Method` that writes one record per fold under its ``name`` and ``params()``: the fold is
    complete when that record is stored."""

    def done(self, fold: Fold, store: ResultStore) -> list[Record] | None:
        rec = store.get(**fold.identity(self.name, self.params()))
        return None if rec is None else [rec]


class LinearOnFeatures(OneRecordPerFold):
    """For a :class:`Method` that fits a linear classifier on fixed features of every image: ``features(fold)``
    (one row per image of the fold's dataset), ``make_classifier(c)`` and ``config.c_grid``; ``train`` keeps
    the c chosen on the validation part (:func:`fit_on_validation`), ``evaluate`` writes one record with the
    test predictions (and ``record_extra()``)."""

    def train(self, fold: Fold, store: ResultStore) -> Trained:
        return Trained(fold.id, fit_on_validation(self.make_classifier, self.config.c_grid, self.features(fold), fold))

    def evaluate(self, fold: Fold, trained: Trained) -> list[Record]:
        clf, c, val_acc = trained.model
        test = fold.index("test")
        s = fold.score(clf.predict(self.features(fold)[test]))
        return [fold.record(self.name, self.params(), {"accuracy": s["accuracy"], "val_accuracy": val_acc, "C": c},
                            extra={"y_true": s["y_true"], "y_pred": s["y_pred"], "test_index": test,
                                   **self.record_extra()})]

    def record_extra(self) -> dict:
        return {}


def make_config(cls: type, settings: dict, owner: str = "method"):
    """``cls(**settings)`` with unknown names answered by the list of valid ones."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(settings) - names)
    if unknown:
        raise UnknownNameError(f"{owner} has no setting {', '.join(map(repr, unknown))}; valid: {', '.join(sorted(names))}")
    return cls(**settings)


_METHODS: dict[str, type[Method]] = {}


def register_method(cls: type[Method]) -> type[Method]:
    """Class decorator: register a :class:`Method` under its ``name``."""
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise TypeError(f"register_method takes a Method subclass, got {cls!r}")
    if not getattr(cls, "name", None) or not dataclasses.is_dataclass(getattr(cls, "Config", None)):
        raise TypeError(f"{cls.__name__} needs a name and a dataclass Config")
    version = getattr(cls, "version", None)
    if not isinstance(version, MethodVersion) or version.family != method_family(cls.name):
        raise TypeError(f"{cls.__name__} needs version = provenance.declare_method({method_family(cls.name)!r}, ...): "
                        f"the declared version of its record family, got {version!r}")
    _METHODS[cls.name] = cls
    return cls


def list_methods() -> list[str]:
    _import_methods()
    return sorted(_METHODS)


def method_class(name: str) -> type[Method]:
    """The registered :class:`Method` class called ``name``."""
    _import_methods()
    if name not in _METHODS:
        raise UnknownNameError(f"unknown method {name!r}; valid names: {', '.join(sorted(_METHODS))}")
    return _METHODS[name]


def create_method(name: str, **settings) -> Method:
    """Build a registered method from keyword settings (checked against its ``Config``)."""
    return method_class(name)(**settings)


def _import_methods() -> None:
    from vsalib.methods import import_all  # every module of vsalib.methods: importing one registers its methods

    import_all()


# -- the fold runner --------------------------------------------------------------------------------
def missing_weights(records: Sequence[Record]) -> list[str]:
    """The saved weights (``extra.model_path``) that ``records`` point to and that are not on disk: a record read
    from the published snapshot, or from a store whose cache folder was emptied, holds its numbers but not its
    model."""
    return [str(r.extra["model_path"]) for r in records
            if isinstance(r.extra, dict) and r.extra.get("model_path") and not Path(r.extra["model_path"]).is_file()]


def model_identity(record: Record) -> str:
    """What a cache computed with a record's trained model is keyed on: the record's key and a digest of its
    saved weights (:func:`vsalib.train.features.file_stamp`), so that regions scored by a model whose weights
    were lost and trained again (:func:`run_fold`'s ``need_weights``) are not read back for the new model."""
    from vsalib.train.features import file_stamp

    path = record.extra.get("model_path") if isinstance(record.extra, dict) else None
    return f"{record.key}@{file_stamp(path)}" if path and Path(path).is_file() else record.key


def _same_score(a, b) -> bool:
    """Two stored accuracies of one test part are the same score (float32 and float64 of one fraction differ in
    the eighth digit; a test part of n images moves in steps of 1 / n)."""
    if a is None or b is None:
        return a is b
    return bool(np.isclose(float(a), float(b), rtol=0.0, atol=1e-6))


def run_fold(method: Method, fold: Fold, store: ResultStore, *, need_weights: bool = False) -> list[Record]:
    """One fold of ``method``: its stored records if it is complete, else train on it, check that what
    was trained was made for this fold, evaluate, and write each record (with provenance) to ``store``.

    ``need_weights``: the caller loads the trained model (a region method on the fold's global model, a
    detection branch moved to another dataset), so stored records whose weights are gone do not count as
    done: the fold is trained again (resuming from its epoch checkpoint where one is left), and its records,
    replaced, stay paired with the weights they describe."""
    stored = method.done(fold, store)
    lost = None
    if stored is not None and need_weights and missing_weights(stored):
        warnings.warn(f"{method.name} on {fold.id}: its record is stored but its weights are not "
                      f"({', '.join(missing_weights(stored))}); training the fold again", stacklevel=2)
        lost, stored = {r.key: r for r in stored}, None
    if stored is not None:
        return stored
    t0 = time.perf_counter()
    trained = method.train(fold, store)
    if trained.fold != fold.id:
        raise FoldMismatchError(f"{method.name}.train made a model for {trained.fold}, not for {fold.id}")
    if trained.record is not None:
        check_pairing(fold, trained.record)
    records = method.evaluate(fold, trained)
    wall = time.perf_counter() - t0
    for rec in records:
        if FoldId.of(rec) != fold.id:
            raise FoldMismatchError(f"{method.name}.evaluate wrote a record for {FoldId.of(rec)} on {fold.id}")
        if rec.wall_time_s is None:
            rec.wall_time_s = wall
        if lost and rec.key in lost and not _same_score(rec.metrics.get("accuracy"), lost[rec.key].metrics.get("accuracy")):
            warnings.warn(f"{method.name} on {fold.id}: the model trained again scores {rec.metrics.get('accuracy')}, the "
                          f"stored record {lost[rec.key].metrics.get('accuracy')}; records made earlier with the lost model "
                          f"on this fold describe that model, not this one (rerun them to pair them again)", stacklevel=2)
        store.add(rec)
    return records


def run(method: Method, dataset: ImageDataset, splits: Sequence[Split], *, subset: str | None = None,
        store: ResultStore | None = None, progress: bool = True, need_weights: bool = False) -> list[Record]:
    """Run ``method`` on every split (:func:`run_fold`): a fold whose records are stored is read back,
    not recomputed; every other fold is trained, evaluated and recorded. ``need_weights``: the caller loads
    the trained models, so a stored fold whose weights are gone is trained again (:func:`run_fold`)."""
    store = ResultStore() if store is None else store
    out: list[Record] = []
    for fold in tqdm(folds_of(dataset, splits, subset), desc=f"{method.name} folds", disable=not progress,
                     leave=False):
        out += run_fold(method, fold, store, need_weights=need_weights)
    return out


# -- methods built on another method's model ---------------------------------------------------------
class OnTrainedModel(Method):
    """A method that evaluates, on each fold, a model trained on that fold by another method (its
    ``trainer``: Sun2016 scores regions with the fold's fine-tuned global CNN, R-CNNGSR with the CNN
    trained with its regulariser).

    ``models``: the trainer's records to use, paired with the folds by identity (never by position;
    :func:`pair_by_identity`); without them, ``train`` runs the trainer on the fold (read back from the
    store when it is there). ``load(record, fold)`` turns the record into the model ``evaluate`` uses.
    """

    what: ClassVar[str] = "trained model"  # how errors name the trainer's models

    def __init__(self, config=None, *, trainer: Method | None = None, models: Sequence[Record] | None = None,
                 **settings):
        super().__init__(config, **settings)
        if trainer is None and models is None:
            raise TypeError(f"{type(self).__name__} needs a trainer (a Method) or the trained models' records")
        self.trainer = trainer
        self.models = None if models is None else list(models)

    def check_models(self, folds: Sequence[Fold]) -> None:
        """Every fold has exactly one of ``models`` (checked before any work)."""
        if self.models is not None:
            pair_by_identity(folds, self.models, self.what)

    def model_record(self, fold: Fold, store: ResultStore, *, train: bool = True) -> Record | None:
        """The trained model's record for ``fold`` (None when ``train=False`` and it is not stored yet)."""
        if self.models is not None:
            return pair_by_identity([fold], self.models, self.what)[0]
        if not train:
            done = self.trainer.done(fold, store)
            return done[0] if done else None
        return run_fold(self.trainer, fold, store, need_weights=True)[0]

    @abstractmethod
    def load(self, record: Record, fold: Fold) -> Any:
        """The model that ``record`` holds, ready for :meth:`evaluate`."""

    def train(self, fold: Fold, store: ResultStore) -> Trained:
        rec = self.model_record(fold, store)
        check_pairing(fold, rec, self.what)
        return Trained(fold.id, self.load(rec, fold), rec)


__all__ = ["Claim", "Fold", "FoldId", "fit_on_validation", "LinearOnFeatures", "FoldMismatchError", "Method", "OnTrainedModel", "OneRecordPerFold", "PaperCard", "PaperRow", "Substitution", "Trained",
           "check_pairing", "choose_on_validation", "create_method", "folds_of", "list_methods", "make_config",
           "method_class", "missing_weights", "model_identity", "pair_by_identity", "protocol_name", "register_method", "run", "run_fold"]
