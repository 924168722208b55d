"""Results store: one JSON file per experiment run, written atomically, loaded as a table.

An experiment run is identified by ``(dataset, subset, protocol, method, params, seed,
fold)``; its file name carries a stable hash of that identity, so running the same
experiment again *replaces* its record instead of adding a second one, and
``has``/``get`` let a driver skip runs that are already done (resume)::

    store = ResultStore()                      # $VSALIB_RESULTS or <repo>/results
    ident = dict(dataset="twitter1", subset="five", protocol="kfold5",
                 method="sun2016", params={"K": 8}, seed=0, fold=2)
    if not store.has(**ident):
        acc = ...
        store.add(Record(**ident, metrics={"accuracy": acc}, wall_time_s=12.3))
    df = store.load(dataset="twitter1")        # params.* and metrics.* as columns

Files are written to a temporary file in the same folder, fsync'ed, then moved into
place with ``os.replace``: a crash leaves either the old record or the new one, never a
partial file. ``load`` skips unreadable files with a warning naming them. A writer killed
mid-write leaves its temporary file (``.tmp-*.json``, empty or partial): readers never see
it (:meth:`ResultStore.files` lists records only), and the next write removes those older
than :data:`STALE_TEMP_SECONDS` (younger ones may belong to a writer running now: several
processes write one store at once).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from vsalib import __version__

RESULTS_ENV = "VSALIB_RESULTS"
_REPO_ROOT = Path(__file__).resolve().parents[1]

#: The temporary files of unfinished writes: ``<TEMP_PREFIX>*<TEMP_SUFFIX>`` in the store's folder.
TEMP_PREFIX, TEMP_SUFFIX = ".tmp-", ".json"
#: A temporary file older than this (seconds since its last change) is a killed writer's leftover, removed by the
#: next write; a write takes well under a second, so an hour leaves any live writer alone.
STALE_TEMP_SECONDS = 3600.0

#: The fields that identify a run (hashed into its file name).
IDENTITY_FIELDS: tuple[str, ...] = ("dataset", "subset", "protocol", "method", "params", "seed", "fold")


def default_results_dir() -> Path:
    """``$VSALIB_RESULTS`` if set, else ``<repo>/results`` (gitignored)."""
    env = os.environ.get(RESULTS_ENV)
    return Path(env).expanduser() if env else _REPO_ROOT / "results"


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _jsonable(obj: Any) -> Any:
    """Plain JSON types from numpy scalars/arrays, torch tensors, tuples, sets, paths."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return sorted((_jsonable(v) for v in obj), key=repr)
    if isinstance(obj, (str, bool, int, float)) or obj is None:
        return obj
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if hasattr(obj, "tolist"):  # numpy scalar or array, torch tensor
        return _jsonable(obj.tolist())
    if hasattr(obj, "item"):
        return _jsonable(obj.item())
    raise TypeError(f"cannot store a value of type {type(obj).__name__} in a record: {obj!r}")


