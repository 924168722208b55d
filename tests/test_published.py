"""The published snapshot: records that parse, full provenance, results only, and chapters' tables
that show exactly the stored numbers."""

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vsalib import methods, provenance, published
from vsalib.data import load_dataset
from vsalib.results import Record, ResultStore

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def _own_run_context(monkeypatch):
    """Each test starts from an empty run context (not what an earlier test's chapter left: another backbone) and
    notes datasets in a copy; both are put back afterwards."""
    monkeypatch.setattr(provenance, "_RUN", {})
    from vsalib.data import fingerprint

    monkeypatch.setattr(fingerprint, "_DATASETS", dict(fingerprint._DATASETS))


def _parquet(table: str) -> "pd.DataFrame":
    """One table of the committed snapshot read with pandas alone (no vsalib), the latest row of each key."""
    import pandas as pd

    root = published.published_dir() / table
    files = sorted(root.glob("*/*/part-*.parquet"), key=lambda p: p.name)
    if not files:
        pytest.skip("the snapshot holds no Parquet part")
    return pd.concat([pd.read_parquet(p).assign(_part=p.name) for p in files], ignore_index=True)


def test_the_snapshot_parses_has_provenance_and_is_results_only():
    assert published.check() == []
    root = published.published_dir()
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    assert size <= published.MAX_BYTES
    assert not list(root.glob("*.json"))  # the published runs are Parquet parts, not JSON records
    runs = _parquet("runs").drop_duplicates("key", keep="last")
    assert (runs["dataset"] != "synthetic").all()
    for rec in published.record_dicts():
        assert provenance.missing(rec["provenance"]) == [], rec["key"]
    preds = _parquet("predictions")
    # a record published again lands in a new part: its predictions are those of its latest part
    preds = preds[preds["_part"] == preds.groupby("key")["_part"].transform("max")]
    assert set(preds["key"]) <= set(runs["key"])  # no prediction without its record
    n_images = runs.set_index("key")["provenance.dataset.n_images"]
    per_record = preds.groupby("key")["position"].agg(["count", "max"])
    assert (per_record["max"] + 1 == per_record["count"]).all()  # positions 0..n-1, one row each
    assert (per_record["count"] <= n_images.loc[per_record.index]).all()  # one row per test image at most
    assert set(preds.columns) == {"key", "position", "image_id", "test_index", "label", "predicted", "_part"}


def test_a_researcher_reads_the_snapshot_without_vsalib():
    """The runs and predictions tables alone give a chapter's number: Sun2016's K = 1 late-fusion accuracy on
    Twitter I five-agree recomputed from the predictions equals the accuracy stored in the runs table."""
    runs = _parquet("runs").sort_values("_part").drop_duplicates("key", keep="last")
    preds = _parquet("predictions")
    preds = preds[preds["_part"] == preds.groupby("key")["_part"].transform("max")]  # each key's latest part
    with_preds = runs[runs["key"].isin(preds["key"])]
    assert len(with_preds) > 100
    acc = preds.assign(right=preds["label"] == preds["predicted"]).groupby("key")["right"].mean()
    stored = with_preds.set_index("key")["metrics.accuracy"]
    both = acc.index.intersection(stored.index)
    have_labels = preds.groupby("key")["label"].apply(lambda s: s.notna().all())
    both = [k for k in both if have_labels[k] and stored[k] == stored[k]]
    assert len(both) > 100 and np.allclose(acc[both], stored[both])


def test_the_parquet_snapshot_shows_every_number_the_book_showed():
    """tests/published_numbers.json was written from the JSON records before they became Parquet parts: every
    table and sentence the chapters, the scoreboard and When do regions help? show from the snapshot is the same."""
    import published_numbers

    saved = json.loads(published_numbers.NUMBERS.read_text(encoding="utf-8"))
    problems = published_numbers.differences(published_numbers.collect(), saved)
    assert not problems, "\n".join(problems[:10])


