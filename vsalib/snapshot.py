"""The published snapshot as two Parquet tables: runs (one row per record) and predictions (one row per image).

Layout under the snapshot folder (``results/published/``)::

    runs/<dataset>/<family>/part-<publish>.parquet         one row per record
    predictions/<dataset>/<family>/part-<publish>.parquet  one row per test image of a record

``<family>`` is the method family that made the records (``provenance.method.family``: ``global``, ``sun2016``,
``multilevel``, ...) and ``<publish>`` the UTC time of the publish that wrote the part (``20261206T201500Z``), so
that a publish only ever adds files: a record published again lands in the new part, and the row of the latest
part is the one that counts (every reader here keeps it; the ``publish`` column lets any other reader do so).

**runs** holds the columns of :meth:`vsalib.results.ResultStore.load` but the per-image fields: ``key``,
``dataset``, ``subset``, ``protocol``, ``method``, ``seed``, ``fold``, ``params.*``, ``metrics.*``,
``wall_time_s``, ``vsalib_version``, ``created``, ``extra.*``, ``provenance.*`` (commit, clean tree, method
version, dataset fingerprint, run settings, machine), typed as they are; a column whose values are lists or
dicts (a training history, a grid) or of mixed types holds their JSON text, and the part's Parquet metadata
``vsalib.json_columns`` names those columns. Two bookkeeping columns: ``publish`` (the part's publish time)
and ``sha256`` (of the record's JSON, so that publishing an unchanged record writes nothing).

**predictions** is long: ``key`` (the record's), ``position`` (0, 1, ... in the record's test order),
``image_id`` (the dataset's own image id), ``test_index`` (the image's position in the dataset), ``label`` (the
true class) and ``predicted`` (the predicted class); a field that a record does not hold is null.

:func:`read` returns exactly the table that :meth:`ResultStore.load` gives for the same records (the per-image
fields as lists again, the same column order, rows in the order of their record files), with ``path`` naming
the part. Nothing here needs vsalib to be read: pandas, pyarrow or DuckDB read the parts as they are (the book's
page *Where the numbers come from* shows how).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vsalib.results import file_slug, flat_row, order_columns

RUNS, PREDICTIONS = "runs", "predictions"
#: A record's per-image fields (one scalar per test image each) and their columns in the predictions table.
PER_IMAGE_COLUMNS = {"test_ids": "image_id", "test_index": "test_index", "y_true": "label", "y_pred": "predicted"}
PER_IMAGE_FIELDS = tuple(PER_IMAGE_COLUMNS)
#: The part's Parquet metadata key that lists its JSON-encoded columns, and the bookkeeping columns of runs.
JSON_COLUMNS_KEY = b"vsalib.json_columns"
NONE_CELLS_KEY = b"vsalib.none_cells"
BOOKKEEPING = ("publish", "sha256")
COMPRESSION = "zstd"
COMPRESSION_LEVEL = 19
_PART = re.compile(r"^part-(\d{8}T\d{6}Z)(-\d+)?\.parquet$")


def _pa():
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pa, pq


def publish_id(now: datetime | None = None) -> str:
    """The id of a publish: its UTC time, ``YYYYMMDDTHHMMSSZ``."""
    return (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")


def record_json(record: dict) -> str:
    """A record's canonical JSON text (one line, its keys in their order), whose sha256 the runs table keeps."""
    return json.dumps(record, separators=(",", ":"), sort_keys=False, allow_nan=True)


def record_sha(record: dict) -> str:
    return hashlib.sha256(record_json(record).encode("utf-8")).hexdigest()


def family_of(record: dict) -> str:
    """The method family that made ``record`` (its folder in the snapshot): ``provenance.method.family``, else the
    method's name."""
    return str(((record.get("provenance") or {}).get("method") or {}).get("family") or record["method"])


def parts(root: str | os.PathLike, table: str = RUNS) -> list[Path]:
    """The Parquet parts of ``table`` under ``root``, oldest publish first."""
    base = Path(root) / table
    if not base.is_dir():
        return []
    found = [p for p in base.glob("*/*/part-*.parquet") if _PART.match(p.name)]
    return sorted(found, key=lambda p: (_PART.match(p.name).group(1), p.name, str(p)))


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _needs_json(values: Iterable[Any]) -> bool:
    """Whether a column's non-missing values need JSON text: lists or dicts, or more than one kind of scalar
    (numbers of both int and float are one kind: pandas holds them as floats)."""
    kinds = set()
    for v in values:
        if _missing(v):
            continue
        if isinstance(v, (list, dict)):
            return True
        kinds.add("number" if isinstance(v, (int, float)) and not isinstance(v, bool) else type(v).__name__)
    return len(kinds) > 1


