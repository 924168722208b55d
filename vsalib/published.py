"""The published snapshot: the committed records of the real-data runs that the book shows.

``results/published/`` holds the records of the real-data runs as two Parquet tables, runs and predictions,
in parts that each publish adds (:mod:`vsalib.snapshot` describes the layout and the schema), written from a
working store by ``make publish`` (:func:`publish`). It holds results only: metrics, parameters, per-image
predictions keyed by the dataset's own image ids, and each record's provenance; never images, features or
anything an image could be rebuilt from (:func:`check`).
Every chapter's section "On the real benchmarks" and the scoreboard read it, so a clone without
the datasets shows the study's findings.

This module reads it (:func:`load`), selects one dataset's runs of one profile (:func:`runs_of`,
:func:`profile_runs`, :func:`base_keys`; which of them a chapter reads is the chapter's own hook,
:func:`vsalib.chapters.chapter_runs`), says where they come from (:func:`provenance_line`) and which of them an
older version of their method made (:func:`stale_methods`).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from vsalib import provenance, snapshot
from vsalib.report import BACKBONE_NAMES, backbone_name  # noqa: F401  (re-exported: where they lived first)
from vsalib.results import FRAME_IDENTITY, FRAME_TAIL, ResultStore, filter_frame, latest_runs, order_columns

_REPO_ROOT = Path(__file__).resolve().parents[1]
PUBLISHED_DIR = _REPO_ROOT / "results" / "published"
#: Another snapshot folder (e.g. a reader's own runs, or a fixture) instead of the committed one.
PUBLISHED_ENV = "VSALIB_PUBLISHED"


def published_dir() -> Path:
    """``$VSALIB_PUBLISHED`` if set, else the committed ``results/published``."""
    env = os.environ.get(PUBLISHED_ENV)
    return Path(env).expanduser() if env else PUBLISHED_DIR

#: The snapshot's size limit (bytes). The 8,542 records published until 2026-12-06 take 1.6 MiB as Parquet
#: (about 200 bytes a record, its predictions included; 19.4 MiB as JSON files). The measurements planned next
#: (five fold seeds of the global baseline, Sun2016 and WSIDNet on Twitter I's three subsets and Twitter II, the
#: ladder's lower rungs, the colour-histogram baselines) add about 35,000 records, about 7 MiB: 16 MiB holds
#: both with room for as much again, and keeps a clone small.
MAX_BYTES = 16 * 1024 * 1024
#: The longest list a record may hold: one scalar per test image of the largest dataset we publish (FI has
#: 23,308 images); an array longer than that is not a result.
MAX_LIST = 25_000
#: Per-image fields a record may carry (one scalar per test image each).
PER_IMAGE_FIELDS = snapshot.PER_IMAGE_FIELDS

#: Display names of the backbones, for rows named by what ran.

#: The command that fills a chapter's published runs on one dataset.
FILL_COMMAND = ("make results CHAPTERS={chapter} DATASETS={dataset}{subsets} && make publish")


def published_store(path: str | os.PathLike | None = None) -> ResultStore:
    """The JSON records in the snapshot folder (:func:`published_dir` unless ``path``) as a
    :class:`ResultStore`: a reader's own runs or a test's fixture put there; the published runs are Parquet."""
    return ResultStore(published_dir() if path is None else path)


def _files_stamp(root: Path) -> tuple:
    """What tells one state of the snapshot folder from another without reading it: each file's name, size and
    modification time."""
    if not root.is_dir():
        return ()
    return tuple(sorted((p.relative_to(root).as_posix(), st.st_size, st.st_mtime_ns)
                        for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")
                        for st in [p.stat()]))


def content_stamp(path: str | os.PathLike | None = None) -> str:
    """sha1 of the snapshot's files, names and bytes: the same string for the same published runs, on any machine."""
    import hashlib

    root = published_dir() if path is None else Path(path)
    h = hashlib.sha1()
    for rel, _, _ in _files_stamp(root):
        h.update(rel.encode() + b"\0" + (root / rel).read_bytes())
    return h.hexdigest()


_LOADED: dict[Path, tuple[tuple, pd.DataFrame]] = {}