def test_parquet_parts_give_the_table_of_the_json_records(tmp_path):
    """snapshot.write then snapshot.read gives ResultStore.load's table of the same records (columns, order, types,
    None against a missing key, lists, nested params), and a second publish adds parts without rewriting any."""
    import pandas as pd

    from vsalib import snapshot

    provenance.set_run(profile="cpu")
    store = ResultStore(tmp_path / "work")
    store.add(_record(tmp_path, dataset="twitter1", subset="five", params={"backbone": "efficientnet_lite0",
                                                                           "grid": [1, 2], "g": {"a": 1}}))
    store.add(_record(tmp_path, dataset="twitter1", subset="five", fold=1, metrics={"accuracy": 0.5, "x": None},
                      extra={"y_pred": [1, 1], "test_index": [1, 2], "history": [{"loss": 0.1}]}))
    store.add(_record(tmp_path, dataset="emotion6", method="sun2016-lf", params={"k": 1, "mixed": "a"},
                      metrics={"accuracy": 0.5, "x": "text"}, extra={}))
    store.add(_record(tmp_path, dataset="emotion6", method="sun2016-lf", fold=2, params={"k": 2.5, "mixed": 3}))
    records = [json.loads(p.read_text()) for p in store.files()]
    root = tmp_path / "pub"
    first = snapshot.write(records, root, "20260101T000000Z")
    assert {p.parent.parent.parent.name for p in first} == {"runs", "predictions"}
    want = store.load().drop(columns="path")
    got = snapshot.read(root)
    assert got["path"].str.endswith(".parquet").all()
    pd.testing.assert_frame_equal(got.drop(columns="path"), want)
    assert got["extra.y_pred"].map(lambda v: isinstance(v, list)).sum() == 3  # lists again (one record has none)
    # publishing one changed record adds one part per table and dataset × family; the old parts stay as they were
    before = {p: p.read_bytes() for p in root.rglob("*.parquet")}
    changed = dict(records[0], metrics={"accuracy": 0.25})
    second = snapshot.write([changed], root, "20260102T000000Z")
    assert all(p.read_bytes() == b for p, b in before.items()) and not set(second) & set(before)
    again = snapshot.read(root)
    assert len(again) == len(got) and again.set_index("key").loc[changed["key"], "metrics.accuracy"] == 0.25
    assert snapshot.shas(root)[changed["key"]] == snapshot.record_sha(changed)


def test_publish_adds_parts_and_skips_unchanged_records(tmp_path, capsys):
    provenance.set_run(profile="cpu")
    src, dst = ResultStore(tmp_path / "work"), tmp_path / "pub"
    src.add(_record(tmp_path, dataset="twitter1", subset="five"))
    assert published.publish(src.path, dst) == {"copied": 1, "unchanged": 0, "refused": 0, "other": 0}
    n_parts = len(list(dst.rglob("*.parquet")))
    assert published.publish(src.path, dst) == {"copied": 0, "unchanged": 1, "refused": 0, "other": 0}
    assert len(list(dst.rglob("*.parquet"))) == n_parts  # nothing written for an unchanged record
    assert published.check(dst) == [] and published.record_count(dst) == 1
    (dst / "runs" / "notes.txt").write_text("x")
    assert any("not part of the snapshot" in p for p in published.check(dst))


def test_publish_refuses_a_model_trained_again_under_published_records(tmp_path, capsys):
    """A global model trained again (its weights lost) has the same key and another score: publishing it while
    the published region records built on it were made with the earlier model would pair them with a model they
    were not made with. It is refused, naming them; published together with its dependants made again, it goes."""
    import time

    provenance.set_run(profile="cpu")
    src, dst = ResultStore(tmp_path / "work"), tmp_path / "pub"
    glob_rec = _record(tmp_path, dataset="twitter1", subset="five")
    src.add(glob_rec)
    dep = _record(tmp_path, dataset="twitter1", subset="five", method="sun2016-lf",
                  params={"backbone": "efficientnet_lite0", "global": glob_rec.key, "k": 1})
    src.add(dep)
    assert published.publish(src.path, dst)["copied"] == 2
    time.sleep(1.1)  # provenance dates have a resolution of one second
    again = _record(tmp_path, dataset="twitter1", subset="five", metrics={"accuracy": 0.8})
    assert again.key == glob_rec.key
    src.add(again)
    counts = published.publish(src.path, dst)
    assert counts["refused"] == 1 and counts["copied"] == 0
    out = capsys.readouterr().out
    assert glob_rec.key in out and "trained again" in out and "sun2016-lf" in out
    assert published.load(dst).set_index("key").loc[glob_rec.key, "metrics.accuracy"] == 0.75
    src.add(_record(tmp_path, dataset="twitter1", subset="five", method="sun2016-lf", metrics={"accuracy": 0.7},
                    params={"backbone": "efficientnet_lite0", "global": glob_rec.key, "k": 1}))
    assert published.publish(src.path, dst) == {"copied": 2, "unchanged": 0, "refused": 0, "other": 0}
    assert published.load(dst).set_index("key").loc[glob_rec.key, "metrics.accuracy"] == 0.8


