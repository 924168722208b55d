"""Published figures: the package copy holds every shared row; paper-vs-ours tables."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pandas as pd
import pytest

from vsalib import targets
from vsalib.targets import PAPERS, beside_ours, compare, published

SHARED_CSV = Path(__file__).resolve().parents[2] / "shared" / "papers" / "targets.csv"
PACKAGE_CSV = Path(targets.__file__).with_name("targets.csv")


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_package_csv_has_columns_and_sources():
    df = published()
    assert list(df.columns) == list(targets.COLUMNS)
    assert len(df) == len(_rows(PACKAGE_CSV))
    assert set(df["paper"]) == set(PAPERS)
    for key, citation in PAPERS.items():
        assert (df.loc[df.paper == key, "source"] == citation).all()
    assert not df.duplicated(["paper", "table", "method", "dataset", "classes"]).any()
    assert df["accuracy"].between(0, 100).all()


@pytest.mark.skipif(not SHARED_CSV.exists(), reason="shared targets.csv not beside the repo")
def test_every_shared_row_present():
    ours = {
        (r["paper"], int(r["table"]), r["method"], r["dataset"], int(r["classes"])): r
        for r in _rows(PACKAGE_CSV)
    }
    shared = _rows(SHARED_CSV)
    assert len(shared) == len(ours)
    for r in shared:
        key = (r["paper"], int(r["table"]), r["method"], r["dataset"], int(r["classes"]))
        assert key in ours, key
        assert float(ours[key]["accuracy"]) == float(r["accuracy"]), key
        assert ours[key]["note"] == r["note"], key


def test_published_values():
    row = published(paper="sun2016", table=1, method="VGG16", dataset="twitter1-5")
    assert len(row) == 1 and row["accuracy"].iloc[0] == 83.51
    assert row["source"].iloc[0].endswith("ICME 2016")
    best = published(paper="sun2016", method="ft+obj+senti+lf best K", dataset="twitter1-4")
    assert best["accuracy"].iloc[0] == 84.90 and best["note"].iloc[0] == "K=13"
    rao_fi = published(paper="rao", table=3, method="MultiLevelRCNN", dataset="fi")
    assert sorted(rao_fi["classes"]) == [2, 8]
    assert published(paper="rao", table=3, method="MultiLevelRCNN", dataset="fi", classes=8)[
        "accuracy"
    ].iloc[0] == 75.46
    assert published(paper="wsidnet", table=2, dataset="emotionroi")["accuracy"].iloc[0] == 77.02
    assert published(paper="rcnngsr", method="R-CNNGSR", dataset="emotion6")["accuracy"].iloc[0] == 81.36
    assert published(paper="attr_attention", method="AttrAttention")["accuracy"].iloc[0] == 99
    two = published(paper=["sun2016", "wsidnet"], dataset=["twitter2"], method="VGG16")
    assert sorted(two["accuracy"]) == [71.79, 72.82]
    assert published(paper="sun2016", dataset="no-such").empty
    with pytest.raises(ValueError, match="valid keys"):
        published(paper="sun")


@pytest.fixture
def summary() -> pd.DataFrame:
    # what evaluate.summarize gives: fractions
    return pd.DataFrame(
        {
            "dataset": ["twitter1", "twitter1", "twitter1", "twitter2"],
            "subset": ["five", "five", "four", None],
            "method": ["frozen", "finetune", "frozen", "frozen"],
            "mean": [0.84, 0.87, 0.79, 0.73],
            "ci95": [0.01, 0.02, 0.015, float("nan")],
            "std": [0.01, 0.02, 0.01, float("nan")],
            "n": [5, 5, 5, 1],
        }
    )


def test_compare_long(summary):
    long = compare(
        summary, paper="sun2016", table=1,
        methods={"VGG16": "frozen", "VGG16+ft": "finetune", "SentiBank": None},
        datasets={"twitter1-5": ("twitter1", "five"), "twitter1-4": ("twitter1", "four"),
                  "twitter2": {"dataset": "twitter2", "subset": None}},
    )
    assert len(long) == 9
    r = long[(long.method == "VGG16") & (long.dataset == "twitter1-5")].iloc[0]
    assert r.paper == 83.51 and r.ours == pytest.approx(84.0) and r.ci95 == pytest.approx(1.0)
    assert r.n == 5 and r.delta == pytest.approx(0.49)
    assert r.ours_rows == "dataset=twitter1, subset=five, method=frozen"
    ft4 = long[(long.method == "VGG16+ft") & (long.dataset == "twitter1-4")].iloc[0]
    assert ft4.paper == 80.42 and math.isnan(ft4.ours) and ft4.n == 0
    sb = long[long.method == "SentiBank"]
    assert sb["ours"].isna().all() and list(sb["paper"]) == [71.02, 67.68, 67.56]


def test_beside_ours_wide(summary):
    wide = beside_ours(
        summary, paper="sun2016", table=1,
        methods={"VGG16": "frozen", "VGG16+ft": "finetune"},
        datasets={"twitter1-5": ("twitter1", "five"), "twitter2": {"dataset": "twitter2", "subset": None}},
    )
    assert list(wide.index) == ["VGG16", "VGG16+ft"]
    assert list(wide.columns) == [("twitter1-5", "paper"), ("twitter1-5", "ours"),
                                  ("twitter2", "paper"), ("twitter2", "ours")]
    assert wide.loc["VGG16", ("twitter1-5", "paper")] == "83.51"
    assert wide.loc["VGG16", ("twitter1-5", "ours")] == "84.00 ± 1.00"
    assert wide.loc["VGG16+ft", ("twitter1-5", "ours")] == "87.00 ± 2.00"
    assert wide.loc["VGG16", ("twitter2", "ours")] == "73.00 (n=1)"
    assert wide.loc["VGG16+ft", ("twitter2", "ours")] == "–"
    assert wide.loc["VGG16+ft", ("twitter2", "paper")] == "72.30"


def test_compare_errors(summary):
    with pytest.raises(ValueError, match="no method"):
        compare(summary, "sun2016", 1, methods={"VGG-16": "frozen"}, datasets={"twitter2": "twitter2"})
    with pytest.raises(ValueError, match="no dataset"):
        compare(summary, "sun2016", 1, methods={"VGG16": "frozen"}, datasets={"twitter": "twitter2"})
    with pytest.raises(ValueError, match="no table"):
        compare(summary, "sun2016", 7, methods={}, datasets={})
    # Rao's table 3 has 8- and 2-class columns: classes= is required
    rao = pd.DataFrame({"dataset": ["fi"], "method": ["mlrcnn"], "mean": [0.7], "ci95": [0.01], "n": [3]})
    with pytest.raises(ValueError, match="classes="):
        compare(rao, "rao", 3, methods={"MultiLevelRCNN": "mlrcnn"}, datasets={"fi": "fi"})
    r = compare(rao, "rao", 3, methods={"MultiLevelRCNN": "mlrcnn"}, datasets={"fi": "fi"}, classes=8)
    assert r["paper"].iloc[0] == 75.46 and r["ours"].iloc[0] == pytest.approx(70.0)
    # twitter1 without a subset matches two rows of ours
    with pytest.raises(ValueError, match="match"):
        compare(summary, "sun2016", 1, methods={"VGG16": "frozen"}, datasets={"twitter1-5": "twitter1"})
    with pytest.raises(KeyError):
        compare(summary, "sun2016", 1, methods={"VGG16": {"method": "frozen", "protocol": "x"}},
                datasets={"twitter2": "twitter2"})


def test_store_to_summary_to_table(tmp_path):
    from vsalib.evaluate import summarize
    from vsalib.results import Record, ResultStore

    store = ResultStore(tmp_path)
    for fold, acc in enumerate([0.8, 0.9]):
        store.add(Record(dataset="twitter1", subset="five", protocol="kfold5", method="frozen",
                         seed=0, fold=fold, metrics={"accuracy": acc}))
    s = summarize(store.load(), by=["dataset", "subset", "method"])
    wide = beside_ours(s, paper="sun2016", table=1, methods={"VGG16": "frozen"},
                       datasets={"twitter1-5": ("twitter1", "five")})
    # 85 ± t_{0.975,1} * 5 = 85 ± 63.53 (two folds: a wide interval)
    assert wide.loc["VGG16", ("twitter1-5", "ours")] == "85.00 ± 63.53"
    long = compare(s, "sun2016", 1, methods={"VGG16": "frozen"},
                   datasets={"twitter1-5": ("twitter1", "five")}, ci_col="ci95")
    assert long["n"].iloc[0] == 2
