"""The book's figures: shown at most a column wide (so that no text falls under 9 pt on the page) with an alt
text that says what they show, never their file name."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from vsalib import plots  # noqa: E402


@pytest.fixture
def shown(monkeypatch):
    out = []
    monkeypatch.setattr("IPython.display.display", lambda obj, raw=False: out.append(obj))
    return out


def test_a_wide_figure_is_drawn_a_column_wide_with_its_alt_text(shown):
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    axes[0].plot([1, 5, 10], [80, 82, 81], label="obj+senti")
    axes[0].plot([1, 5, 10], [79, 80, 80], label="senti")
    axes[0].set(xlabel="K", ylabel="accuracy %", title="late fusion")
    axes[0].legend()
    axes[1].imshow([[0, 1], [1, 0]])
    axes[1].set_title("the graph")
    fig.suptitle("Sun2016 Fig. 4 — Twitter I five-agree")
    alt = plots.show(fig)
    assert fig.get_size_inches()[0] == pytest.approx(plots.COLUMN_INCHES)  # drawn at the column's width
    assert all(t.get_fontsize() >= plots.MIN_FONT for ax in axes for t in ax.get_xticklabels() + ax.get_yticklabels())
    assert alt == ("Sun2016 Fig. 4 — Twitter I five-agree. panel 1: late fusion — accuracy % against K; series: "
                   "obj+senti, senti. panel 2: the graph — an image.")
    (bundle,) = shown
    assert set(bundle) == {"image/png", "text/html", "text/plain"}
    html = bundle["text/html"]
    assert html.startswith('<img src="data:image/png;base64,') and f'alt="{alt}"' in html
    width = int(html.split('width="')[1].split('"')[0])
    assert width <= plots.COLUMN_INCHES * 96  # never wider than the column, so never scaled down on the page
    assert not plt.fignum_exists(fig.number)  # closed


def test_an_explicit_alt_wins_and_is_escaped(shown):
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.bar(["a", "b"], [1, 2])
    assert plots.describe(fig) == "the plot — 2 bars or boxes."
    assert plots.show(fig, alt='gain < 0 "here"') == 'gain < 0 "here"'
    assert 'alt="gain &lt; 0 &quot;here&quot;"' in shown[0]["text/html"]
    assert fig.get_size_inches()[0] == pytest.approx(4)  # a narrow figure keeps its size


def test_a_pipeline_says_its_steps(shown):
    fig = plots.pipeline([("1. proposals", "N boxes"), ("2. score", "the CNN on each box")], "Sun2016's pipeline")
    assert plots.show(fig) == ("the plot: Sun2016's pipeline — a diagram of 2 steps: 1. proposals → 2. score.")


def test_every_notebook_figure_goes_through_show():
    """A figure left for the inline backend reaches the book without an alt text (its file name stands in)."""
    import json
    import re
    from pathlib import Path

    makes = re.compile(r"\b(figures\.\w+|plt\.(subplots|figure)|plots\.(pipeline|image_grid|class_balance))\(")
    left = []
    for nb in sorted(Path(__file__).resolve().parents[1].glob("notebooks/*.ipynb")):
        for i, cell in enumerate(json.loads(nb.read_text())["cells"]):
            src = "".join(cell["source"])
            if cell["cell_type"] == "code" and makes.search(src) and "plots.show(" not in src:
                left.append(f"{nb.name} cell {i}")
    assert not left, "a figure is made but not shown with plots.show: " + ", ".join(left)
