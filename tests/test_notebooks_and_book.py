"""The book: every chapter notebook runs under papermill (quick profile) and the book builds.

Marked slow: it executes the notebooks and runs jupyter-book (minutes on 2 cores). nbval runs the
same notebooks through the README's test command (``--nbval-lax notebooks``).
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def test_every_notebook_has_a_parameters_cell():
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{nb.name} needs exactly one cell tagged 'parameters'"


def test_unknown_papermill_parameter_is_refused(tmp_path):
    import papermill as pm

    with pytest.raises(pm.PapermillExecutionError, match="valid parameters"):
        pm.execute_notebook(str(ROOT / "notebooks" / "datasets.ipynb"), str(tmp_path / "out.ipynb"),
                            parameters={"n_sample": 3}, cwd=str(ROOT / "notebooks"), progress_bar=False)


def test_book_builds_with_its_figures(tmp_path):
    """scripts/build_book.py on a copy of the book folder: pages exist and hold their figures."""
    work = tmp_path / "repo"
    for part in ("book", "notebooks", "scripts", "vsalib"):
        shutil.copytree(ROOT / part, work / part, ignore=shutil.ignore_patterns("_build", ".stamps.json"))
    shutil.copy(ROOT / "_config.yml", work / "_config.yml")
    if (ROOT / "results" / "published").is_dir():  # the committed snapshot, as a clone has it
        shutil.copytree(ROOT / "results" / "published", work / "results" / "published")
    # shares the session's results store and caches (conftest.py): after nbval has run the notebooks, the
    # build reuses their records instead of training everything again. No dataset is reachable, as in a
    # fresh clone on a machine without them.
    env = {**os.environ, "PYTHONPATH": str(work), "VSALIB_DATA": str(tmp_path / "no-datasets-here")}
    env.pop("VSALIB_PUBLISHED", None)
    proc = subprocess.run([sys.executable, str(work / "scripts" / "build_book.py")], cwd=work, env=env,
                          capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    html = work / "book" / "_build" / "html"
    for page in ("intro.html", "rerun.html", "references.html", "notebooks/datasets.html",
                 "notebooks/global_baseline.html", "notebooks/sun2016_affective_regions.html",
                 "notebooks/rcnngsr.html", "notebooks/scoreboard.html"):
        assert (html / page).is_file(), page
    # the real Table 1 of every published Twitter I subset, with the numbers of the stored records
    from vsalib import published, real_benchmarks

    sun_page = (html / "notebooks/sun2016_affective_regions.html").read_text()
    for ds, sub in published.CHAPTER_DATASETS["sun2016"]:
        runs = published.chapter_runs("sun2016", ds, sub)
        if len(runs):
            for cell in real_benchmarks.sun2016_table1(runs, ds, sub)["ours %"]:
                assert cell.replace("±", "&#177;") in sun_page or cell in sun_page, (sub, cell)
    for page, n_min in (("notebooks/datasets.html", 2), ("notebooks/global_baseline.html", 2),
                        ("notebooks/sun2016_affective_regions.html", 2), ("notebooks/rcnngsr.html", 4)):
        text = (html / page).read_text()
        assert text.count("<img") >= n_min, f"{page} has fewer than {n_min} figures"
        assert "Traceback" not in text
    assert "Sun" in (html / "references.html").read_text()
    assert (html / "_static" / "mathjax" / "tex-chtml.js").is_file(), "MathJax must ship with the book (offline)"
    # a second build reuses the executed notebooks
    proc = subprocess.run([sys.executable, str(work / "scripts" / "build_book.py")], cwd=work, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "up to date" in proc.stdout