def _runs_table(records: list[dict], publish: str):
    pa, _ = _pa()
    rows = []
    for d in records:
        row = flat_row(d, skip_extra=PER_IMAGE_FIELDS)
        row.update(publish=publish, sha256=record_sha(d))
        rows.append(row)
    df = pd.DataFrame(rows)
    json_cols = sorted(c for c in df.columns if df[c].dtype == object and _needs_json(df[c]))
    # A key a record lacks reads as NaN, a key it holds as None as None (ResultStore.load): Parquet has one null
    # for both, so the parts name the cells that held None.
    nones = {c: [i for i, v in enumerate(df[c]) if v is None] for c in df.columns if df[c].dtype == object}
    for c in json_cols:
        df[c] = [None if _missing(v) else json.dumps(v, separators=(",", ":"), allow_nan=True) for v in df[c]]
    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = {**(table.schema.metadata or {}), JSON_COLUMNS_KEY: json.dumps(json_cols).encode(),
            NONE_CELLS_KEY: json.dumps({c: rows for c, rows in nones.items() if rows}).encode()}
    return table.replace_schema_metadata(meta)


def _predictions_table(records: list[dict]):
    pa, _ = _pa()
    cols: dict[str, list] = {"key": [], "position": [], **{c: [] for c in PER_IMAGE_COLUMNS.values()}}
    for d in records:
        extra = d.get("extra") or {}
        fields = {f: extra[f] for f in PER_IMAGE_FIELDS if isinstance(extra.get(f), list)}
        n = max((len(v) for v in fields.values()), default=0)
        if not n:
            continue
        cols["key"] += [d["key"]] * n
        cols["position"] += list(range(n))
        for f, c in PER_IMAGE_COLUMNS.items():
            vals = fields.get(f)
            cols[c] += list(vals) if vals is not None else [None] * n
    types = {"key": pa.string(), "position": pa.int32(), "image_id": pa.string(), "test_index": pa.int64(),
             "label": pa.int64(), "predicted": pa.int64()}
    return pa.table({c: pa.array(v, type=types[c]) for c, v in cols.items()})


def write(records: list[dict], root: str | os.PathLike, publish: str | None = None) -> list[Path]:
    """Write ``records`` (record dicts, :meth:`Record.to_dict` form) as new parts of the snapshot at ``root``:
    one runs part and one predictions part per dataset × method family, each written to a temporary file and
    moved into place. Old parts are never touched. Returns the files written."""
    _, pq = _pa()
    publish = publish or publish_id()
    groups: dict[tuple[str, str], list[dict]] = {}
    for d in records:
        groups.setdefault((str(d["dataset"]), family_of(d)), []).append(d)
    written = []
    for (dataset, family), recs in sorted(groups.items()):
        for table, data in ((RUNS, _runs_table(recs, publish)), (PREDICTIONS, _predictions_table(recs))):
            if table == PREDICTIONS and not data.num_rows:
                continue
            folder = Path(root) / table / file_slug(dataset) / file_slug(family)
            folder.mkdir(parents=True, exist_ok=True)
            target, n = folder / f"part-{publish}.parquet", 1
            while target.exists():  # two publishes in one second: never overwrite a part
                target, n = folder / f"part-{publish}-{n}.parquet", n + 1
            tmp = folder / f".tmp-{target.name}"
            pq.write_table(data, tmp, compression=COMPRESSION, compression_level=COMPRESSION_LEVEL)
            os.replace(tmp, target)
            written.append(target)
    return written


def _read_runs_part(path: Path) -> pd.DataFrame:
    _, pq = _pa()
    table = pq.read_table(path)
    meta = table.schema.metadata or {}
    json_cols = json.loads(meta.get(JSON_COLUMNS_KEY, b"[]"))
    nones = json.loads(meta.get(NONE_CELLS_KEY, b"{}"))
    df = table.to_pandas()
    for c in json_cols:
        df[c] = [json.loads(v) if isinstance(v, str) else math.nan for v in df[c]]
    for c in df.columns[(df.dtypes == object).to_numpy()]:
        if c in json_cols:
            continue
        col = df[c].where(df[c].notna(), math.nan)  # a null is a key the record lacked ...
        if c in nones:  # ... but where it held None
            col = col.astype(object)
            col.iloc[nones[c]] = None
        df[c] = col
    df["path"] = str(path)
    return df


