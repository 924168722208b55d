"""Test-session settings: results and caches go to a temporary folder, never the repository's.

A user's own VSALIB_RESULTS / VSALIB_CACHE are left alone only when VSALIB_TEST_KEEP_ENV=1.

nbval (``--nbval-lax notebooks``) runs each notebook as a fresh clone runs it while the book is built: no dataset
reachable (``VSALIB_NO_DATASETS=1`` for its kernels), no progress bars. Each notebook whose cells all
passed is written with its outputs to ``$VSALIB_TEST_EXECUTED`` with the stamp ``scripts/build_book.py`` gives it, so
that the book test builds the book from these executions (``build_book.py --executed``) instead of executing every
notebook a second time. The real-data page of the datasets chapter has its own test
(``tests/test_notebooks_and_book.py``).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
_BASE: dict[str, Path] = {}
_CELLS: dict[str, dict] = {}  # notebook node id -> {"outputs": {cell position: outputs}, "ok": bool, "stamp": str}


def pytest_configure(config):
    base = Path(tempfile.mkdtemp(prefix="vsalib-tests-"))
    _BASE["executed"] = base / "executed"
    os.environ["VSALIB_TEST_EXECUTED"] = str(_BASE["executed"])
    if os.environ.get("VSALIB_TEST_KEEP_ENV") == "1":
        return
    os.environ["VSALIB_RESULTS"] = str(base / "results")
    os.environ["VSALIB_CACHE"] = str(base / "cache")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (``make test``: ``-n 2 --dist loadgroup``) every test file is one group, run by one worker
    (its module fixtures are built once), and the notebooks with the book test are one group: in order on one
    worker, so that the book is built from the notebooks' executions. Without xdist the marks change nothing."""
    for item in items:
        path = Path(str(item.fspath))
        book = path.suffix == ".ipynb" or path.name == "test_notebooks_and_book.py"
        item.add_marker(pytest.mark.xdist_group("book" if book else path.relative_to(ROOT).as_posix()))


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
    """After a notebook's last cell: write it with its outputs, if every code cell ran and passed."""
    if not _is_nbval_cell(item) or (nextitem is not None and nextitem.parent is item.parent):
        return
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
    name = Path(str(item.parent.fspath)).stem
    folder = _BASE["executed"]
    folder.mkdir(exist_ok=True)
    tmp = folder / f".{name}.tmp"
    nbformat.write(executed, str(tmp))
    os.replace(tmp, folder / f"{name}.ipynb")
    stamps_file = folder / ".stamps.json"
    stamps = json.loads(stamps_file.read_text()) if stamps_file.exists() else {}
    stamps[name] = nb["stamp"]
    stamps_file.write_text(json.dumps(stamps, indent=1))