def load(path: str | os.PathLike | None = None, **filters: Any) -> pd.DataFrame:
    """The snapshot as a table, quietly empty when there is none: its Parquet parts (:func:`vsalib.snapshot.read`)
    and any JSON records in the folder (:meth:`ResultStore.load`), one row per run, as ``ResultStore.load``
    gives them (same columns and order; ``filters`` as there).

    Read once per process while the folder's files stay as they are (a chapter's section, its hooks and the
    scoreboard all read it); each call gets its own frame (pandas copies on write)."""
    root = (published_dir() if path is None else Path(path)).expanduser().resolve()
    stamp = _files_stamp(root)
    hit = _LOADED.get(root)
    if hit is None or hit[0] != stamp:
        hit = _LOADED[root] = (stamp, _read(root))
    return filter_frame(hit[1], filters)


def _read(root: Path) -> pd.DataFrame:
    frames = [f for f in (snapshot.read(root), published_store(root).load()) if len(f)]
    if not frames:
        return pd.DataFrame(columns=[*FRAME_IDENTITY, *FRAME_TAIL, "path"])
    if len(frames) == 1:
        return frames[0]
    df = pd.concat(frames, ignore_index=True).drop_duplicates("key", keep="last").infer_objects()
    df = df.assign(_name=df["path"].map(lambda p: Path(p).name if str(p).endswith(".json") else "")).sort_values(
        ["_name", "dataset", "method", "key"], kind="stable").drop(columns="_name")
    return order_columns(df.reset_index(drop=True))


def _nested(row: dict[str, Any]) -> dict[str, Any]:
    """A record dict from one table row: dotted names nested again, missing values (NaN) left out."""
    out: dict[str, Any] = {}
    for name, v in row.items():
        if name == "path" or (isinstance(v, float) and math.isnan(v)):
            continue
        parts = name.split(".")
        d = out
        for p in parts[:-1]:
            d = d.setdefault(p, {})
            if not isinstance(d, dict):  # a scalar and a group of one name: keep the scalar
                break
        else:
            d[parts[-1]] = v
    return out


