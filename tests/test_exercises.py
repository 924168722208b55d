"""The pen-and-paper exercises' answers (folded in each paper chapter's Exercises) are what vsalib computes:
each answer's numbers are recomputed here with the library's own equations and looked up in the chapter."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _exercises(name: str) -> str:
    nb = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text())
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]
    (text,) = [c for c in cells if c.startswith("## Exercises")]
    assert "**By hand:" in text and ":class: dropdown" in text  # a pen-and-paper exercise, its answer folded
    return text


def test_sun2016_senti_ar_and_late_fusion():
    from vsalib.regions.fusion import late_fusion
    from vsalib.regions.scoring import affective_rank, senti_score

    senti = senti_score(torch.tensor([[0.8, 0.2]]), log_base=2.0)
    ar = affective_rank(torch.tensor([0.5]), senti)
    y = late_fusion(np.array([0.45, 0.55]), np.array([[0.8, 0.2]]), beta=0.5).scores.numpy()
    assert round(float(senti), 3) == 0.278 and round(float(ar), 3) == 0.572
    assert np.allclose(y, [0.85, 0.65]) and int(np.argmax(y)) == 0
    text = _exercises("sun2016_affective_regions")
    assert all(s in text for s in ("**0.278**", "**0.572**", "(0.85, 0.65)", "**negative**"))


def test_rcnngsr_area_weighted_sum():
    from vsalib.regions.fusion import area_weighted_fusion

    y = area_weighted_fusion(np.array([0.4, 0.6]), np.array([[0.9, 0.1], [0.7, 0.3]]), np.array([2500, 5000]),
                             10_000, reading="sum").scores.numpy()
    assert np.allclose(y, [0.975, 0.775])
    assert "(0.975, 0.775)" in _exercises("rcnngsr")


def test_wsidnet_eq3_edges():
    from vsalib.emotions import MIKELS_EMOTIONS, sentiment_graph_adjacency

    a = sentiment_graph_adjacency()
    i = {e: MIKELS_EMOTIONS.index(e) for e in MIKELS_EMOTIONS}
    assert a[i["amusement"], i["contentment"]] == pytest.approx(1.0)
    assert a[i["excitement"], i["fear"]] == pytest.approx(2.0)
    assert a[i["amusement"], i["fear"]] == pytest.approx(1.25)
    text = _exercises("wsidnet")
    assert all(s in text for s in ("**1**", "**2**", "**1.25**"))


def test_multilevel_eq4_distribution():
    from vsalib.emotions import MIKELS_EMOTIONS, emotion_distribution

    f = dict(zip(MIKELS_EMOTIONS, emotion_distribution("amusement", 0.6)))
    assert round(f["contentment"], 3) == 0.102 and round(f["anger"], 3) == 0.102
    assert round(f["fear"], 3) == 0.026 and round(f["awe"], 3) == 0.051 and round(f["excitement"], 3) == 0.034
    assert sum(f.values()) == pytest.approx(1.0) and f["amusement"] == pytest.approx(0.6)
    text = _exercises("multilevel_rcnn")
    assert all(s in text for s in ("**0.102**", "**0.026**", "47/12"))


def test_attr_attention_weights():
    from vsalib.methods.attr_attention import attention_weights

    v = torch.tensor([[[2.0, 1.0], [-1.0, 3.0], [1.0, 1.0]]])
    o = attention_weights(v, torch.tensor([[1.0, 0.0]]))
    assert torch.allclose(o, torch.tensor([[2 / 3, 0.0, 1 / 3]]))
    assert torch.allclose((o.unsqueeze(-1) * v).sum(1), torch.tensor([[5 / 3, 1.0]]))
    assert "**2/3, 0, 1/3**" in _exercises("attr_attention")
