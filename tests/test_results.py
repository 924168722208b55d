"""ResultStore: atomic writes, replace-on-rerun, resume, loading and filtering."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from vsalib import __version__
from vsalib.results import (
    RESULTS_ENV,
    Record,
    ResultStore,
    default_results_dir,
    experiment_key,
)

IDENT = dict(
    dataset="twitter1", subset="five", protocol="kfold5", method="sun2016",
    params={"K": 8, "alpha": 1.0}, seed=0, fold=2,
)


def rec(**kw) -> Record:
    d = {**IDENT, "metrics": {"accuracy": 0.85}, "wall_time_s": 1.5}
    d.update(kw)
    return Record(**d)


def test_add_get_has(tmp_path):
    store = ResultStore(tmp_path / "res")
    assert not store.has(**IDENT)
    assert store.get(**IDENT) is None
    p = store.add(rec())
    assert p.parent == tmp_path / "res" and p.name.startswith("twitter1-sun2016-")
    assert store.has(**IDENT)
    got = store.get(**IDENT)
    assert got.metrics == {"accuracy": 0.85}
    assert got.vsalib_version == __version__
    assert got.created.endswith("+00:00")
    assert got.key == rec().key
    assert not store.has(**{**IDENT, "fold": 3})
    on_disk = json.loads(p.read_text())
    assert on_disk["key"] == got.key and on_disk["params"] == {"K": 8, "alpha": 1.0}


def test_rerun_replaces(tmp_path):
    store = ResultStore(tmp_path)
    p1 = store.add(rec(metrics={"accuracy": 0.80}))
    # same run, params in another order and 1 instead of 1.0: same identity
    p2 = store.add(rec(params={"alpha": 1, "K": 8}, metrics={"accuracy": 0.90}))
    assert p1 == p2
    assert len(store) == 1
    assert store.get(**IDENT).metrics["accuracy"] == 0.90
    store.add(rec(seed=1))
    assert len(store) == 2


def test_key_is_stable_and_sensitive():
    k = experiment_key("d", None, "p", "m", {"a": (1, 2), "b": 0.5}, 0, None)
    assert k == experiment_key("d", None, "p", "m", {"b": 0.5, "a": [1, 2]}, 0, None)
    assert k != experiment_key("d", None, "p", "m", {"a": (1, 2), "b": 0.25}, 0, None)
    assert k != experiment_key("d", "five", "p", "m", {"a": (1, 2), "b": 0.5}, 0, None)
    assert len(k) == 20 and int(k, 16) >= 0


def test_crash_mid_write_leaves_no_partial_record(tmp_path, monkeypatch):
    store = ResultStore(tmp_path)
    store.add(rec(metrics={"accuracy": 0.80}))

    def boom(src, dst):
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="simulated"):
        store.add(rec(metrics={"accuracy": 0.99}))
    with pytest.raises(OSError):
        store.add(rec(seed=7))
    monkeypatch.undo()
    # the old record is intact, the new run was never recorded, no temp file is left
    assert store.get(**IDENT).metrics["accuracy"] == 0.80
    assert not store.has(**{**IDENT, "seed": 7})
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in store.files()]
    assert len(store.load()) == 1


def test_killed_writers_temporaries_are_ignored_and_old_ones_removed_on_the_next_write(tmp_path):
    """A writer killed mid-write leaves ``.tmp-*.json`` (empty or partial). Readers never see it; the next write
    removes those older than STALE_TEMP_SECONDS and keeps younger ones (another process may be writing them)."""
    import time

    from vsalib import results

    store = ResultStore(tmp_path)
    store.add(rec(metrics={"accuracy": 0.80}))
    old_empty, old_partial, fresh = (tmp_path / ".tmp-x.json", tmp_path / ".tmp-half.json",
                                     tmp_path / ".tmp-live.json")
    old_empty.write_bytes(b"")
    old_partial.write_text('{"key": "abc", "dataset": "twit', encoding="utf-8")
    fresh.write_bytes(b"")
    other = tmp_path / ".tmp-x.txt"  # not a temporary of this store: never touched
    other.write_bytes(b"")
    past = time.time() - results.STALE_TEMP_SECONDS - 60
    for p in (old_empty, old_partial, other):
        os.utime(p, (past, past))
    # readers ignore every temporary (no warning about an unreadable record either)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [p.name for p in store.files()] == [store.path_for(**IDENT).name]
        assert len(store) == 1 and len(list(store.records())) == 1 and len(store.load()) == 1
        assert store.get(**IDENT).metrics["accuracy"] == 0.80
    assert store.temporaries() == sorted([old_empty, old_partial, fresh])
    # the next write removes the old ones and keeps the fresh one
    store.add(rec(seed=1))
    assert not old_empty.exists() and not old_partial.exists()
    assert fresh.exists() and other.exists()
    assert store.temporaries() == [fresh]
    assert len(store) == 2
    # once it is old too, the next write removes it (returned by the clean-up when called directly)
    os.utime(fresh, (past, past))
    assert store.remove_stale_temporaries() == [fresh] and not fresh.exists()
    assert store.remove_stale_temporaries() == []


def test_load_flattens_and_filters(tmp_path):
    store = ResultStore(tmp_path)
    for fold in range(3):
        store.add(rec(fold=fold, metrics={"accuracy": 0.8 + fold / 100, "per_class": {"neg": 0.7}}))
    store.add(rec(subset=None, dataset="emotion6", method="rcnngsr", params={"xi1": 1e-3},
                  metrics={"accuracy": np.float32(0.75)}, extra={"device": "cpu"}))
    df = store.load()
    assert len(df) == 4
    for col in ["key", "dataset", "subset", "protocol", "method", "seed", "fold", "params.K",
                "params.alpha", "params.xi1", "metrics.accuracy", "metrics.per_class.neg",
                "wall_time_s", "vsalib_version", "created", "extra.device", "path"]:
        assert col in df.columns, col
    assert list(df.columns[:7]) == ["key", "dataset", "subset", "protocol", "method", "seed", "fold"]
    t1 = store.load(dataset="twitter1")
    assert len(t1) == 3 and sorted(t1["fold"]) == [0, 1, 2]
    assert t1["metrics.accuracy"].mean() == pytest.approx(0.81)
    assert len(store.load(dataset="twitter1", fold=[0, 2])) == 2
    assert len(store.load(subset=None)) == 1
    assert len(store.load(**{"params.K": 8})) == 3
    e6 = store.load(method="rcnngsr")
    assert e6["metrics.accuracy"].iloc[0] == pytest.approx(0.75)
    assert len(store.load(dataset="nope")) == 0
    with pytest.raises(KeyError):
        store.load(no_such_column=1)


def test_corrupt_file_is_skipped_with_warning(tmp_path):
    store = ResultStore(tmp_path)
    store.add(rec())
    bad = tmp_path / "twitter1-sun2016-0000.json"
    bad.write_text('{"dataset": "twitter1", "metr')
    other = tmp_path / "stray.json"
    other.write_text('{"not": "a record"}')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = store.load()
    assert len(df) == 1
    messages = " ".join(str(w.message) for w in caught)
    assert all(w.category is RuntimeWarning for w in caught)
    assert "0000.json" in messages and "stray.json" in messages
    # a corrupt file in a run's own slot counts as "not done"
    store.path_for(**{**IDENT, "seed": 5}).write_text("{")
    with pytest.warns(RuntimeWarning):
        assert not store.has(**{**IDENT, "seed": 5})


def test_empty_store(tmp_path):
    store = ResultStore(tmp_path / "never-written")
    df = store.load(dataset="x")
    assert len(df) == 0 and "dataset" in df.columns
    assert len(store) == 0


def test_record_validation():
    with pytest.raises(ValueError):
        Record(dataset="", protocol="p", method="m")
    with pytest.raises(ValueError):
        Record(dataset="d", protocol="p", method="m", params=[1])
    with pytest.raises(TypeError):  # keyword-only
        Record("d", None, "p", "m")  # type: ignore[misc]


def test_default_dir(monkeypatch, tmp_path):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path / "elsewhere"))
    assert default_results_dir() == tmp_path / "elsewhere"
    assert ResultStore().path == tmp_path / "elsewhere"
    monkeypatch.delenv(RESULTS_ENV)
    assert default_results_dir() == Path(__file__).resolve().parents[1] / "results"


def test_code_version_counts_new_untracked_code_as_a_change(tmp_path):
    """A run made with a module the commit does not hold is not from a clean tree; ignored files and notes outside
    the code's folders do not count."""
    import subprocess

    from vsalib.provenance import code_version

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "vsalib").mkdir()
    (tmp_path / "vsalib" / "a.py").write_text("x = 1\n")
    (tmp_path / ".gitignore").write_text("*.pyc\n")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    clean = code_version(tmp_path, max_age_s=0)
    assert len(clean["commit"]) == 40 and clean["dirty"] is False
    (tmp_path / "notes.txt").write_text("not code\n")
    (tmp_path / "vsalib" / "a.pyc").write_text("ignored\n")
    assert code_version(tmp_path, max_age_s=0)["dirty"] is False
    (tmp_path / "vsalib" / "new.py").write_text("y = 2\n")  # untracked code
    assert code_version(tmp_path, max_age_s=0)["dirty"] is True
    (tmp_path / "vsalib" / "new.py").unlink()
    (tmp_path / "vsalib" / "a.py").write_text("x = 3\n")  # a tracked file changed
    assert code_version(tmp_path, max_age_s=0)["dirty"] is True
    code_version(max_age_s=0)  # leave the cache with this checkout's own state
