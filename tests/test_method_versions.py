"""A method's numbers change only with its version: one synthetic fold of every method against the
reference numbers kept with the version that made them (tests/method_reference.json)."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import method_reference as ref  # noqa: E402

from vsalib import provenance  # noqa: E402


@pytest.mark.slow
def test_every_method_gives_its_reference_numbers():
    current = ref.compute()
    assert set(current) == set(provenance.declared_methods())  # every declared method has a reference
    problems = ref.compare(current, json.loads(ref.REFERENCE.read_text(encoding="utf-8")))
    assert not problems, "\n".join(problems)


def test_compare_catches_changed_numbers_and_versions():
    cur = {"m": {"version": 2, "metrics": {"a": 0.5, "b": 0.75}}}
    assert ref.compare(cur, {"m": {"version": 2, "metrics": {"a": 0.5, "b": 0.75}}}) == []
    changed = ref.compare(cur, {"m": {"version": 2, "metrics": {"a": 0.5, "b": 0.70}}})
    assert len(changed) == 1 and "did not" in changed[0] and "b: 0.7 -> 0.75" in changed[0]
    assert "version 2" in ref.compare(cur, {"m": {"version": 1, "metrics": {"a": 0.5, "b": 0.75}}})[0]
    assert "Missing: c" in ref.compare(cur, {"m": {"version": 2, "metrics": {"a": 0.5, "b": 0.75, "c": 1.0}}})[0]
    assert "no reference" in ref.compare(cur, {})[0]


def test_staleness_names_what_changed(monkeypatch):
    provenance.declared_methods()  # the method modules declare their versions when imported
    monkeypatch.setitem(provenance._METHODS, "toy", provenance.MethodVersion(
        "toy", 3, {1: "first", 2: "crop scoring", 3: "natural log"}, ("global",)))
    prov = {"method": {"family": "toy", "version": 1, "depends": {"global": provenance._METHODS["global"].version}}}
    why = provenance.staleness(prov)
    assert why == "toy v1 → v3 (v2: crop scoring; v3: natural log)"
    assert provenance.staleness({"method": {"family": "toy", "version": 3, "depends": {}}}) is None
    assert "before method versions" in provenance.staleness({})
    with pytest.raises(ValueError, match="say what version 2 changed"):
        provenance.declare_method("toy2", 2, changes={1: "x"})
