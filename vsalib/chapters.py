"""The chapters on the real benchmarks: one registry, filled by each paper's ``methods/*_study.py``.

A chapter is a :class:`Chapter` subclass in its paper's study module, registered with :func:`register`: its name
(the snapshot selection's and ``make results CHAPTERS=``'s), its place in the book, the real benchmarks it runs
on, which of a dataset's runs it reads (:meth:`Chapter.records`) and what its section shows
(:meth:`Chapter.section`, once per dataset the snapshot holds). Registering attaches it to its paper's method class
as ``chapter``, so the method class carries its chapter's hooks. The published snapshot's reader, the scoreboard
and :mod:`vsalib.real_benchmarks` loop over :func:`registered`, with no branch per paper; the study modules are
found by being in :mod:`vsalib.methods` (:func:`vsalib.methods.import_studies`), so a new paper's chapter is its
own module.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import ClassVar

import pandas as pd

from vsalib import published, sections
from vsalib.errors import UnknownNameError
from vsalib.report import dataset_name


#: The real benchmarks several chapters run on, as ``make results`` configurations.
TWITTER: tuple[dict, ...] = (*({"dataset": "twitter1", "subset": s} for s in ("five", "four", "three")),
                             {"dataset": "twitter2"})
#: R-CNNGSR's four datasets, binary labels, its 75/20/5 random split over three seeds.
RCNNGSR_DATASETS: tuple[dict, ...] = tuple({"dataset": d, "subset": "binary", "seeds": [0, 1, 2]}
                                           for d in ("emotion6", "iaps", "artphoto", "abstract"))
#: EmotionROI's fixed split (binary labels) with three validation draws.
EMOTIONROI: dict = {"dataset": "emotionroi", "subset": "binary", "seeds": [0, 1, 2]}


@dataclass(frozen=True)
class RunGroup:
    """A group of ``make results`` jobs: the chapter's notebook run with each of ``configs`` (notebook parameters;
    ``seeds``: one job per seed, then the notebook once over all of them). ``main``: the chapter's own runs, which
    ``make results`` runs first; False: a further measurement (more seeds, a control, another protocol)."""

    name: str
    about: str
    configs: tuple[dict, ...]
    main: bool = True


class Chapter:
    """One chapter's hooks. Class attributes say what it is; the class methods what it reads and shows."""

    #: The chapter's name: ``chapter_runs``'s, ``make results CHAPTERS=``'s (a paper's: its method's registry name).
    name: ClassVar[str]
    #: Its place among the chapters (the book's order; the scoreboard's rows follow it).
    order: ClassVar[int]
    #: The real benchmarks it runs on, (dataset, subset) in the order its section shows them.
    datasets: ClassVar[tuple[tuple[str, str | None], ...]] = ()
    #: The paper's method class (its card, its claims on the scoreboard); None for a chapter without a paper card.
    method: ClassVar[type | None] = None
    #: The record methods the chapter reads (the default :meth:`records`).
    record_methods: ClassVar[tuple[str, ...]] = ()
    #: Its notebook in ``notebooks/`` (without ``.ipynb``), and the job groups ``make results`` runs it in.
    notebook: ClassVar[str]
    runs: ClassVar[tuple[RunGroup, ...]] = ()

    @classmethod
    def records(cls, runs: pd.DataFrame, dataset: str, subset: str | None) -> pd.DataFrame:
        """The chapter's records among one dataset's runs of one profile (:func:`vsalib.published.profile_runs`
        applied): by default those of :attr:`record_methods`."""
        return runs[runs["method"].isin(list(cls.record_methods))]

    @classmethod
    def section(cls, runs: pd.DataFrame, dataset: str, subset: str | None, backbone: str | None,
                profile: str | None) -> None:
        """Display the chapter's results on one dataset: its tables beside the paper's, figures and verdicts."""

    @classmethod
    def before(cls, path=None) -> None:
        """Displayed before the datasets' parts (e.g. the hand-crafted rows the paper's table quotes)."""

    @classmethod
    def after(cls, shown: dict[tuple[str, str | None], pd.DataFrame], all_runs: pd.DataFrame) -> None:
        """Displayed after them, from every dataset's runs (e.g. a figure over all subsets)."""

    @classmethod
    def own_baseline(cls, runs: pd.DataFrame, dataset: str, subset: str | None) -> tuple[str, str] | None:
        """Where the chapter measures its gains against a whole-image model of its own rather than the global
        baseline's: ``(the paper's row it stands for, a sentence with that model's figure)``; None otherwise."""
        return None

    @classmethod
    def show(cls, *, path=None) -> dict[tuple[str, str | None], pd.DataFrame]:
        """Display the whole section from the snapshot (``path``: another snapshot folder); returns the runs shown
        per dataset. Each dataset the snapshot holds gets its heading and :meth:`section`; one it does not hold, a
        line with the command that fills it."""
        shown: dict[tuple[str, str | None], pd.DataFrame] = {}
        all_runs = published.load(path)
        cls.before(path=path)
        for ds, sub in cls.datasets:
            runs = chapter_runs(cls.name, ds, sub, runs=all_runs)
            if not len(runs):
                sections.missing(cls.name, ds, sub)
                continue
            shown[(ds, sub)] = runs
            sections.md(f"### {dataset_name(ds, sub)}")
            cls.section(runs, ds, sub, sections.backbone_of(runs), sections.profile_of(runs))
        cls.after(shown, all_runs)
        return shown


