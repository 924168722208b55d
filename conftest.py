"""Test-session settings: results and caches go to a temporary folder, never the repository's.

A user's own VSALIB_RESULTS / VSALIB_CACHE are left alone only when VSALIB_TEST_KEEP_ENV=1.

nbval (``--nbval-lax notebooks``) runs each notebook as a fresh clone runs it while the book is built: no dataset
reachable (``VSALIB_NO_DATASETS=1`` for its kernels), no progress bars. Each notebook whose cells all
passed is written with its outputs to ``$VSALIB_TEST_EXECUTED`` with the stamp ``scripts/build_book.py`` gives it
(``.<name>.stamp``), so that the book test builds the book from these executions (``build_book.py --executed``)
instead of executing every notebook a second time. The real-data page of the datasets chapter has its own test
(``tests/test_notebooks_and_book.py``).
"""

from __future__ import annotations

import copy
import importlib.util
import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
_BASE: dict[str, Path] = {}
_CELLS: dict[str, dict] = {}  # notebook node id -> {"outputs": {cell position: outputs}, "ok": bool, "stamp": str}


#: Set by the first pytest process of a run (the controller, under pytest-xdist): its workers share its folders.
_SESSION_ENV = "VSALIB_TEST_SESSION"


def pytest_configure(config):
    """One temporary base per test run, shared by pytest-xdist's workers (they inherit the controller's
    environment): the results store and caches (the notebooks' chapters reuse each other's trained models, as the
    book build does) and the folder of executed notebooks."""
    if os.environ.get(_SESSION_ENV) and os.environ.get("PYTEST_XDIST_WORKER"):
        base = Path(os.environ[_SESSION_ENV])
    else:
        base = Path(tempfile.mkdtemp(prefix="vsalib-tests-"))
        os.environ[_SESSION_ENV] = str(base)
    _BASE["executed"] = base / "executed"
    os.environ["VSALIB_TEST_EXECUTED"] = str(_BASE["executed"])
    if os.environ.get("VSALIB_TEST_KEEP_ENV") == "1":
        return
    os.environ["VSALIB_RESULTS"] = str(base / "results")
    os.environ["VSALIB_CACHE"] = str(base / "cache")


#: The test file that builds the book from the notebooks' executions (it waits for them: :func:`wait_for_notebooks`).
BOOK_TEST = "test_notebooks_and_book.py"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (``make test``: ``-n 2 --dist loadgroup``) every test file is one group, run by one worker
    (its module fixtures are built once), and each notebook is one group (its cells in order, in one kernel), the
    notebooks taken in turns by two groups ``notebooks-0`` and ``notebooks-1`` so that both workers execute
    notebooks from the start; the book test, in the first, waits for the others' executions. Without xdist the
    marks change nothing."""
    notebooks = sorted({str(item.fspath) for item in items if Path(str(item.fspath)).suffix == ".ipynb"})
    turn = {nb: f"notebooks-{i % 2}" for i, nb in enumerate(notebooks)}
    for item in items:
        path = Path(str(item.fspath))
        if str(path) in turn:
            group = turn[str(path)]
        elif path.name == BOOK_TEST:
            group = "notebooks-0"
        else:
            group = path.relative_to(ROOT).as_posix()
        item.add_marker(pytest.mark.xdist_group(group))


def nbval_notebooks(session) -> list[str]:
    """The names of the notebooks nbval runs in this session (none when the notebooks were not asked for)."""
    return sorted({Path(str(i.parent.fspath)).stem for i in session.items if _is_nbval_cell(i)})


@pytest.fixture
def executed_notebooks(request) -> Path:
    """The folder of this run's executed notebooks, after every notebook nbval runs here has ended."""
    return wait_for_notebooks(request.session)


def wait_for_notebooks(session, timeout: float = 1800.0) -> Path:
    """The folder of executed notebooks, once every notebook nbval runs in this session has ended (on any worker):
    written there with its stamp where all its cells passed, marked ended otherwise."""
    import time

    folder = _BASE["executed"]
    names = nbval_notebooks(session)
    deadline = time.monotonic() + timeout
    while any(not (folder / f".{n}.ended").exists() for n in names) and time.monotonic() < deadline:
        time.sleep(2)
    return folder


def _is_nbval_cell(item) -> bool:
    return type(item).__name__ == "IPyNbCell" and hasattr(item.parent, "nb")


def _build_book_module():
    spec = importlib.util.spec_from_file_location("_vsalib_build_book", ROOT / "scripts" / "build_book.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    """A notebook's kernel starts in the setup of its first cell: it inherits the environment of a book build on a
    fresh clone, and the notebook's stamp is taken under that same environment."""
    if not (_is_nbval_cell(item) and item.parent.kernel is None):
        yield
        return
    saved = {k: os.environ.get(k) for k in ("VSALIB_NO_DATASETS", "TQDM_DISABLE")}
    os.environ.update(VSALIB_NO_DATASETS="1", TQDM_DISABLE="1")
    try:
        stamp = _build_book_module().source_stamp(Path(str(item.parent.fspath)).stem)
    except Exception:  # noqa: BLE001 - a notebook outside the book: nothing to reuse
        stamp = None
    _CELLS[item.parent.nodeid] = {"outputs": {}, "ok": stamp is not None, "stamp": stamp}
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if call.when != "call" or not _is_nbval_cell(item) or item.parent.nodeid not in _CELLS:
        return
    nb = _CELLS[item.parent.nodeid]
    if outcome.get_result().passed:
        nb["outputs"][id(item.cell)] = copy.deepcopy(getattr(item, "test_outputs", []))
    else:
        nb["ok"] = False


def pytest_runtest_teardown(item, nextitem):
    """After a notebook's last cell: write it with its outputs, if every code cell ran and passed; in any case mark
    it ended (the book test waits for that)."""
    if not _is_nbval_cell(item) or (nextitem is not None and nextitem.parent is item.parent):
        return
    name = Path(str(item.parent.fspath)).stem
    folder = _BASE["executed"]
    folder.mkdir(exist_ok=True)
    try:
        _write_executed(item, name, folder)
    finally:
        (folder / f".{name}.ended").touch()


def _write_executed(item, name: str, folder: Path) -> None:
    nb = _CELLS.pop(item.parent.nodeid, None)
    if nb is None or not nb["ok"]:
        return
    import nbformat

    source = item.parent.nb
    executed = copy.deepcopy(source)
    count = 0
    for cell, new in zip(source.cells, executed.cells):
        if cell.cell_type != "code":
            continue
        if id(cell) not in nb["outputs"]:
            return  # a cell was skipped: the book build executes this notebook itself
        count += 1
        new.outputs = [nbformat.from_dict(o) for o in nb["outputs"][id(cell)]]
        new.execution_count = count
    tmp = folder / f".{name}.tmp"
    nbformat.write(executed, str(tmp))
    os.replace(tmp, folder / f"{name}.ipynb")
    stamp = folder / f".{name}.stamp"  # one file per notebook: workers write theirs at the same time
    stamp.write_text(nb["stamp"])