def _record(tmp_path, **kw):
    # a record's stamp names its method's version, which the method's module declares: import them, as every
    # process that trains does (run alone, this file imports no method)
    methods.import_all()
    ds = load_dataset("synthetic", n_images=16, size=32, cache_dir=str(tmp_path / "c"))
    ds.name = kw.get("dataset", "synthetic")  # stands in for the dataset the record names
    provenance.note_dataset(ds, kw.get("subset", "binary"))
    base = dict(dataset="synthetic", subset="binary", protocol="kfold2", method="global-finetune",
                params={"backbone": "efficientnet_lite0"}, seed=0, fold=0, metrics={"accuracy": 0.75},
                extra={"y_pred": [0, 1], "y_true": [0, 0], "test_index": [3, 5]})
    base.update(kw)
    return Record(**base)


def test_check_record_refuses_missing_provenance_and_image_arrays(tmp_path):
    provenance.set_run(profile="cpu")
    store = ResultStore(tmp_path / "r")
    rec = _record(tmp_path)
    store.add(rec)
    d = json.loads(store.files()[0].read_text())
    assert published.check_record(d) == []
    assert d["extra"]["test_ids"] == ["images/00003.png", "images/00005.png"] or len(d["extra"]["test_ids"]) == 2
    bad = json.loads(json.dumps(d))
    bad["extra"]["features"] = [[0.1] * 64] * 3  # a feature matrix is not a result
    bad["extra"]["thumbnail"] = "iVBORw0KGgo" * 400  # nor is an encoded image
    bad["provenance"]["code"]["commit"] = None
    problems = " | ".join(published.check_record(bad))
    assert "code.commit" in problems and "binary data" in problems
    big = json.loads(json.dumps(d))
    big["extra"]["y_pred"] = [0] * (published.MAX_LIST + 1)
    assert any("more than" in p for p in published.check_record(big))
    nested = json.loads(json.dumps(d))
    nested["extra"]["y_pred"] = [[0.2, 0.8]] * 2
    assert any("not one scalar per image" in p for p in published.check_record(nested))


def test_publish_copies_complete_records_of_the_profile_only(tmp_path, monkeypatch, capsys):
    src, dst = ResultStore(tmp_path / "work"), tmp_path / "pub"
    provenance.set_run(profile="cpu")
    ok = src.add(_record(tmp_path, dataset="twitter1", subset="five"))
    src.add(_record(tmp_path, fold=1))  # synthetic: never published
    provenance.set_run(profile="quick")
    src.add(_record(tmp_path, dataset="twitter1", subset="five", fold=2))  # another profile
    provenance.set_run(profile="cpu")
    bad = _record(tmp_path, dataset="twitter1", subset="five", fold=3)
    bad.provenance = provenance.stamp(bad)
    bad.provenance["code"]["commit"] = None  # made outside a checkout
    src.add(bad)
    counts = published.publish(src.path, dst, profile="cpu")
    assert counts == {"copied": 1, "unchanged": 0, "refused": 1, "other": 2}
    assert "refused" in capsys.readouterr().out
    got = published.load(dst)
    assert got["key"].tolist() == [json.loads(ok.read_text())["key"]]  # the same record
    assert published.publish(src.path, dst, profile="cpu")["unchanged"] == 1
    assert published.check(dst) == []
    (dst / "notes.txt").write_text("x")
    assert any("not part of the snapshot" in p for p in published.check(dst))