def _canonical(obj: Any) -> Any:
    """Hash form: integral floats as ints (``lr=1`` and ``lr=1.0`` are the same run)."""
    if isinstance(obj, dict):
        return {k: _canonical(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_canonical(v) for v in obj]
    if isinstance(obj, float) and math.isfinite(obj) and obj.is_integer():
        return int(obj)
    return obj


def experiment_key(
    dataset: str,
    subset: str | None,
    protocol: str,
    method: str,
    params: dict | None,
    seed: int | None,
    fold: int | None,
) -> str:
    """Stable 20-hex-digit hash of a run's identity (sha256 of its canonical JSON).

    Independent of dict order, of int vs integral float (1 == 1.0) and of tuple vs list.
    """
    ident = _canonical(
        _jsonable(
            {
                "dataset": dataset,
                "subset": subset,
                "protocol": protocol,
                "method": method,
                "params": params or {},
                "seed": seed,
                "fold": fold,
            }
        )
    )
    text = json.dumps(ident, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


@dataclass(kw_only=True)
class Record:
    """One experiment run and its outcome.

    Identity (hashed into the file name): ``dataset``, ``subset`` (e.g. Twitter I's
    agreement subset, or None), ``protocol`` (split scheme, e.g. ``"kfold5"``),
    ``method``, ``params`` (every setting that changes the result), ``seed``, ``fold``
    (None for a single split). Outcome: ``metrics`` (e.g. ``{"accuracy": 0.87}``,
    fractions), ``wall_time_s``; provenance: ``vsalib_version``, ``created`` (ISO 8601,
    UTC); ``extra``: anything else (device, notes, per-class numbers, per-image predictions);
    ``provenance``: code, method version, dataset fingerprint, run settings and machine
    (:mod:`vsalib.provenance`), filled in by :meth:`ResultStore.add` when left empty.
    """

    dataset: str
    subset: str | None = None
    protocol: str
    method: str
    params: dict[str, Any] = field(default_factory=dict)
    seed: int | None = 0
    fold: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    wall_time_s: float | None = None
    vsalib_version: str = __version__
    created: str = field(default_factory=_now_iso)
    extra: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("dataset", "protocol", "method"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"Record.{name} must be a non-empty string, got {value!r}")
        if self.subset is not None and not isinstance(self.subset, str):
            raise ValueError(f"Record.subset must be a string or None, got {self.subset!r}")
        for name in ("params", "metrics", "extra", "provenance"):
            if not isinstance(getattr(self, name), dict):
                raise ValueError(f"Record.{name} must be a dict, got {getattr(self, name)!r}")

    @property
    def key(self) -> str:
        return experiment_key(**self.identity())

    def identity(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in IDENTITY_FIELDS}

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, **_jsonable(dataclasses.asdict(self))}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Record:
        d = {k: v for k, v in d.items() if k != "key"}
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown record fields {unknown}")
        return cls(**d)


def file_slug(text: Any) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", str(text)).strip("-.")
    return s[:40] or "x"


class ResultStore:
    """A folder of records, one ``<dataset>-<method>-<hash>.json`` file per run.

    ``path`` defaults to ``default_results_dir()``; the folder is created on first write.
    """

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path).expanduser() if path is not None else default_results_dir()

    def __repr__(self) -> str:
        return f"ResultStore({str(self.path)!r})"

    # -- locating ---------------------------------------------------------------
    def path_for(
        self,
        *,
        dataset: str,
        protocol: str,
        method: str,
        params: dict | None = None,
        seed: int | None = 0,
        fold: int | None = None,
        subset: str | None = None,
    ) -> Path:
        """The file that holds (or would hold) the record of this run."""
        key = experiment_key(dataset, subset, protocol, method, params, seed, fold)
        return self.path / f"{file_slug(dataset)}-{file_slug(method)}-{key}.json"

    # -- writing ----------------------------------------------------------------
    def add(self, record: Record) -> Path:
        """Write ``record`` atomically; a record of the same run is replaced. Returns its path.

        A record without provenance is stamped now (:func:`vsalib.provenance.stamp`).
        """
        if not isinstance(record, Record):
            raise TypeError(f"add() takes a Record, got {type(record).__name__}")
        if not record.provenance:
            from vsalib import provenance

            record.provenance = provenance.stamp(record)
        target = self.path_for(**record.identity())
        text = json.dumps(record.to_dict(), indent=1, sort_keys=False, allow_nan=True)
        self.path.mkdir(parents=True, exist_ok=True)
        self.remove_stale_temporaries()
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        self._fsync_dir()
        return target

    def temporaries(self) -> list[Path]:
        """Temporary files of writes in progress or killed (``.tmp-*.json``), sorted."""
        if not self.path.is_dir():
            return []
        return sorted(self.path.glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}"))

    def remove_stale_temporaries(self, older_than: float = STALE_TEMP_SECONDS) -> list[Path]:
        """Remove the temporary files last changed more than ``older_than`` seconds ago (killed writers'
        leftovers); younger ones may be a write in progress and stay. Returns the files removed. Best effort:
        a file another process removes first, or one that cannot be removed, is left to it."""
        now, removed = time.time(), []
        for p in self.temporaries():
            try:
                if now - p.stat().st_mtime > older_than:
                    p.unlink()
                    removed.append(p)
            except OSError:  # gone already (another writer cleaned it), or not ours to remove
                continue
        return removed

    def _fsync_dir(self) -> None:
        # Make the rename itself durable (POSIX); not possible everywhere, so best effort.
        try:
            dfd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(dfd)
        except OSError:
            pass
        finally:
            os.close(dfd)

    # -- reading ----------------------------------------------------------------
    @staticmethod
    def _read(path: Path) -> Record:
        with open(path, encoding="utf-8") as fh:
            return Record.from_dict(json.load(fh))

    def _try_read(self, path: Path) -> Record | None:
        try:
            return self._read(path)
        except (OSError, ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
            warnings.warn(f"skipping unreadable result file {path}: {exc}", RuntimeWarning, stacklevel=3)
            return None

    def get(
        self,
        *,
        dataset: str,
        protocol: str,
        method: str,
        params: dict | None = None,
        seed: int | None = 0,
        fold: int | None = None,
        subset: str | None = None,
    ) -> Record | None:
        """The stored record of this run, or None (also, with a warning, if its file is corrupt)."""
        p = self.path_for(
            dataset=dataset, protocol=protocol, method=method, params=params,
            seed=seed, fold=fold, subset=subset,
        )
        if not p.exists():
            return None
        return self._try_read(p)

    def has(self, **identity: Any) -> bool:
        """Whether a readable record of this run exists (same keywords as ``get``)."""
        return self.get(**identity) is not None

    def files(self) -> list[Path]:
        """Record files, sorted (temporary files of unfinished writes excluded)."""
        if not self.path.is_dir():
            return []
        return sorted(p for p in self.path.glob("*.json") if not p.name.startswith("."))

    def records(self) -> Iterator[Record]:
        """Every readable record; unreadable files are skipped with a warning."""
        for p in self.files():
            rec = self._try_read(p)
            if rec is not None:
                yield rec

    def __len__(self) -> int:
        return len(self.files())

    def load(self, **filters: Any) -> pd.DataFrame:
        """All records as a DataFrame, one row per run.

        Columns: ``key``, ``dataset``, ``subset``, ``protocol``, ``method``, ``seed``,
        ``fold``, then ``params.<name>`` and ``metrics.<name>`` (nested dicts flattened with
        dots), ``wall_time_s``, ``vsalib_version``, ``created``, ``extra.<name>``,
        ``provenance.<name>``, ``path``.

        ``filters``: column = value keeps rows equal to value; a list/tuple/set keeps rows
        whose value is among them; None keeps rows where the column is missing. Flattened
        columns are reached with ``**{"params.K": 8}``. A filter on a column no record
        has raises ``KeyError``.
        """
        rows = []
        for p in self.files():
            rec = self._try_read(p)
            if rec is None:
                continue
            row = flat_row(rec.to_dict())
            row["path"] = str(p)
            rows.append(row)
        df = order_columns(pd.DataFrame(rows)) if rows else pd.DataFrame(columns=[*FRAME_IDENTITY, *FRAME_TAIL, "path"])
        return filter_frame(df, filters)


#: The first and the last plain columns of a table of records (between them: params, metrics; after: extra,
#: provenance, path).
FRAME_IDENTITY = ["key", "dataset", "subset", "protocol", "method", "seed", "fold"]
FRAME_TAIL = ["wall_time_s", "vsalib_version", "created"]
FLAT_GROUPS = ("params", "metrics", "extra", "provenance")


def flat_row(d: dict[str, Any], skip_extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """One record (its :meth:`Record.to_dict` form) as one table row: identity, then ``params.*``, ``metrics.*``,
    ``extra.*`` (without the ``skip_extra`` fields) and ``provenance.*``, nested dicts flattened with dots."""
    row = {k: d[k] for k in ("key", *[f for f in IDENTITY_FIELDS if f != "params"])}
    row.update(_flatten(d.get("params") or {}, "params"))
    row.update(_flatten(d.get("metrics") or {}, "metrics"))
    row.update({k: d.get(k) for k in FRAME_TAIL})
    row.update(_flatten({k: v for k, v in (d.get("extra") or {}).items() if k not in skip_extra}, "extra"))
    row.update(_flatten(d.get("provenance") or {}, "provenance"))
    return row


def order_columns(df: pd.DataFrame) -> pd.DataFrame:
    """The columns in the order :meth:`ResultStore.load` gives them: identity, ``params.*`` and ``metrics.*``
    (sorted), wall time, version and date, ``extra.*`` and ``provenance.*`` (sorted), ``path``."""
    flat = {pre: sorted(c for c in df.columns if c.startswith(pre + ".")) for pre in FLAT_GROUPS}
    return df[[*FRAME_IDENTITY, *flat["params"], *flat["metrics"], *FRAME_TAIL, *flat["extra"], *flat["provenance"],
               *(["path"] if "path" in df.columns else [])]]


def filter_frame(df: pd.DataFrame, filters: dict[str, Any]) -> pd.DataFrame:
    """The rows of ``df`` that match ``filters`` (as :meth:`ResultStore.load` takes them), index reset."""
    rows = len(df)
    for name, value in filters.items():
        if name not in df.columns:
            if not rows:
                continue
            raise KeyError(f"no column {name!r} to filter on; columns: {list(df.columns)}")
        col = df[name]
        if value is None:
            mask = col.isna()
        elif isinstance(value, (list, tuple, set, frozenset)):
            mask = col.isin(list(value))
        else:
            mask = col == value
        df = df[mask.fillna(False).astype(bool)]
    return df.reset_index(drop=True)


def latest_runs(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """One row per ``by`` group (e.g. a fold of a method): the most recently created record.

    Records of the same fold made with earlier settings are superseded by the latest run.
    """
    if not len(df):
        return df
    return df.sort_values("created").drop_duplicates(by, keep="last")


def _flatten(d: dict[str, Any], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        name = f"{prefix}.{k}"
        if isinstance(v, dict) and v:
            out.update(_flatten(v, name))
        else:
            out[name] = v
    return out
