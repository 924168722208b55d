"""One number per quantity across the book: every (dataset, model or claim, runs) figure that two pages print
is the same, or the pages say why not.

The figures are read from ``tests/published_numbers.json``, which holds every table the chapters print from the
published snapshot (``tests/test_published.py`` checks it against a fresh run of each chapter's code), so this
test reads what a reader reads.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import pytest

GOLDEN = Path(__file__).with_name("published_numbers.json")
SUBSETS = {"5": "five", "4": "four", "3": "three"}
PAPERS = {"rao": "MultiLevelRCNN", "multilevel-rcnn": "MultiLevelRCNN", "sun2016": "Sun2016", "wsidnet": "WSIDNet",
          "rcnngsr": "R-CNNGSR", "attr-attention": "AttrAttention"}


def _tables() -> list[tuple[str, dict]]:
    book = json.loads(GOLDEN.read_text())
    return [(page, item) for page, items in book.items() for item in items if "columns" in item]


def _dataset(label: str) -> str:
    """``Twitter I 5-agree`` (the global-baseline table's column) → ``Twitter I five-agree`` (the captions')."""
    return re.sub(r"Twitter I (\d)-agree", lambda m: f"Twitter I {SUBSETS[m.group(1)]}-agree", label.strip())


def _from_caption(caption: str) -> str:
    """The dataset a caption names: ``What ... — EmotionROI (fixed split) · EfficientNet-Lite0 · profile cpu``."""
    return _dataset(caption.split(" — ", 1)[1].split(" · ")[0]) if " — " in caption else ""


def _mean(cell: str) -> float | None:
    m = re.match(r"\s*([+-]?\d+(?:\.\d+)?)", str(cell).replace("−", "-"))
    return round(float(m.group(1)), 2) if m else None


def _model(what_ran: str) -> str | None:
    for pattern, name in ((r"frozen \+ logistic regression$|^EfficientNet-Lite0$", "frozen"),
                          (r"fine-tuned$|^EfficientNet-Lite0\+ft$", "finetune"), (r"^GCH", "gch"), (r"^LCH", "lch")):
        if re.search(pattern, what_ran):
            return name
    return None


def accuracy_figures() -> dict[tuple[str, str], list[tuple[str, float, int | None]]]:
    """(dataset, model) → every (page, mean %, n) the book prints for it."""
    seen: dict[tuple[str, str], list] = defaultdict(list)
    for page, t in _tables():
        cols, rows, cap = t["columns"], t["rows"], t.get("caption", "")
        if {"ours (what ran)", "ours %", "n", "dataset"} <= set(cols):  # the global baseline, the hand-crafted rows
            i = {c: cols.index(c) for c in cols}
            for r in rows:
                if (model := _model(r[i["ours (what ran)"]])) is not None:
                    seen[(_dataset(r[i["dataset"]]), model)].append((page, _mean(r[i["ours %"]]), int(r[i["n"]])))
                if "note" in i and (m := re.search(r"own Backbone.*: ([\d.]+) ± [\d.]+, n (\d+)", r[i["note"]])):
                    seen[(_dataset(r[i["dataset"]]), "wsidnet backbone")].append(
                        (page + " (note)", round(float(m.group(1)), 2), int(m.group(2))))
        elif cols[:2] == ["ours (what ran)", "paper's row"]:  # Sun2016's and R-CNNGSR's tables
            for r in rows:
                if (model := _model(r[0])) is not None:
                    seen[(_from_caption(cap), model)].append((page, _mean(r[3]), int(r[4])))
        elif cols[:3] == ["row", "paper %", "ours %"] and "WSIDNet Table 2" in cap:
            for r in rows:
                if r[0] == "Backbone":
                    seen[(_from_caption(cap), "wsidnet backbone")].append((page, _mean(r[2]), int(r[5])))
        elif cols[:2] == ["dataset", "paper frozen"]:  # what fine-tuning adds (means only)
            for r in rows:
                seen[(_dataset(r[0]), "frozen")].append((page, _mean(r[4]), None))
                seen[(_dataset(r[0]), "finetune")].append((page, _mean(r[5]), None))
        elif cols[:3] == ["paper", "dataset", "claim"] and "ours baseline" in cols:  # When do regions help?
            i = {c: cols.index(c) for c in cols}
            for r in rows:
                model = {"sun2016": "finetune", "wsidnet": "wsidnet backbone"}.get(r[0])
                if model:
                    seen[(_dataset(r[1]), model)].append((page, _mean(r[i["ours baseline"]]), int(r[i["n"]])))
    return seen


def claim_figures() -> dict[tuple[str, str, str], list[tuple[str, float, int]]]:
    """(paper, dataset, claim) → every (page, our gain, n) the book prints for it."""
    seen: dict[tuple[str, str, str], list] = defaultdict(list)
    for page, t in _tables():
        cols, rows, cap = t["columns"], t["rows"], t.get("caption", "")
        if cols[:3] == ["claim", "paper gain", "our gain"] and (m := re.match(r"What held: (.+?)'s claims", cap)):
            for r in rows:
                seen[(m.group(1), _from_caption(cap), r[0])].append((page, _mean(r[2]), int(r[4])))
        elif cols[:3] == ["paper", "dataset", "claim"] and "our gain" in cols and "n" in cols:
            i = {c: cols.index(c) for c in cols}
            for r in rows:
                if _mean(r[i["our gain"]]) is not None:
                    seen[(PAPERS.get(r[0], r[0]), _dataset(r[1]), r[2])].append(
                        (page, _mean(r[i["our gain"]]), int(r[i["n"]])))
    return seen


def _disagreements(seen: dict) -> list[str]:
    out = []
    for key, figures in sorted(seen.items()):
        means = {m for _, m, _ in figures if m is not None}
        ns = {n for _, _, n in figures if n is not None}
        if len(means) > 1 or len(ns) > 1:
            out.append(f"{key}: " + "; ".join(f"{p} {m} (n {n})" for p, m, n in figures))
    return out


def test_the_same_model_has_the_same_accuracy_on_every_page():
    seen = accuracy_figures()
    # the quantities the pages share are all collected (a parser that reads nothing would pass)
    assert len(seen[("Twitter I five-agree", "frozen")]) >= 3
    assert {p for p, _, _ in seen[("Twitter I five-agree", "finetune")]} >= {"global_baseline", "sun2016",
                                                                             "regions_help five"}
    assert len(seen[("Twitter I five-agree", "wsidnet backbone")]) >= 3
    assert len(seen[("EmotionROI", "gch")]) >= 3
    assert _disagreements(seen) == []


def test_the_same_claim_has_the_same_gain_on_every_page():
    seen = claim_figures()
    key = ("Sun2016", "Twitter I five-agree", "one affective region helps (K = 1)")
    assert {p for p, _, _ in seen[key]} >= {"sun2016", "scoreboard", "regions_help five"}
    assert ("MultiLevelRCNN", "EmotionROI (fixed split)", "emotional regions against object regions (Table 1)") in seen
    assert _disagreements(seen) == []


def test_no_two_tables_of_a_page_share_a_caption():
    """Two protocols' (or readings') tables are told apart by their captions."""
    captions: dict[tuple[str, str], list] = defaultdict(list)
    for page, t in _tables():
        captions[(page, t.get("caption", ""))].append(t["rows"])
    shared = [f"{page}: {cap!r}" for (page, cap), tables in captions.items()
              if len(tables) > 1 and any(rows != tables[0] for rows in tables)]
    assert shared == []


@pytest.mark.parametrize("a, b, differ", [
    ({("d", "m"): [("p1", 86.43, 15), ("p2", 86.43, 15)]}, None, False),
    ({("d", "m"): [("p1", 86.43, 15), ("p2", 86.06, 5)]}, None, True),
    ({("d", "m"): [("p1", 86.43, 15), ("p2", 86.43, None)]}, None, False),
])
def test_disagreements_are_found(a, b, differ):
    assert bool(_disagreements(a)) is differ