def test_provenance_line_and_stale_rows(tmp_path, monkeypatch):
    provenance.set_run(profile="cpu")
    store = ResultStore(tmp_path / "r")
    for fold in range(3):
        store.add(_record(tmp_path, dataset="twitter1", subset="five", fold=fold))
    runs = store.load()
    line = published.provenance_line(runs)
    commit = provenance.code_version()["commit"][:7]
    assert line.startswith("Runs: 3 folds × 1 seed, profile `cpu`, backbone EfficientNet-Lite0")
    assert f"`{commit}`" in line and "global v1" in line
    assert published.stale_note(runs) == ""
    # two protocols' runs are described one by one, never pooled (MultiLevelRCNN on EmotionROI, issue 35)
    two = pd.concat([runs.assign(protocol="fixed", fold=0, seed=[0, 1, 2]), runs.assign(protocol="kfold5-per-emotion")])
    assert published.provenance_line(two).startswith(
        "Runs: the dataset's fixed split × 3 seeds (0, 1, 2) and 3 folds × 1 seed (per-emotion 5-fold CV), ")
    monkeypatch.setitem(provenance._METHODS, "global", provenance.MethodVersion(
        "global", 2, {1: "first", 2: "random crops in fine-tuning"}))
    note = published.stale_note(runs)
    assert "global-finetune" in note and "global v1 → v2 (v2: random crops in fine-tuning)" in note


def test_chapter_runs_keep_the_latest_global_model_of_each_fold(tmp_path):
    provenance.set_run(profile="cpu")
    store = ResultStore(tmp_path / "r")
    old = store.add(_record(tmp_path, dataset="twitter1", subset="five", metrics={"accuracy": 0.5},
                            params={"backbone": "efficientnet_lite0", "epochs": 3}))
    new = store.add(_record(tmp_path, dataset="twitter1", subset="five", metrics={"accuracy": 0.9},
                            params={"backbone": "efficientnet_lite0", "epochs": 12}))
    # make "new" the later one whatever the clock's resolution
    d = json.loads(new.read_text()); d["created"] = "2999-01-01T00:00:00+00:00"; new.write_text(json.dumps(d))
    assert old.exists() and len(store.load()) == 2  # both folds' records are in the store ...
    from vsalib import chapters

    runs = chapters.chapter_runs("global_baseline", "twitter1", "five", runs=store.load())
    assert runs["metrics.accuracy"].tolist() == [0.9]  # ... the chapter keeps the later one
    assert not len(chapters.chapter_runs("global_baseline", "twitter1", "five", profile="paper", runs=store.load()))
    with pytest.raises(ValueError, match="unknown chapter"):
        chapters.chapter_runs("nope", "twitter1", runs=store.load())


def _raw(dataset, subset):
    """The snapshot's records of one dataset as dicts (no vsalib selection)."""
    return [d for d in published.record_dicts() if d["dataset"] == dataset and d.get("subset") == subset]


