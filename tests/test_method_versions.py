"""A method's numbers change only with its version: one synthetic fold of every method against the
reference numbers kept with the version that made them (tests/method_reference.json).

The comparison holds on another CPU (counted numbers exactly, continuous ones to the float32 spread measured
over thread counts and instruction sets, ``tests/method_reference.py --spread``), and still fails when a
formula changes by one line."""

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
import method_reference as ref  # noqa: E402

from vsalib import provenance  # noqa: E402
from vsalib.methods import base, import_all  # noqa: E402


def _reference() -> dict:
    return json.loads(ref.REFERENCE.read_text(encoding="utf-8"))


@pytest.mark.slow
def test_every_method_gives_its_reference_numbers():
    current = ref.compute()
    import_all()
    assert set(current) == set(provenance.declared_methods()) == set(ref.FAMILIES)  # every method has a reference
    problems = ref.compare(current, _reference())
    assert not problems, "\n".join(problems)


def test_compare_catches_changed_numbers_and_versions():
    cur = {"m": {"version": 2, "metrics": {"a accuracy": 0.5, "b sum": 0.75}}}
    assert ref.compare(cur, {"m": {"version": 2, "metrics": {"a accuracy": 0.5, "b sum": 0.75}}}) == []
    changed = ref.compare(cur, {"m": {"version": 2, "metrics": {"a accuracy": 0.5, "b sum": 0.70}}})
    assert len(changed) == 1 and "did not" in changed[0] and "b sum (continuous): 0.7 -> 0.75" in changed[0]
    assert "version 2" in ref.compare(cur, {"m": {"version": 1, "metrics": {"a accuracy": 0.5, "b sum": 0.75}}})[0]
    assert "Missing: c" in ref.compare(cur, {"m": {"version": 2, "metrics": {"a accuracy": 0.5, "b sum": 0.75,
                                                                             "c": 1.0}}})[0]
    assert "no reference" in ref.compare(cur, {})[0]


def test_every_reference_number_has_a_kind_and_counts_are_counts():
    kinds = {k: ref.kind(k) for fam in _reference().values() for k in fam["metrics"]}
    assert set(kinds.values()) == set(ref.TOLERANCES)  # each kind is used
    assert ref.kind("global-finetune {} seed=0 fold=0 val_accuracy") == "counted"
    assert ref.kind("roialign64 senti_top1_iou") == "continuous"  # an IoU's value, not a count
    assert ref.kind("roialign64 senti_top1_iou50") == "counted"  # how many top-1 regions overlap by half
    assert ref.kind("crop_jitter2 p_positive_pearson") == "correlation"
    assert ref.kind("eq1 senti sum") == "continuous"
    for fam in _reference().values():  # a per-image prediction code and a count are whole numbers
        for k, v in fam["metrics"].items():
            if k.endswith((" y_pred", " regions", " zero_weights", " images")):
                assert float(v).is_integer(), k


def test_float_noise_passes_and_one_step_of_a_count_fails():
    """Every number moved by the largest float32 spread measured for its kind passes; one more right answer in
    one accuracy, one changed prediction code, or a continuous number moved past its tolerance fails."""
    reference = _reference()
    worst = {"counted": 0.0, "correlation": 1.5e-3, "continuous": 1.2e-4}  # ref.TOLERANCES' docstring
    noisy = json.loads(json.dumps(reference))
    for fam in noisy.values():
        for k, v in fam["metrics"].items():
            fam["metrics"][k] = v + worst[ref.kind(k)] * max(1.0, abs(v)) * (-1) ** len(k)
    assert ref.compare(noisy, reference) == []
    for name, step in (("accuracy", 1 / 64), ("y_pred", 1.0), ("eq1 senti sum", None), ("pearson", None)):
        moved = json.loads(json.dumps(reference))
        fam, key = next((f, k) for f, d in moved.items() for k in d["metrics"] if k.endswith(name))
        v = moved[fam]["metrics"][key]
        moved[fam]["metrics"][key] = v + (step or 2 * ref.TOLERANCES[ref.kind(key)] * max(1.0, abs(v)))
        problems = ref.compare(moved, reference)
        assert len(problems) == 1 and key in problems[0], name


