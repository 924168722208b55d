"""The book: every chapter notebook runs (quick profile) and the book builds.

Marked slow: it executes the notebooks and runs jupyter-book (minutes on 2 cores). nbval runs the
same notebooks through the README's test command (``--nbval-lax notebooks``), as a fresh clone without
datasets runs them (conftest.py), and leaves them executed: the book test builds from those executions
where their stamps match and executes the rest. The datasets page on the real benchmarks has its own test here.
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


#: The sections of a paper chapter, in the template of issue 12, and the chapters that follow it so far.
CHAPTER_SECTIONS = ("The method in", "On the real benchmarks", "Findings", "What we substituted", "Exercises",
                    "Summary")
REWRITTEN_CHAPTERS = ("global_baseline", "sun2016_affective_regions", "rcnngsr", "wsidnet", "multilevel_rcnn",
                      "attr_attention")
INTERNAL_PATHS = ("shared/papers", "/work/", "/tmp/", "/root/", "site-packages", ".venv/lib")


def check_pages(html: Path) -> None:
    """What a reader must never meet on a built page: ``nan`` in a table cell, an image whose file is
    not there or whose alt text is its file name, a traceback or warning printed by a cell, a path of the
    machine that built the book."""
    import re
    from html.parser import HTMLParser

    class Page(HTMLParser):
        def __init__(self):
            super().__init__()
            self.cells, self.images, self.cell, self.outputs, self.depth = [], [], None, [], 0
            self.alts = []

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag in ("td", "th"):
                self.cell = []
            if tag == "img":
                self.images.append(a.get("src", ""))
                self.alts.append(a.get("alt") or "")

        def handle_endtag(self, tag):
            if tag in ("td", "th") and self.cell is not None:
                self.cells.append("".join(self.cell).strip())
                self.cell = None

        def handle_data(self, data):
            if self.cell is not None:
                self.cell.append(data)

    problems = []
    for page in sorted(html.rglob("*.html")):
        if page.parent.name in ("_static", "genindex", "search") or page.name in ("genindex.html", "search.html"):
            continue
        text = page.read_text(encoding="utf-8")
        parsed = Page()
        parsed.feed(text)
        rel = page.relative_to(html)
        bad = [c for c in parsed.cells if re.fullmatch(r"(?i)[-+]?nan(\s*±.*)?|None|NaT", c)]
        if bad:
            problems.append(f"{rel}: table cells {bad[:5]}")
        for src in parsed.images:
            if not src.startswith("data:") and not (page.parent / src).is_file():
                problems.append(f"{rel}: image {src} has no file")
        for marker in ("Traceback (most recent call last)", "Warning:", "UserWarning", "FutureWarning",
                       "RuntimeWarning", "DeprecationWarning"):
            if marker in text:
                problems.append(f"{rel}: a cell printed {marker!r}")
        for path in INTERNAL_PATHS:
            if path in text:
                problems.append(f"{rel}: shows the internal path {path!r}")
        for src, alt in zip(parsed.images, parsed.alts):  # alt text that says what the figure shows (issue 35)
            if "_static" in src:
                continue  # the theme's logo and icons
            if len(alt) < 12 or re.search(r"\.(png|jpe?g|svg|gif)$", alt) or alt == src:
                problems.append(f"{rel}: an image's alt text {alt[:60]!r} does not say what it shows")
    assert not problems, "\n".join(problems)


def test_book_builds_with_its_figures(tmp_path, executed_notebooks):
    """scripts/build_book.py on a copy of the book folder: pages exist and hold their figures."""
    work = tmp_path / "repo"
    for part in ("book", "notebooks", "scripts", "vsalib"):
        shutil.copytree(ROOT / part, work / part, ignore=shutil.ignore_patterns("_build", ".stamps.json"))
    shutil.copy(ROOT / "_config.yml", work / "_config.yml")
    if (ROOT / "results" / "published").is_dir():  # the committed snapshot, as a clone has it
        shutil.copytree(ROOT / "results" / "published", work / "results" / "published")
    # shares the session's results store and caches: after nbval has run the notebooks, the build reuses their
    # records instead of training everything again. No dataset is reachable, as in a
    # fresh clone on a machine without them.
    # The copy's own default store would be repo/results (empty): point it at the session's store explicitly.
    from vsalib.results import default_results_dir

    env = {**os.environ, "PYTHONPATH": str(work), "VSALIB_NO_DATASETS": "1", "VSALIB_RESULTS": str(default_results_dir())}
    env.pop("VSALIB_PUBLISHED", None)
    # nbval ran the notebooks as this build would, and left them executed with their stamps (conftest.py; the
    # fixture waits until every notebook it runs has ended, on whichever worker): the build takes those whose stamp
    # it computes too, and executes the others (all of them when this test runs alone)
    executed = executed_notebooks
    proc = subprocess.run([sys.executable, str(work / "scripts" / "build_book.py"), "--executed", str(executed)],
                          cwd=work, env=env, capture_output=True, text=True, timeout=1500)
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    html = work / "book" / "_build" / "html"
    for page in ("intro.html", "rerun.html", "references.html", "notebooks/datasets.html",
                 "notebooks/global_baseline.html", "notebooks/sun2016_affective_regions.html",
                 "notebooks/rcnngsr.html", "notebooks/wsidnet.html", "notebooks/multilevel_rcnn.html",
                 "notebooks/attr_attention.html",
                 "notebooks/scoreboard.html", "notebooks/regions_help.html",
                 "notebooks/own_data.html"):
        assert (html / page).is_file(), page
    check_pages(html)
    # the introduction states the pooled answer, pasted from the scoreboard (issue 31): the same sentence
    from vsalib import meta_analysis, scoreboard

    board = scoreboard.scoreboard()
    claims = meta_analysis.pooled_claims(board)
    answer = meta_analysis.answer(meta_analysis.pool(claims), claims)
    intro = (html / "intro.html").read_text(encoding="utf-8")
    assert answer.split(":")[0].replace("±", "&#177;") in intro or answer.split(":")[0] in intro, answer
    for chapter in REWRITTEN_CHAPTERS:  # the template every paper chapter follows (issue 12)
        text = (html / "notebooks" / f"{chapter}.html").read_text(encoding="utf-8")
        for section in CHAPTER_SECTIONS:
            assert f">{section}<" in text or f">{section}" in text, f"{chapter} has no section {section!r}"
    # the real Table 1 of every published Twitter I subset, with the numbers of the stored records
    from vsalib import chapters, real_benchmarks

    sun_page = (html / "notebooks/sun2016_affective_regions.html").read_text()
    for ds, sub in chapters.datasets("sun2016"):
        runs = chapters.chapter_runs("sun2016", ds, sub)
        if len(runs):
            for cell in real_benchmarks.sun2016_table1(runs, ds, sub)["ours %"]:
                assert cell.replace("±", "&#177;") in sun_page or cell in sun_page, (sub, cell)
    for page, n_min in (("notebooks/datasets.html", 2), ("notebooks/global_baseline.html", 2),
                        ("notebooks/sun2016_affective_regions.html", 2), ("notebooks/rcnngsr.html", 4),
                        ("notebooks/wsidnet.html", 3), ("notebooks/multilevel_rcnn.html", 4),
                        ("notebooks/attr_attention.html", 2)):
        text = (html / page).read_text()
        assert text.count("<img") >= n_min, f"{page} has fewer than {n_min} figures"
        assert "Traceback" not in text
    assert "Sun" in (html / "references.html").read_text()
    assert (html / "_static" / "mathjax" / "tex-chtml.js").is_file(), "MathJax must ship with the book (offline)"
    # a second build reuses the executed notebooks
    proc = subprocess.run([sys.executable, str(work / "scripts" / "build_book.py")], cwd=work, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "up to date" in proc.stdout


def test_the_datasets_page_loads_every_real_benchmark_found(tmp_path):
    """nbval runs the datasets chapter as the book's fresh clone does, without datasets (conftest.py); here it runs
    on the real benchmarks where they are present: it loads each one found, names its images, classes and protocol,
    and draws its class balance and sample images."""
    import papermill as pm

    from vsalib.data import is_available, list_datasets
    from vsalib.data.registry import dataset_spec

    # the published benchmarks only: a reader's own folders (the own-data chapter writes one under the data root
    # while the tests run) come and go
    real = [d for d in list_datasets() if dataset_spec(d).needs_files and not dataset_spec(d).own and is_available(d)]
    if not real:
        pytest.skip("no real benchmark under the data root (VSALIB_DATA or ../shared/datasets)")
    out = tmp_path / "datasets.ipynb"
    pm.execute_notebook(str(ROOT / "notebooks" / "datasets.ipynb"), str(out), cwd=str(ROOT / "notebooks"),
                        progress_bar=False)
    outputs = [o for c in json.loads(out.read_text())["cells"] for o in c.get("outputs", [])]
    printed = "".join("".join(o.get("text", "")) for o in outputs if o.get("output_type") == "stream")
    for name in real:
        assert f"{name}: " in printed and "images;" in printed and "protocol:" in printed, (name, printed[:2000])
    figures = sum("image/png" in o.get("data", {}) for o in outputs)
    assert figures >= 2 * len(real), f"{figures} figures for {len(real)} real datasets"
    assert "no real dataset found" not in printed
