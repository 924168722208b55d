"""The snapshot is read once per process and the scoreboard computed once per snapshot and code (issue 33): the
chapters' sections, their hooks, the scoreboard page, *When do regions help?* and the introduction all read the
same published runs."""

import pandas as pd
import pytest

from vsalib import provenance, published, scoreboard


@pytest.fixture
def snapshot_dir(tmp_path, monkeypatch):
    root = tmp_path / "published"
    root.mkdir()
    monkeypatch.setenv("VSALIB_PUBLISHED", str(root))
    monkeypatch.setenv("VSALIB_CACHE", str(tmp_path / "cache"))
    return root


def _add_record(root, key: str) -> None:
    (root / f"synthetic-majority-{key}.json").write_text(
        '{"key": "%s", "dataset": "synthetic", "subset": "binary", "protocol": "kfold5", "method": "majority", '
        '"params": {}, "seed": 0, "fold": 0, "metrics": {"accuracy": 0.5}, "extra": {}, "provenance": {}}' % key)


def test_the_snapshot_is_read_once_until_its_files_change(snapshot_dir, monkeypatch):
    _add_record(snapshot_dir, "a" * 20)
    reads = []
    real = published._read
    monkeypatch.setattr(published, "_read", lambda root: reads.append(root) or real(root))
    first = published.load()
    first.loc[0, "method"] = "changed by a reader"  # a caller's edits stay in its own frame
    second = published.load()
    assert len(reads) == 1 and second.loc[0, "method"] == "majority"
    assert len(published.load(method="nothing")) == 0 and len(reads) == 1  # filters on the frame read once
    _add_record(snapshot_dir, "b" * 20)
    assert len(published.load()) == 2 and len(reads) == 2


def test_the_scoreboard_is_computed_once_per_snapshot_and_code(snapshot_dir, monkeypatch):
    _add_record(snapshot_dir, "a" * 20)
    computed = []

    def compute(runs, profile):
        computed.append(profile)
        return pd.DataFrame({"paper": ["p"], "claim": [f"{len(runs)} runs"], "our gain": [1.5]})

    monkeypatch.setattr(scoreboard, "_compute", compute)
    a = scoreboard.scoreboard()
    b = scoreboard.scoreboard()
    assert computed == ["cpu"] and a.equals(b) and b.loc[0, "claim"] == "1 runs"
    scoreboard.scoreboard(profile="paper")  # another profile: its own board
    assert computed == ["cpu", "paper"]
    _add_record(snapshot_dir, "b" * 20)  # another snapshot
    assert scoreboard.scoreboard().loc[0, "claim"] == "2 runs" and len(computed) == 3
    monkeypatch.setattr(provenance, "source_stamp", lambda: "other code")  # another vsalib
    scoreboard.scoreboard()
    assert len(computed) == 4
    scoreboard.scoreboard(cache=False)
    scoreboard.scoreboard(published.load())  # runs given: computed from them
    assert len(computed) == 6
    kept = list((snapshot_dir.parent / "cache" / "scoreboard").glob("*.pkl"))
    assert len(kept) == 4 and not list(kept[0].parent.glob(".*"))  # no temporary file left
    for f in kept:
        f.write_bytes(b"damaged")
    assert scoreboard.scoreboard().loc[0, "claim"] == "2 runs" and len(computed) == 7


def test_the_source_stamp_follows_vsalib_files(tmp_path, monkeypatch):
    pkg = tmp_path / "vsalib"
    pkg.mkdir()
    (pkg / "a.py").write_text("x = 1\n")
    monkeypatch.setattr(provenance, "_REPO_ROOT", tmp_path)
    one = provenance.source_stamp()
    assert provenance.source_stamp() == one
    (pkg / "targets.csv").write_text("a,b\n")
    two = provenance.source_stamp()
    (pkg / "a.py").write_text("x = 2\n")
    assert len({one, two, provenance.source_stamp()}) == 3