def test_the_spread_measure_reads_each_kind_apart():
    base = {"f": {"version": 1, "metrics": {"x accuracy": 0.5, "s sum": 10.0, "r p_positive_pearson": 0.2}}}
    other = {"f": {"version": 1, "metrics": {"x accuracy": 0.5, "s sum": 10.001, "r p_positive_pearson": 0.2003}}}
    s = ref.spread({"default": base, "capped": other}, "default")["capped"]
    assert s["counted"] == (0.0, "", 0)
    assert s["continuous"][0] == pytest.approx(1e-4) and s["continuous"][1:] == ("f: s sum", 1)
    assert s["correlation"][0] == pytest.approx(3e-4) and s["correlation"][2] == 1


@pytest.mark.slow
def test_a_one_line_change_of_a_formula_fails(monkeypatch):
    """Mutations: Eq. 1 with the natural log (the docstring's log base ignored), and the majority baseline's
    class index off by one. Each changes its family's numbers without a version bump: the test fails."""
    from vsalib.methods import majority
    from vsalib.methods.base import Trained
    from vsalib.regions import scoring

    reference = _reference()
    assert ref.compare(ref.compute(families=["majority"]), reference) == []
    monkeypatch.setattr(majority.MajorityClass, "train", lambda self, fold, store: Trained(
        fold.id, int(np.bincount(fold.labels("train"), minlength=len(fold.classes)).argmax() + 1) % len(fold.classes)))
    problems = ref.compare(ref.compute(families=["majority"]), reference)
    assert len(problems) == 1 and problems[0].startswith("majority: its numbers changed") and "y_pred" in problems[0]

    monkeypatch.setattr(scoring, "senti_score", lambda probs, log_base=2.0: 1.0 + torch.special.xlogy(
        torch.as_tensor(probs), torch.as_tensor(probs)).sum(-1))  # was: ... .sum(-1) / math.log(log_base)
    current = ref.compute(families=["sun2016"])
    assert set(current) == {"sun2016"}
    problems = ref.compare(current, reference)
    assert len(problems) == 1 and problems[0].startswith("sun2016: its numbers changed") and "eq1 senti sum" in \
        problems[0]
    mutated, kept = current["sun2016"]["metrics"]["eq1 senti sum"], reference["sun2016"]["metrics"]["eq1 senti sum"]
    assert abs(mutated - kept) > 100 * ref.TOLERANCES["continuous"] * max(1.0, abs(kept))
    assert not math.isclose(mutated, kept, rel_tol=0.01)


def test_staleness_names_what_changed(monkeypatch):
    import_all()  # the method modules declare their versions when imported
    monkeypatch.setitem(provenance._METHODS, "toy", provenance.MethodVersion(
        "toy", 3, {1: "first", 2: "crop scoring", 3: "natural log"}, ("global",)))
    prov = {"method": {"family": "toy", "version": 1, "depends": {"global": provenance._METHODS["global"].version}}}
    why = provenance.staleness(prov)
    assert why == "toy v1 → v3 (v2: crop scoring; v3: natural log)"
    assert provenance.staleness({"method": {"family": "toy", "version": 3, "depends": {}}}) is None
    assert "before method versions" in provenance.staleness({})
    with pytest.raises(ValueError, match="say what version 2 changed"):
        provenance.declare_method("toy2", 2, changes={1: "x"})


def test_every_registered_method_carries_its_family_version():
    """The version lives on the registered class: the one provenance stamps on its records."""
    for name in base.list_methods():
        cls = base.method_class(name)
        assert cls.version is provenance.method_version(name), name
        assert cls.version.family == provenance.method_family(name)


def test_a_method_without_its_version_is_refused():
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class ToyConfig:
        pass

    class Toy(base.Method):
        name, Config = "toy-method", ToyConfig

        def train(self, fold, store):  # pragma: no cover - never run
            raise NotImplementedError

        def evaluate(self, fold, trained):  # pragma: no cover - never run
            raise NotImplementedError

    with pytest.raises(TypeError, match="declare_method\\('toy'"):
        base.register_method(Toy)
    Toy.version = provenance.MethodVersion("global", 1, {1: "x"})  # another family's version
    with pytest.raises(TypeError, match="declared version of its record family"):
        base.register_method(Toy)
    assert "toy-method" not in base.list_methods()

