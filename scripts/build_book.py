"""`make book`: execute the chapter notebooks with papermill, then build the Jupyter Book (1.x).

Each notebook in notebooks/ that book/_toc.yml lists is executed with its default parameters (the
`quick` profile) into book/notebooks/, unless it was already executed from the same notebook, the
same vsalib sources and the same available datasets (`--force` re-executes). The book is built by
jupyter-book with warnings treated as errors; the HTML lands in book/_build/html.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
EXECUTED = BOOK / "notebooks"
STAMPS = EXECUTED / ".stamps.json"


def chapters() -> list[str]:
    """Notebook names the table of contents lists as ``notebooks/<name>``."""
    import yaml

    toc = yaml.safe_load((BOOK / "_toc.yml").read_text())
    files = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("file"), str):
                files.append(node["file"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(toc)
    return [f.split("/", 1)[1] for f in files if f.startswith("notebooks/")]


def source_stamp(name: str) -> str:
    """What an executed notebook depends on: its own bytes, vsalib's sources (:func:`vsalib.provenance.source_stamp`),
    the published snapshot the chapters read (:func:`vsalib.published.content_stamp`) and which datasets are here."""
    sys.path.insert(0, str(ROOT))
    from vsalib import provenance, published
    from vsalib.data import is_available, list_datasets

    h = hashlib.sha1((ROOT / "notebooks" / f"{name}.ipynb").read_bytes())
    h.update(provenance.source_stamp().encode() + published.content_stamp().encode())
    h.update(json.dumps({d: is_available(d) for d in list_datasets()}, sort_keys=True).encode())
    return h.hexdigest()


def execute(name: str, force: bool, executed: Path | None = None) -> float:
    """Execute one notebook into book/notebooks/, unless its stamp is unchanged; with ``executed``, a folder of
    notebooks already executed (``<name>.ipynb`` beside its stamp ``.<name>.stamp``: the test run's nbval writes
    one, see conftest.py), one whose stamp matches is taken from there instead."""
    import papermill as pm

    stamps = json.loads(STAMPS.read_text()) if STAMPS.exists() else {}
    stamp = source_stamp(name)
    out = EXECUTED / f"{name}.ipynb"
    if not force and out.exists() and stamps.get(name) == stamp:
        print(f"  {name}: up to date")
        return 0.0
    t0 = time.perf_counter()
    tmp = out.with_suffix(".tmp.ipynb")
    theirs = executed / f"{name}.ipynb" if executed is not None else None
    their_stamp = executed / f".{name}.stamp" if executed is not None else None
    if not force and theirs is not None and theirs.exists() and their_stamp.exists() \
            and their_stamp.read_text() == stamp:
        shutil.copyfile(theirs, tmp)
        how = f"taken from {executed.name}/ (executed under the same stamp)"
    else:
        pm.execute_notebook(str(ROOT / "notebooks" / f"{name}.ipynb"), str(tmp), cwd=str(ROOT / "notebooks"),
                            progress_bar=False, log_output=False)
        how = "executed"
    os.replace(tmp, out)
    stamps[name] = stamp
    STAMPS.write_text(json.dumps(stamps, indent=1))
    dt = time.perf_counter() - t0
    print(f"  {name}: {how} in {dt:.0f} s")
    return dt


def main(argv=None) -> int:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # kernels inherit it (see vsalib/__init__.py)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--force", action="store_true", help="re-execute every notebook")
    ap.add_argument("--no-execute", action="store_true", help="build from the notebooks already executed")
    ap.add_argument("--executed", type=Path, default=None, metavar="DIR",
                    help="take each notebook executed under the same stamp from DIR (NAME.ipynb beside .NAME.stamp) "
                         "instead of executing it again")
    args = ap.parse_args(argv)
    os.environ.setdefault("TQDM_DISABLE", "1")  # progress bars stay out of the book's pages
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"  # figures inline in the pages
    EXECUTED.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if not args.no_execute:
        print("executing notebooks (quick profile):")
        for name in chapters():
            execute(name, args.force, args.executed)
    t1 = time.perf_counter()
    cmd = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(BOOK), "--config", str(ROOT / "_config.yml"),
           "--toc", str(BOOK / "_toc.yml"), "-W", "--keep-going", "--builder", "html", "--path-output", str(BOOK)]
    print("building:", " ".join(cmd[1:]))
    rc = subprocess.call(cmd, cwd=ROOT)
    t2 = time.perf_counter()
    print(f"notebooks {t1 - t0:.0f} s, jupyter-book {t2 - t1:.0f} s; book at {BOOK / '_build' / 'html' / 'index.html'}")
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