_CHAPTERS: dict[str, type[Chapter]] = {}


def register(cls: type[Chapter]) -> type[Chapter]:
    """Register a chapter (a class decorator); its paper's method class carries it as ``chapter``."""
    for attr in ("name", "order", "notebook"):
        if not hasattr(cls, attr):
            raise TypeError(f"chapter {cls.__name__} must set {attr!r}")
    if cls.name in _CHAPTERS and _CHAPTERS[cls.name] is not cls:
        raise ValueError(f"chapter {cls.name!r} is registered twice ({_CHAPTERS[cls.name].__name__}, {cls.__name__})")
    _CHAPTERS[cls.name] = cls
    if cls.method is not None:
        cls.method.chapter = cls
    return cls


def registered() -> list[type[Chapter]]:
    """Every chapter, in the book's order."""
    from vsalib.methods import import_studies

    import_studies()
    return sorted(_CHAPTERS.values(), key=lambda c: (c.order, c.name))


def get(name: str) -> type[Chapter]:
    """The chapter called ``name``."""
    chapters = {c.name: c for c in registered()}
    if name not in chapters:
        raise UnknownNameError(f"unknown chapter {name!r}; valid: {', '.join(chapters)}")
    return chapters[name]


def datasets(name: str) -> tuple[tuple[str, str | None], ...]:
    """The real benchmarks chapter ``name`` runs on, in the order it shows them."""
    return get(name).datasets


def run_groups() -> dict[str, tuple[str, list[dict]]]:
    """Every chapter's ``make results`` groups, ``{group: (notebook file, [configuration, ...])}``: the chapters'
    own runs in the book's order, then the further measurements."""
    groups = [(not g.main, c.order, g, c) for c in registered() for g in c.runs]
    out: dict[str, tuple[str, list[dict]]] = {}
    for _, _, g, c in sorted(groups, key=lambda t: (t[0], t[1])):
        if g.name in out:
            raise ValueError(f"run group {g.name!r} is declared twice")
        out[g.name] = (f"{c.notebook}.ipynb", [dict(cfg) for cfg in g.configs])
    return out


def run_group_help() -> str:
    """The groups as ``make results CHAPTERS=...`` lists them: name, chapter and what they run."""
    lines = []
    for c in registered():
        for g in c.runs:
            lines.append(f"  {g.name:<22} {g.about}" + ("" if g.main else " (a further measurement)"))
    return "\n".join(lines)


def chapter_runs(chapter: str, dataset: str, subset: str | None = None, *, profile: str | None = "cpu",
                 runs: pd.DataFrame | None = None, path: str | os.PathLike | None = None) -> pd.DataFrame:
    """The snapshot's rows of one chapter's run on one dataset (empty if it holds none): the dataset's runs of
    ``profile`` (its backbone, input size and fine-tuning scope, :func:`vsalib.published.profile_runs`), of which
    the chapter's :meth:`Chapter.records`."""
    hooks = get(chapter)
    df = published.runs_of(published.load(path) if runs is None else runs, dataset, subset, profile)
    if not len(df):
        return df
    return hooks.records(published.profile_runs(df, profile), dataset, subset)


__all__ = ["Chapter", "EMOTIONROI", "RCNNGSR_DATASETS", "RunGroup", "TWITTER", "chapter_runs", "datasets", "get",
           "register", "registered", "run_group_help", "run_groups"]
