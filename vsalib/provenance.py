"""Provenance of a result record: which code, data, machine and settings produced it.

Every record the :class:`~vsalib.results.ResultStore` writes is stamped with a ``provenance``
dict (:func:`stamp`), so that a number in the book can be traced to the run that made it and two
runs on different copies of a dataset, or by different versions of a method, can be told apart:

- ``code``: the git commit of the repository and whether its tree had uncommitted changes;
- ``method``: the method family of the record (``sun2016`` for ``sun2016-lf``), its declared
  version and the versions of the methods it builds on (:func:`declare_method`);
- ``dataset``: a fingerprint of the dataset the run read (:func:`dataset_fingerprint`: number of
  images, hash of the file list, hash of the labels), noted when ``load_dataset`` loaded it;
- ``run``: the profile and backbone, with the source of the backbone's weights;
- ``machine``: torch / torchvision / numpy / Python versions, CPU, GPU, threads, host OS;
- ``date``: when the record was written (UTC).

A method declares a version that changes whenever a change to it would change its numbers
(``declare_method("sun2016", 1, changes={1: "..."})``); the registered method class carries it as ``version``
(:func:`vsalib.methods.base.register_method` checks it), and this module knows the versions of the families whose
modules are imported (it imports no method: a caller that needs every family imports them first,
:func:`vsalib.methods.import_all`). The chapters mark rows made by an older version and say what changed, and
``tests/test_method_versions.py`` fails when a method's numbers change while its version does not.
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

# datasets are fingerprinted where they are loaded and noted there; the stamp reads the note
from vsalib.data.fingerprint import dataset_fingerprint, image_ids, note_dataset, noted_dataset  # noqa: F401

_REPO_ROOT = Path(__file__).resolve().parents[1]

#: The keys every published record's provenance must have (checked by the tests).
REQUIRED = ("code", "method", "dataset", "run", "machine", "date")


# -- methods and their versions ------------------------------------------------------------------
@dataclass(frozen=True)
class MethodVersion:
    """A method family's version, what changed at each version, and the families it builds on."""

    family: str
    version: int
    changes: dict[int, str] = field(default_factory=dict)
    depends: tuple[str, ...] = ()


_METHODS: dict[str, MethodVersion] = {}


def declare_method(family: str, version: int, *, changes: dict[int, str] | None = None,
                   depends: tuple[str, ...] = ()) -> MethodVersion:
    """Declare the current version of a method family (records ``<family>-…`` belong to it).

    ``changes`` maps each version to one sentence on what changed in the numbers at that version.
    """
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"method {family!r}: version must be an int >= 1, got {version!r}")
    changes = dict(changes or {})
    if version not in changes:
        raise ValueError(f"method {family!r}: say what version {version} changed (changes={{{version}: ...}})")
    mv = MethodVersion(family, version, changes, tuple(depends))
    _METHODS[family] = mv
    return mv


def method_family(method: str) -> str:
    """The family of a record's method name: the part before the first ``-``."""
    return method.split("-", 1)[0]


def method_version(method: str) -> MethodVersion | None:
    """The declared version of the family of ``method`` (None if no imported module declared it)."""
    return _METHODS.get(method_family(method))


def declared_methods() -> dict[str, MethodVersion]:
    """The families declared so far (by the imported method modules), by name."""
    return dict(_METHODS)


def method_stamp(method: str) -> dict[str, Any]:
    """``{"family", "version", "depends": {family: version}}`` for a record's method name."""
    mv = method_version(method)
    if mv is None:
        return {"family": method_family(method), "version": None, "depends": {}}
    return {"family": mv.family, "version": mv.version,
            "depends": {d: _METHODS[d].version for d in mv.depends if d in _METHODS}}


def staleness(prov: dict[str, Any]) -> str | None:
    """Why a record made with ``prov`` is older than the current code, or None if it is current.

    Names each family (the method's own or one it builds on) whose version moved on since, with
    what changed in between.
    """
    m = (prov or {}).get("method") or {}
    if not m:
        return "made before method versions were recorded"
    reasons = []
    for fam, ver in [(m.get("family"), m.get("version")), *(m.get("depends") or {}).items()]:
        cur = _METHODS.get(fam)
        if cur is None or ver is None or ver >= cur.version:
            continue
        what = "; ".join(f"v{v}: {cur.changes[v]}" for v in sorted(cur.changes) if ver < v <= cur.version)
        reasons.append(f"{fam} v{ver} → v{cur.version} ({what})")
    return "; ".join(reasons) or None


