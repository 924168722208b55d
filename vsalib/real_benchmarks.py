"""Each chapter's section "On the real benchmarks", built from the published snapshot.

``section(chapter)`` displays the registered chapter's section (:mod:`vsalib.chapters`): for each of its datasets
the snapshot holds, the paper's table beside ours (rows named by what ran, the paper's row name beside), its
figure(s), the verdicts on the paper's claims, and under each table the runs it comes from; for a dataset the
snapshot does not hold it says so in one line, with the command that fills it. Each paper's section lives with
its chapter in ``methods/<paper>_study.py``; this module is the one door the notebooks and tests use, and keeps
the names the printed tables had here.
"""

from __future__ import annotations

import pandas as pd

from vsalib import chapters, sections
from vsalib.methods import global_study, multilevel_study, rcnngsr_study, sun2016_study, wsidnet_study
from vsalib.methods.attr_study import SOURCE_NAMES
from vsalib.methods.global_study import (HAND_CRAFTED, hand_crafted_table, own_baseline_notes, show_hand_crafted,
                                         zero_spread_sentence)
from vsalib.methods.rcnngsr import PAPER_XI as XI
from vsalib.methods.rcnngsr_study import FIG5_VARIANTS
from vsalib.sections import claims_table, detectable_column, latest_of, verdict_sentence

# the printed tables and sentences under the names they had here (the notebooks and tests call them so)
sun2016_table1 = sun2016_study.printed_table1
rcnngsr_table2 = rcnngsr_study.printed_table2
rcnngsr_region_sets = rcnngsr_study.printed_region_sets
rcnngsr_region_sentence = rcnngsr_study.region_sentence
rcnngsr_grid = rcnngsr_study.xi_grid
wsidnet_table = wsidnet_study.printed_table
wsidnet_rows_sentence = wsidnet_study.rows_sentence
wsidnet_sweep = wsidnet_study.printed_sweep
wsidnet_graph = wsidnet_study.faithful_graph
table1_sentence = wsidnet_study.table1_sentence
graph_sentence = wsidnet_study.graph_sentence
multilevel_table = multilevel_study.printed_table
proposer_table = multilevel_study.printed_proposer
multilevel_sweep = multilevel_study.printed_sweep


#: What ``section(chapter, part="main")`` kept back for ``part="rest"``: chapter → (runs shown, displays).
_REST: dict[str, tuple[dict, list]] = {}


def section(chapter: str, *, path=None, part: str | None = None) -> dict[tuple[str, str | None], pd.DataFrame]:
    """Display ``chapter``'s real-benchmark results from the snapshot (``path``: another snapshot folder); returns
    the runs per dataset.

    ``part``: None shows the whole section in order. ``"main"`` shows its main path (the paper's own dataset, its
    tables and claims) and keeps back its long tail (what the chapter's code displays under
    :func:`vsalib.sections.folded` or after :func:`vsalib.sections.fold_from_here`: sweeps, diagnostics, the other
    protocols and datasets); ``"rest"`` shows what was kept back, in order, for a cell tagged ``hide-output``. The
    two parts hold every object the whole section shows, each once."""
    if part is None:
        sections.reset_fold()
        try:
            return chapters.get(chapter).show(path=path)
        finally:
            sections.reset_fold()
    if part not in ("main", "rest"):
        raise ValueError(f"part must be None, 'main' or 'rest', not {part!r}")
    if part == "rest" and chapter in _REST:
        shown, rest = _REST.pop(chapter)
        _replay(rest)
        return shown
    import IPython.display

    kept: dict[bool, list] = {False: [], True: []}
    real_display = IPython.display.display

    def keep(*objs, **kwargs):
        kept[sections.folded_now()].append((objs, kwargs))

    sections.reset_fold()
    IPython.display.display = keep
    try:
        shown = chapters.get(chapter).show(path=path)
    finally:
        IPython.display.display = real_display
        sections.reset_fold()
    if part == "main":
        _REST[chapter] = (shown, kept[True])
    _replay(kept[part == "rest"])
    return shown


def rest(chapter: str, *, path=None) -> None:
    """Display the folded rest of ``chapter``'s section (``section(chapter, part="rest")``), returning nothing (the
    last line of a cell)."""
    section(chapter, path=path, part="rest")


def _replay(displays: list) -> None:
    from IPython.display import display

    for objs, kwargs in displays:
        display(*objs, **kwargs)


def per_protocol(real: dict) -> list[tuple[str, str, str | None, pd.DataFrame]]:
    """:func:`section`'s runs per dataset *and* protocol (name, dataset, subset, runs), never pooled: a chapter's
    findings and summary read each protocol's claims apart, named as the scoreboard names them."""
    return [(name, ds, sub, r) for (ds, sub), runs in real.items() for name, _, r in sections.by_protocol(runs, ds, sub)]


__all__ = ["FIG5_VARIANTS", "HAND_CRAFTED", "SOURCE_NAMES", "XI", "claims_table", "detectable_column",
           "global_study", "graph_sentence", "hand_crafted_table", "latest_of", "multilevel_sweep", "multilevel_table",
           "own_baseline_notes", "per_protocol", "proposer_table", "rcnngsr_grid", "rcnngsr_region_sentence",
           "rcnngsr_region_sets", "rcnngsr_table2", "rest", "section", "show_hand_crafted", "sun2016_table1",
           "table1_sentence", "verdict_sentence", "wsidnet_graph", "wsidnet_rows_sentence", "wsidnet_sweep",
           "wsidnet_table", "zero_spread_sentence"]