def _read_predictions(paths: list[Path], keep: dict[str, str]) -> dict[str, dict[str, list]]:
    """``{key: {per-image field: list}}`` from the predictions parts, each key from the part of the publish that
    ``keep`` names for it (the latest)."""
    _, pq = _pa()
    out: dict[str, dict[str, list]] = {}
    for path in paths:
        publish = _PART.match(path.name).group(1)
        t = pq.read_table(path)
        if not t.num_rows:
            continue
        codes = t.column("key").combine_chunks().dictionary_encode()
        idx = codes.indices.to_numpy()
        bounds = [0, *(np.flatnonzero(idx[1:] != idx[:-1]) + 1).tolist(), len(idx)]  # a record's rows are together
        keys = [codes.dictionary[int(idx[b])].as_py() for b in bounds[:-1]]
        wanted = [(k, a, b) for k, a, b in zip(keys, bounds[:-1], bounds[1:]) if keep.get(k) == publish]
        if not wanted:
            continue
        cols = {f: t.column(c).to_pylist() for f, c in PER_IMAGE_COLUMNS.items()}
        for key, a, b in wanted:
            fields = {}
            for f, vals in cols.items():
                chunk = vals[a:b]
                if any(v is not None for v in chunk):  # a field the record does not hold is null throughout
                    fields[f] = chunk
            out[key] = fields
    return out


def read(root: str | os.PathLike) -> pd.DataFrame:
    """The snapshot's records at ``root`` as :meth:`ResultStore.load` would give them (empty without parts):
    the latest part's row of each key, the per-image fields as lists, ``path`` the part's file."""
    runs = parts(root, RUNS)
    if not runs:
        return pd.DataFrame()
    every = pd.concat([_read_runs_part(p) for p in runs], ignore_index=True)
    every = every.infer_objects()  # as pandas types a column of all the records at once (ints and None: floats)
    df = every.drop_duplicates("key", keep="last")  # parts are read oldest first: a later publish supersedes
    if len(df) < len(every):  # a column that only superseded rows filled is not a column of these records
        gone = [c for c in df.columns if df[c].isna().all() and every[c].notna().any()]
        df = df.drop(columns=gone)
    keep = dict(zip(df["key"], df["publish"]))
    preds = _read_predictions(parts(root, PREDICTIONS), keep)
    keys = df["key"].tolist()
    for f in PER_IMAGE_FIELDS:
        if any(f in p for p in preds.values()):
            df[f"extra.{f}"] = [preds.get(k, {}).get(f, math.nan) for k in keys]
    slug = {v: file_slug(v) for v in {*df["dataset"].unique(), *df["method"].unique()}}
    names = [f"{slug[d]}-{slug[m]}-{k}.json" for d, m, k in zip(df["dataset"].tolist(), df["method"].tolist(), keys)]
    df = df.assign(_name=names).sort_values("_name", kind="stable").drop(columns=["_name", *BOOKKEEPING])
    return order_columns(df.reset_index(drop=True))


def shas(root: str | os.PathLike) -> dict[str, str]:
    """``{key: sha256 of the record}`` of the latest row of each key (what publishing compares against)."""
    _, pq = _pa()
    out: dict[str, str] = {}
    for p in parts(root, RUNS):
        t = pq.read_table(p, columns=["key", "sha256"])
        out.update(zip(t.column("key").to_pylist(), t.column("sha256").to_pylist()))
    return out


def size(root: str | os.PathLike) -> int:
    """Bytes of every part under ``root``."""
    return sum(p.stat().st_size for t in (RUNS, PREDICTIONS) for p in parts(root, t))


__all__ = ["BOOKKEEPING", "JSON_COLUMNS_KEY", "PER_IMAGE_COLUMNS", "PER_IMAGE_FIELDS", "PREDICTIONS", "RUNS",
           "family_of", "parts", "publish_id", "read", "record_json", "record_sha", "shas", "size", "write"]
