"""Published figures: the package copy holds every shared row; paper-beside-ours tables from a card."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from vsalib import targets
from vsalib.targets import papers, published

SHARED_CSV = Path(__file__).resolve().parents[2] / "shared" / "papers" / "targets.csv"
PACKAGE_CSV = Path(targets.__file__).with_name("targets.csv")


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_package_csv_has_columns_and_sources():
    df = published()
    assert list(df.columns) == list(targets.COLUMNS)
    assert len(df) == len(_rows(PACKAGE_CSV))
    cited = papers()  # one citation per paper, read from its rows
    assert set(df["paper"]) == set(cited) == {"sun2016", "rcnngsr", "wsidnet", "rao", "attr_attention"}
    for key, citation in cited.items():
        assert (df.loc[df.paper == key, "source"] == citation).all()
    assert cited["sun2016"].startswith("Sun, Yang, Wang, Shen. Discovering affective regions")
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


def _store_runs(tmp_path, rows):
    """A results store holding ``(dataset, subset, method, params, fold, accuracy)`` records, as a table."""
    from vsalib.results import Record, ResultStore

    store = ResultStore(tmp_path)
    for ds, subset, method, params, fold, acc in rows:
        store.add(Record(dataset=ds, subset=subset, protocol="kfold5", method=method, params=params, seed=0,
                         fold=fold, metrics={"accuracy": acc}))
    return store.load()


def test_card_table_puts_the_papers_figures_beside_ours(tmp_path):
    from vsalib.methods.sun2016 import CARD
    from vsalib.report import card_table

    runs = _store_runs(tmp_path, [("twitter1", "five", "global-frozen", {}, 0, 0.8),
                                  ("twitter1", "five", "global-frozen", {}, 1, 0.9),
                                  ("twitter1", "five", "sun2016-lf", {"ranking": "obj", "k": 1}, 0, 0.7),
                                  ("twitter1", "five", "sun2016-lf", {"ranking": "obj", "k": 2}, 0, 0.1)])
    t = card_table(CARD, runs, "twitter1", "five").set_index("row")
    # 85 ± t_{0.975,1} * 5 = 85 ± 63.53 (two folds: a wide interval); the paper's Table 1: 83.51
    assert t.loc["VGG16", "paper"] == 83.51 and t.loc["VGG16", "runs"] == 2
    assert t.loc["VGG16", "ours"] == pytest.approx(85.0) and t.loc["VGG16", "ci95"] == pytest.approx(63.53, abs=5e-3)
    # a row's params pick its records: obj, K = 1 only (one fold: no interval)
    assert t.loc["ft+obj+lf K=1", "ours"] == pytest.approx(70.0) and t.loc["ft+obj+lf K=1", "runs"] == 1
    assert math.isnan(t.loc["ft+obj+lf K=1", "ci95"])
    assert t.loc["VGG16+ft", "runs"] == 0 and math.isnan(t.loc["VGG16+ft", "ours"])
    # another column of the paper: Twitter I four-agree; a dataset the paper has no column for: no paper figure
    assert card_table(CARD, runs, "twitter1", "four").set_index("row").loc["VGG16", "paper"] == 78.89
    assert card_table(CARD, runs, "emotion6", None)["paper"].isna().all()


def test_card_claims_pair_folds(tmp_path):
    from vsalib.methods.sun2016 import CARD
    from vsalib.report import card_claims, row_values

    # fine-tuning against frozen, three folds: +4, +5, +6 points -> mean 5, sd 1; 5-fold records, so the corrected
    # half-width is t_{0.975,2} sqrt(1/3 + 1/4) = 3.29 (Nadeau and Bengio), not t_{0.975,2} / sqrt(3) = 2.48
    rows = [("twitter2", None, "global-frozen", {}, f, a) for f, a in enumerate([0.70, 0.70, 0.70])] + \
           [("twitter2", None, "global-finetune", {}, f, a) for f, a in enumerate([0.74, 0.75, 0.76])]
    runs = _store_runs(tmp_path, rows)
    c = card_claims(CARD, row_values(CARD, runs, "twitter2"), runs).set_index("claim")
    ft = c.loc["fine-tuning helps"]
    assert ft["paper gain"] == pytest.approx(72.30 - 72.82)  # Sun2016 Table 1, Twitter II
    assert ft["our gain"] == pytest.approx(5.0) and ft["ci95"] == pytest.approx(4.303 * math.sqrt(1 / 3 + 1 / 4), rel=1e-3)
    assert ft["detectable"] > ft["ci95"]  # the 80 %-power gain lies beyond the interval's half-width
    assert ft["folds"] == 3 and ft["verdict"] == "held"
    assert c.loc["late fusion beats early fusion", "verdict"] == "–"  # no runs of either row
    assert c.loc["the best K beats K = 1 (K chosen on test)", "verdict"] == "–"  # a derived row not computed


def test_a_paper_cited_two_ways_is_refused(monkeypatch):
    """A paper's citation is read from its rows' ``source``: rows that cite one paper two ways are an error."""
    two = targets._table().head(2).assign(paper="sun2016", source=["Sun 2016", "Sun et al. 2016"])
    monkeypatch.setattr(targets, "_table", lambda: two)
    with pytest.raises(RuntimeError, match=r"papers \['sun2016'\] more than one source"):
        targets._papers.__wrapped__()