@pytest.mark.parametrize("subset", ["five", "four", "three"])
def test_sun2016_table1_from_the_snapshot_shows_the_stored_numbers(subset):
    from vsalib.methods import sun2016_study

    raw = _raw("twitter1", subset)
    if not any(d["method"] == "sun2016-K-val" for d in raw):
        pytest.skip(f"the snapshot holds no Sun2016 run of Twitter I {subset} yet")
    from vsalib import chapters

    t1 = sun2016_study.table1(chapters.chapter_runs("sun2016", "twitter1", subset), "twitter1", subset,
                        ks=range(1, 21)).set_index("row")
    # the same rows computed by hand from the files: latest fine-tuned model per fold (the cpu profile's backbone
    # and scope: ladder rungs of other backbones, input sizes or whole-network fine-tuning are not Table 1's), the RoIAlign
    # records built on it (crop-scored runs are When do regions help?'s)
    ft = {}
    for d in raw:
        if d["method"] == "global-finetune" and d["params"]["backbone"] == "efficientnet_lite0" \
                and d["params"].get("finetune_from") == 12 and d["params"].get("image_size", 224) == 224:
            k = (d["seed"], d["fold"])
            if k not in ft or d["created"] > ft[k]["created"]:
                ft[k] = d
    keys = {d["key"] for d in ft.values()}
    lf1 = [d["metrics"]["accuracy"] for d in raw if d["method"] == "sun2016-lf" and d["params"]["global"] in keys
           and d["params"]["ranking"] == "obj+senti" and d["params"]["k"] == 1 and d["params"]["scoring"] == "roialign"]
    assert len(lf1) == len(ft) == 5 * len({seed for seed, _ in ft})  # 5 folds per repetition (fold seed)
    assert t1.loc["ft+obj+senti+lf K=1", "ours"] == pytest.approx(100 * np.mean(lf1))
    assert t1.loc["VGG16+ft", "ours"] == pytest.approx(100 * np.mean([d["metrics"]["accuracy"] for d in ft.values()]))
    assert t1.loc["VGG16+ft", "paper"] == pytest.approx({"five": 86.56, "four": 80.42, "three": 76.93}[subset])


def test_a_clone_without_datasets_reads_the_snapshot(tmp_path, monkeypatch):
    """The chapters read results/published whatever the data root: it needs no dataset."""
    monkeypatch.setenv("VSALIB_DATA", str(tmp_path / "nothing"))
    copy = tmp_path / "pub"
    shutil.copytree(published.published_dir(), copy) if published.published_dir().is_dir() else copy.mkdir()
    assert len(published.load(copy)) == published.record_count() > 0


def test_base_keys_keep_each_dataset_apart(tmp_path):
    provenance.set_run(profile="cpu")
    store = ResultStore(tmp_path / "r")
    for ds, sub in (("twitter1", "five"), ("emotion6", "binary")):
        store.add(_record(tmp_path, dataset=ds, subset=sub))  # same method, seed and fold
    assert len(published.base_keys(store.load(), ["global-finetune"])) == 2


def test_rows_made_by_an_older_method_version_are_marked(tmp_path, monkeypatch):
    from vsalib import real_benchmarks

    provenance.set_run(profile="cpu")
    store = ResultStore(tmp_path / "r")
    for fold in range(2):
        store.add(_record(tmp_path, dataset="twitter1", subset="five", fold=fold, metrics={"accuracy": 0.8}))
    runs = store.load()
    assert "†" not in real_benchmarks.sun2016_table1(runs, "twitter1", "five").to_string()
    monkeypatch.setitem(provenance._METHODS, "global", provenance.MethodVersion("global", 2, {1: "a", 2: "b"}))
    t = real_benchmarks.sun2016_table1(runs, "twitter1", "five").set_index("paper's row")
    assert t.loc["VGG16+ft", "ours %"] == "80.00 ± 0.00 †"
    assert "†" not in t.loc["VGG16", "ours %"]  # no frozen runs here: nothing to mark


def test_a_chapter_shows_the_profiles_fine_tuning_scope_only():
    """-p full_finetune True on the cpu profile writes global-finetune records with finetune_from None beside the
    profile's (from stage 12): a chapter's snapshot view keeps the profile's, one global model per fold."""
    import pandas as pd

    df = pd.DataFrame({"method": ["global-finetune", "global-finetune", "global-frozen", "sun2016-lf",
                                  "global-finetune"],
                       "params.finetune_from": [12.0, None, None, None, 12.0],
                       "params.backbone": ["efficientnet_lite0"] * 4 + ["efficientnet_lite2"]})
    kept = published.profile_runs(df, "cpu")
    assert kept.index.tolist() == [0, 2, 3]  # nor another backbone (a ladder rung)
    paper = df.assign(**{"params.backbone": "vgg16"})
    assert published.profile_runs(paper, "paper").index.tolist() == [1, 2, 3]  # the paper profile: every layer
    assert published.profile_runs(df, None).index.tolist() == [0, 1, 2, 3, 4]