# -- code ------------------------------------------------------------------------------------------
_CODE_CACHE: dict[str, Any] = {}


#: The folders whose untracked files make a run's code differ from its commit.
CODE_DIRS = ("vsalib", "notebooks", "scripts")


def code_version(root: Path = _REPO_ROOT, max_age_s: float = 30.0) -> dict[str, Any]:
    """``{"commit", "dirty"}`` of the git checkout holding vsalib (None outside a checkout).

    ``dirty`` is True when tracked files differ from the commit, or when the code's folders (:data:`CODE_DIRS`) hold
    files that git neither tracks nor ignores (a new module is code the commit does not hold). Cached for
    ``max_age_s``.
    """
    now = time.monotonic()
    if _CODE_CACHE and now - _CODE_CACHE["t"] < max_age_s:
        return dict(_CODE_CACHE["v"])

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    new_code = git("ls-files", "--others", "--exclude-standard", "--", *CODE_DIRS) if commit else None
    v = {"commit": commit, "dirty": None if status is None or new_code is None else bool(status or new_code)}
    _CODE_CACHE.update(t=now, v=v)
    return dict(v)


def source_stamp() -> str:
    """sha1 of vsalib's own files (its ``.py`` modules and the ``.csv`` tables it ships, names and bytes): what a
    result computed from the code alone (the scoreboard from the snapshot) depends on. A few milliseconds."""
    import hashlib

    pkg = _REPO_ROOT / "vsalib"
    h = hashlib.sha1()
    for f in sorted([*pkg.rglob("*.py"), *pkg.rglob("*.csv")]):
        h.update(f.relative_to(pkg).as_posix().encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


# -- machine ----------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """Library versions, CPU, GPU (or None), threads and OS of this process."""
    import numpy
    import torch
    import torchvision

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "torch": torch.__version__, "torchvision": torchvision.__version__, "numpy": numpy.__version__,
        "python": platform.python_version(), "cpu": _cpu_name(), "cpu_count": os.cpu_count(),
        "gpu": gpu, "threads": torch.get_num_threads(), "os": f"{platform.system()} {platform.release()}",
    }


# -- run context ------------------------------------------------------------------------------------
_RUN: dict[str, Any] = {}


def set_run(**context: Any) -> None:
    """Set what this process runs (``profile``, ``backbone``, ``weights``, ...); None values drop a key."""
    for k, v in context.items():
        if v is None:
            _RUN.pop(k, None)
        else:
            _RUN[k] = v


def run_context() -> dict[str, Any]:
    return dict(_RUN)


def _weights_source(backbone: str | None) -> str | None:
    if not backbone:
        return None
    try:
        from vsalib.backbones import backbone_weights

        return backbone_weights(backbone)
    except Exception:  # noqa: BLE001 - a name we cannot resolve has no known source
        return None


# -- the stamp --------------------------------------------------------------------------------------
def stamp(record) -> dict[str, Any]:
    """The provenance of ``record``, written now; also adds ``extra['test_ids']`` when the record
    carries ``extra['test_index']`` into a dataset noted in this process."""
    run = run_context()
    backbone = run.get("backbone") or (record.params or {}).get("backbone")
    run.setdefault("profile", None)
    run["backbone"] = backbone
    run.setdefault("weights", _weights_source(backbone))
    noted = noted_dataset(record.dataset, record.subset)
    if noted is not None and "test_index" in record.extra and "test_ids" not in record.extra:
        idx = [int(i) for i in record.extra["test_index"]]
        if idx and max(idx) < len(noted.ids):
            record.extra["test_ids"] = [noted.ids[i] for i in idx]
    return {
        "code": code_version(),
        "method": method_stamp(record.method),
        "dataset": noted.fingerprint if noted is not None else None,
        "run": run,
        "machine": machine(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def missing(prov: dict[str, Any] | None) -> list[str]:
    """The required provenance entries that ``prov`` lacks or leaves empty (for published records)."""
    prov = prov or {}
    out = [k for k in REQUIRED if not prov.get(k)]
    if prov.get("code") and not prov["code"].get("commit"):
        out.append("code.commit")
    if prov.get("method") and prov["method"].get("version") is None:
        out.append("method.version")
    if prov.get("run"):
        out += [f"run.{k}" for k in ("profile", "backbone", "weights") if not prov["run"].get(k)]
    if prov.get("dataset"):
        out += [f"dataset.{k}" for k in ("fingerprint", "n_images") if not prov["dataset"].get(k)]
    return out