def record_dicts(path: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """Every record of the snapshot as a nested dict (``params``, ``metrics``, ``extra``, ``provenance``), rebuilt
    from :func:`load`'s rows (a value a record stored as NaN reads as absent)."""
    return [_nested(row) for row in load(path).to_dict("records")]


def record_count(path: str | os.PathLike | None = None) -> int:
    """How many records the snapshot holds."""
    return len(load(path))


def fill_command(chapter: str, dataset: str, subset: str | None = None) -> str:
    """The command that runs ``chapter`` on ``dataset`` and publishes it."""
    return FILL_COMMAND.format(chapter=chapter, dataset=dataset, subsets=f" SUBSETS={subset}" if subset else "")


# -- selecting one chapter's runs ---------------------------------------------------------------------
def runs_of(df: pd.DataFrame, dataset: str, subset: str | None, profile: str | None = None) -> pd.DataFrame:
    """The rows of one dataset (and subset, where given) run with ``profile`` (where given and recorded)."""
    if not len(df):
        return df
    sel = df[df["dataset"] == dataset]
    if subset is not None:
        sel = sel[sel["subset"] == subset]
    if profile is not None and "provenance.run.profile" in sel:
        sel = sel[sel["provenance.run.profile"] == profile]
    return sel


def base_keys(df: pd.DataFrame, methods: Iterable[str], by: Iterable[str] = ()) -> list[str]:
    """Keys of the latest record of each fold of each ``methods`` run (distinct by ``by`` params)."""
    sel = df[df["method"].isin(list(methods))] if len(df) else df
    if not len(sel):
        return []
    cols = ["dataset", "subset", "protocol", "method", "seed", "fold", "params.backbone", *[c for c in by if c in sel]]
    sel = sel.assign(**{c: sel[c].astype(str) for c in cols})
    return latest_runs(sel, cols)["key"].tolist()


def profile_runs(df: pd.DataFrame, profile: str | None) -> pd.DataFrame:
    """Without the runs of another backbone or input size than the profile's and the fine-tuning runs made with
    another scope (``-p full_finetune True`` on the cpu profile: every layer instead of stage 12 on), so that a
    chapter's table shows one global model per fold; *When do regions help?* reads those runs itself (its ladder's
    rungs: larger backbones, and Lite0 on smaller images)."""
    from vsalib.profiles import PROFILES

    if profile not in PROFILES:
        return df
    if "params.backbone" in df:
        bb = df["params.backbone"]
        df = df[bb.isna() | (bb == PROFILES[profile]["backbone"])]
    size = pd.to_numeric(df["params.image_size"], errors="coerce") if "params.image_size" in df else None
    want = PROFILES[profile].get("image_size")
    if size is not None and want and (size == want).any():  # where the profile's size ran, the others are rungs
        df = df[size.isna() | (size == want)]
    if "params.finetune_from" not in df:
        return df
    want = PROFILES[profile]["finetune_from"]
    ft = df["method"] == "global-finetune"
    scope = df["params.finetune_from"].map(lambda v: None if v is None or (isinstance(v, float) and math.isnan(v))
                                           else int(v))
    return df[~ft | (scope == want) if want is not None else ~ft | scope.isna()]


# -- saying where the numbers come from --------------------------------------------------------------
def _uniq(series) -> list:
    return sorted({str(v) for v in series.dropna()}) if series is not None else []


def provenance_line(runs: pd.DataFrame) -> str:
    """One sentence under a table: n folds/seeds, profile, backbone and weights, commit, date,
    dataset fingerprint, method versions (Markdown)."""
    if not len(runs):
        return "No runs."
    col = lambda c: runs[c] if c in runs else None  # noqa: E731
    protocols = sorted(set(runs["protocol"].dropna().astype(str))) if "protocol" in runs else []
    if len(protocols) > 1:  # never pooled: each protocol's runs, named as the scoreboard names it
        from vsalib.report import protocol_label

        split = " and ".join(_split(runs[runs["protocol"] == p]) + ("" if p == "fixed" else f" ({protocol_label(p)})")
                             for p in protocols)
    else:
        split = _split(runs)
    profile = ", ".join(_uniq(col("provenance.run.profile"))) or "?"
    bb = ", ".join(f"{backbone_name(b)}" for b in _uniq(col("provenance.run.backbone"))) or "?"
    weights = "; ".join(_uniq(col("provenance.run.weights")))
    commits = _uniq(col("provenance.code.commit"))
    dirty = col("provenance.code.dirty")
    clean = "" if dirty is None else (" (uncommitted changes)" if dirty.fillna(False).astype(bool).any()
                                      else " (clean tree)")
    dates = sorted(str(d)[:10] for d in col("provenance.date").dropna()) if col("provenance.date") is not None else []
    when = (dates[0] if dates and dates[0] == dates[-1] else f"{dates[0]} to {dates[-1]}") if dates else "?"
    fps = _uniq(col("provenance.dataset.fingerprint"))
    n_img = _uniq(col("provenance.dataset.n_images"))
    fam = runs[["provenance.method.family", "provenance.method.version"]].dropna().drop_duplicates() \
        if "provenance.method.version" in runs else pd.DataFrame()
    versions = ", ".join(f"{f} v{int(v)}" for f, v in sorted(map(tuple, fam.to_numpy()))) or "?"
    gpu = _uniq(col("provenance.machine.gpu"))
    where = gpu[0] if gpu else (", ".join(_uniq(col("provenance.machine.cpu"))) or "?") + " CPU"
    return (f"Runs: {split}, profile `{profile}`, backbone {bb} ({weights}), "
            f"commit `{', '.join(c[:7] for c in commits) or '?'}`{clean}, {when}, on {where}; "
            f"dataset fingerprint `{', '.join(fps) or '?'}` ({', '.join(n_img) or '?'} images); {versions}.")


def _split(runs: pd.DataFrame) -> str:
    """``5 folds × 3 seeds``, ``the dataset's fixed split × 3 seeds (0, 1, 2)`` or ``3 random splits (seeds 0, 1,
    2)``: the design of one protocol's runs."""
    folds = runs[["seed", "fold"]].drop_duplicates()
    seeds = sorted(int(s) for s in folds["seed"].dropna().unique())
    n_folds = int(folds["fold"].nunique()) if folds["fold"].notna().any() else 1
    protocols = set(runs["protocol"].dropna().astype(str)) if "protocol" in runs else set()
    kfold = any(p.startswith("kfold") for p in protocols) if protocols else n_folds > 1
    many, listed = len(seeds) > 1, ", ".join(map(str, seeds))
    if kfold:
        return f"{n_folds} fold{'s' if n_folds != 1 else ''} × {len(seeds)} seed{'s' if many else ''}"
    if protocols == {"fixed"}:  # one test part; the seeds draw the validation part and the initialisation
        return f"the dataset's fixed split × {len(seeds)} seed{'s' if many else ''} ({listed})"
    return f"{len(seeds)} random split{'s' if many else ''} (seed{'s' if many else ''} {listed})"


def stale_methods(runs: pd.DataFrame) -> dict[str, str]:
    """``{method name: why}`` for the records that an older version of their method made (read from the rows'
    ``provenance.method.*`` columns)."""
    from vsalib.methods import import_all

    cols = [c for c in runs.columns if c == "provenance.method" or c.startswith("provenance.method.")]
    out: dict[str, str] = {}
    if not len(runs):
        return out
    import_all()  # every method module declares its family's current version when imported
    groups = runs[["method", *cols]].astype(str).drop_duplicates().index
    for _, row in runs.loc[groups, ["method", *cols]].iterrows():
        prov = _nested({k: v for k, v in row.items() if k != "method"}).get("provenance", {})
        why = provenance.staleness(prov)
        if why:
            out.setdefault(row["method"], why)
    return out


def stale_note(runs: pd.DataFrame) -> str:
    """A Markdown line naming the rows an older method version made ('' when all are current)."""
    stale = stale_methods(runs)
    if not stale:
        return ""
    return "† **Made by an older version:** " + "; ".join(f"`{m}`: {why}" for m, why in sorted(stale.items())) + \
        ". Rerun the chapter (`make results`, then `make publish`) to bring them up to date."


# -- publishing -------------------------------------------------------------------------------------
def _lists(obj, where: str = "") -> Iterable[tuple[str, list]]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _lists(v, f"{where}.{k}" if where else str(k))
    elif isinstance(obj, list):
        yield where, obj
        for i, v in enumerate(obj):
            if isinstance(v, (list, dict)):
                yield from _lists(v, f"{where}[{i}]")


def check_record(d: dict) -> list[str]:
    """What makes a record unfit for the snapshot: missing provenance, an array that is not one
    scalar per image, nested arrays, binary-looking strings. Empty when it is fit."""
    problems = [f"provenance lacks {m}" for m in provenance.missing(d.get("provenance"))]
    for where, values in _lists({k: d.get(k) for k in ("params", "metrics", "extra")}):
        if len(values) > MAX_LIST:
            problems.append(f"{where} has {len(values)} values (more than {MAX_LIST})")
        if any(isinstance(v, (list, dict)) for v in values) and where.split(".")[-1] in PER_IMAGE_FIELDS:
            problems.append(f"{where} is not one scalar per image")
        if where.split(".")[-1] not in PER_IMAGE_FIELDS and len(values) > 200:
            problems.append(f"{where}: {len(values)} values in a field that is not a per-image prediction")
    for where, v in _strings(d):
        if len(v) > 2000:
            problems.append(f"{where}: a {len(v)}-character string (binary data?)")
    return problems


def _strings(obj, where: str = "") -> Iterable[tuple[str, str]]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _strings(v, f"{where}.{k}" if where else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _strings(v, f"{where}[{i}]")
    elif isinstance(obj, str):
        yield where, obj


def check(path: str | os.PathLike | None = None) -> list[str]:
    """Every problem of the snapshot (``[]`` when it is fit to publish): parts that do not read, records
    :func:`check_record` refuses, predictions of no record, files that are neither parts nor records, and a total
    size over :data:`MAX_BYTES`."""
    root = Path(published_dir() if path is None else path)
    if not root.is_dir():
        return []
    parts = {p for t in (snapshot.RUNS, snapshot.PREDICTIONS) for p in snapshot.parts(root, t)}
    problems, total = [], 0
    for p in sorted(root.rglob("*")):
        if p.is_dir():
            continue
        total += p.stat().st_size
        if p in parts or p.name == "README.md" and p.parent == root:
            continue
        if p.suffix != ".json" or p.name.startswith(".") or p.parent != root:
            problems.append(f"{p.relative_to(root)}: not part of the snapshot (only runs/ and predictions/ parts, "
                            "JSON records and README.md belong here)")
            continue
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
            from vsalib.results import Record

            Record.from_dict(d)
        except (OSError, ValueError, TypeError) as exc:
            problems.append(f"{p.name}: does not parse as a record ({exc})")
            continue
        problems += [f"{p.name}: {m}" for m in check_record(d)]
    try:
        rows = snapshot.read(root)
    except Exception as exc:  # noqa: BLE001 - whatever pyarrow raises on a damaged part
        return problems + [f"the Parquet parts do not read ({type(exc).__name__}: {exc})"]
    for row in rows.to_dict("records"):
        problems += [f"{Path(row['path']).relative_to(root)}, record {row['key']}: {m}"
                     for m in check_record(_nested(row))]
    kept = set(rows["key"]) if len(rows) else set()
    for p in snapshot.parts(root, snapshot.PREDICTIONS):
        import pyarrow.parquet as pq

        orphans = set(pq.read_table(p, columns=["key"]).column("key").to_pylist()) - kept
        if orphans:
            problems.append(f"{p.relative_to(root)}: predictions of {len(orphans)} keys no record holds")
    if total > MAX_BYTES:
        problems.append(f"the snapshot is {total / 2**20:.1f} MiB, over {MAX_BYTES / 2**20:.0f} MiB")
    return problems


def publish(source: str | os.PathLike | None = None, dest: str | os.PathLike | None = None, *,
            profile: str | None = "cpu", datasets: Iterable[str] | None = None,
            synthetic: bool = False) -> dict[str, int]:
    """Add the finished runs of ``profile`` (every profile where None) in the working store ``source`` to the
    snapshot at ``dest``, as new Parquet parts (:func:`vsalib.snapshot.write`; old parts are never rewritten).

    Only records with complete provenance and fit to publish are added; a record the snapshot already holds
    with the same content is left as it is, one it holds with other content is added again (the new part's row
    supersedes the old). Records of the synthetic dataset are left out unless ``synthetic``. Returns counts:
    ``copied``, ``unchanged``, ``refused`` (with reasons printed), ``other`` (another profile or dataset).
    """
    src = ResultStore(source)
    root = published_dir() if dest is None else Path(dest)
    counts = {"copied": 0, "unchanged": 0, "refused": 0, "other": 0}
    wanted = set(datasets) if datasets else None
    have = snapshot.shas(root)
    new: list[dict] = []
    for p in src.files():
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            print(f"refused {p.name}: unreadable ({exc})")
            counts["refused"] += 1
            continue
        run = (d.get("provenance") or {}).get("run") or {}
        if (profile is not None and run.get("profile") != profile) or (wanted and d["dataset"] not in wanted) \
                or (d["dataset"] == "synthetic" and not synthetic):
            counts["other"] += 1
            continue
        problems = check_record(d)
        if problems:
            print(f"refused {p.name}: {'; '.join(problems)}")
            counts["refused"] += 1
            continue
        if have.get(d["key"]) == snapshot.record_sha(d):
            counts["unchanged"] += 1
            continue
        new.append(d)
    for key, why in _retrained(new, root, have).items():
        print(f"refused {key}: {why}")
        counts["refused"] += 1
        new = [d for d in new if d["key"] != key]
    if new:
        snapshot.write(new, root)
    counts["copied"] = len(new)
    return counts


def _retrained(new: list[dict], root: Path, have: dict[str, str]) -> dict[str, str]:
    """The records in ``new`` that replace a published record of their key with a model trained again (its
    weights were lost: :func:`vsalib.methods.base.run_fold`'s ``need_weights``), while published records built on
    that model (a parameter naming its key, e.g. ``params.global``) were made before it and are not replaced in
    the same publish: those describe the earlier model, and publishing the new one would pair them with a model
    they were not made with. ``{key: why}``."""
    replaced = {d["key"]: d for d in new if d["key"] in have}
    if not replaced:
        return {}
    rows = snapshot.read(root)
    cols = [c for c in rows.columns if c.startswith("params.")]
    if not len(rows) or not cols:
        return {}
    fresh = {d["key"]: str((d.get("provenance") or {}).get("date") or "") for d in new}
    names = rows[cols].astype(str)
    out = {}
    for key, d in replaced.items():
        when = str((d.get("provenance") or {}).get("date") or "")
        deps = rows.loc[(names == key).any(axis=1), ["key", "method", "provenance.date"]]
        stale = [r for r in deps.to_dict("records")
                 if str(r["provenance.date"]) < when and fresh.get(r["key"], "") < when]
        if stale:
            methods = sorted({r["method"] for r in stale})
            out[key] = (f"its model was trained again ({when[:19]}) after {len(stale)} published records built on it "
                        f"({', '.join(methods)}) were made; they describe the earlier model. Publish them again "
                        f"with it (rerun them on the new model) or keep the published record")
    return out


__all__ = ["BACKBONE_NAMES", "MAX_BYTES", "PUBLISHED_DIR", "PUBLISHED_ENV", "backbone_name", "base_keys",
           "check", "check_record", "profile_runs", "fill_command", "load", "provenance_line", "publish",
           "published_dir", "published_store", "record_count", "record_dicts", "runs_of", "stale_methods", "stale_note"]
