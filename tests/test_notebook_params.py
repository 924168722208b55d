from pathlib import Path

import pytest

from vsalib.data.registry import UnknownNameError
from vsalib.notebook import check_params, optional, user_variables
from vsalib.profiles import PROFILES, dataset_options, resolve_profile

SPEC = {"profile": ("quick", "cpu"), "K": lambda v: isinstance(v, int) and v > 0, "name": optional(str.isidentifier, "an identifier")}


def ns(**kw):
    import math

    from vsalib.emotions import MIKELS_EMOTIONS

    base = {"math": math, "MIKELS_EMOTIONS": MIKELS_EMOTIONS, "_spec": SPEC, "In": [], "check_params": check_params}
    base.update(kw)
    return base


def test_valid_parameters_pass_and_imports_are_ignored():
    assert check_params(ns(profile="quick", K=3, name=None), SPEC) == {"profile": "quick", "K": 3, "name": None}


def test_unknown_parameter_lists_valid_ones():
    with pytest.raises(UnknownNameError, match=r"'k'.*valid parameters: K, name, profile"):
        check_params(ns(profile="quick", K=3, name=None, k=5), SPEC)


def test_invalid_value_names_the_allowed_ones():
    with pytest.raises(UnknownNameError, match=r"profile='gpu'.*'quick', 'cpu'"):
        check_params(ns(profile="gpu", K=3, name=None), SPEC)
    with pytest.raises(UnknownNameError, match="K=0"):
        check_params(ns(profile="quick", K=0, name=None), SPEC)
    with pytest.raises(UnknownNameError, match="identifier or None"):
        check_params(ns(profile="quick", K=1, name="a b"), SPEC)


def test_missing_parameter():
    with pytest.raises(UnknownNameError, match="'name' is missing"):
        check_params(ns(profile="quick", K=3), SPEC)


def test_user_variables_keeps_a_parameter_equal_to_a_constant_value():
    # a parameter that *equals* an imported constant's value is still a parameter
    assert "alpha" in user_variables({"alpha": (1, 2)})


def test_profiles_resolve_and_override():
    cfg = resolve_profile("cpu", epochs=3, backbone=None)
    assert cfg["epochs"] == 3 and cfg["backbone"] == PROFILES["cpu"]["backbone"] and cfg["profile"] == "cpu"
    with pytest.raises(UnknownNameError, match="quick, cpu, paper"):
        resolve_profile("laptop")
    with pytest.raises(UnknownNameError, match="valid"):
        resolve_profile("quick", epoch=3)


def test_dataset_options_fill_the_default_subset():
    assert dataset_options("twitter1", None) == ("five", {"subset": "five"})
    assert dataset_options("emotion6", "dominant_binary") == ("dominant_binary", {"labels": "dominant_binary"})
    assert dataset_options("synthetic", None, n_images=64, image_size=64) == (
        "binary", {"labels": "binary", "n_images": 64, "size": 64})
    assert dataset_options("twitter2", None) == (None, {})
    with pytest.raises(UnknownNameError):
        dataset_options("twitter2", "five")


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb")),
                         ids=lambda p: p.stem)
def test_papermill_reads_every_parameter(path):
    """papermill's own parser (``--help-notebook``, ``-p`` checks) finds every parameter of the cell."""
    import ast

    import nbformat
    from papermill.inspection import inspect_notebook

    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    names = {t.id for node in ast.parse(cell.source).body if isinstance(node, ast.Assign)
             for t in node.targets if isinstance(t, ast.Name)}
    assert set(inspect_notebook(str(path))) == names


def _is_small(v):
    return isinstance(v, int) and 0 <= v < 10


def test_check_without_docstring_is_described_by_its_source():
    """No failure message says just "a valid value": an undocumented check shows its condition."""
    with pytest.raises(UnknownNameError) as err:
        check_params(ns(profile="quick", K=0, name=None), SPEC)
    assert "isinstance(v, int) and v > 0" in str(err.value) and "a valid value" not in str(err.value)
    two = {"lo": lambda x: x >= 1, "hi": lambda y: (y in {1, 2,
                                                          3})}  # two lambdas on one line, one spanning two
    with pytest.raises(UnknownNameError, match=r"hi=5 is not valid; expected a value y for which `y in \{1, 2, 3\}`"):
        check_params({"lo": 1, "hi": 5}, two)
    with pytest.raises(UnknownNameError, match=r"lo=0 is not valid; expected a value x for which `x >= 1` is true"):
        check_params({"lo": 0, "hi": 1}, two)
    with pytest.raises(UnknownNameError, match=r"expected a value v for which `isinstance\(v, int\) and 0 <= v < 10`"):
        check_params({"n": 12}, {"n": _is_small})
    # a check that raises on a value of the wrong type still gives the message, not a TypeError
    with pytest.raises(UnknownNameError, match=r"lo='a' is not valid; expected a value x for which `x >= 1`"):
        check_params({"lo": "a", "hi": 1}, two)


def test_check_without_source_still_says_what_to_do():
    check = eval("lambda v: v > 0")  # no source file to read
    with pytest.raises(UnknownNameError) as err:
        check_params({"n": 0}, {"n": check})
    assert "a valid value" not in str(err.value) and "docstring" in str(err.value)


def test_optional_and_described_need_a_description():
    from vsalib.notebook import described

    with pytest.raises(ValueError, match="description"):
        optional(lambda v: v > 0, "")
    with pytest.raises(ValueError, match="description"):
        described(lambda v: v > 0, "  ")
    spec = {"n": described(lambda v: isinstance(v, int) and v >= 32, "an int >= 32")}
    assert check_params({"n": 64}, spec) == {"n": 64}
    with pytest.raises(UnknownNameError, match="n=8 is not valid; expected an int >= 32"):
        check_params({"n": 8}, spec)


def test_setup_chapter_checks_the_common_parameters_and_resolves_the_profile(tmp_path):
    from vsalib.notebook import setup_chapter

    base = {"profile": "cpu", "dataset": None, "subset": None, "backbone": None, "seeds": None, "data_root": None,
            "results_dir": str(tmp_path), "folds": None, "K": 3}
    own = {"K": lambda v: isinstance(v, int) and v > 0}
    ch = setup_chapter(dict(base), own, knobs=("folds",))
    assert ch.cfg["dataset"] == "twitter1" and ch.subset == "five" and ch.options == {"subset": "five"}
    assert ch.params["K"] == 3 and str(ch.store.path) == str(tmp_path)
    # the chapter's defaults apply to what is left at None; the profile's subset stays with its dataset
    ch = setup_chapter(dict(base), own, knobs=("folds",), defaults=lambda p: {"dataset": "emotion6", "seeds": [0, 1]})
    assert ch.cfg["dataset"] == "emotion6" and ch.subset == "binary" and ch.cfg["seeds"] == [0, 1]
    ch = setup_chapter({**base, "dataset": "twitter1", "seeds": [4]}, own, knobs=("folds",),
                       defaults={"dataset": "emotion6", "seeds": [0, 1]})
    assert ch.cfg["dataset"] == "twitter1" and ch.cfg["seeds"] == [4]
    with pytest.raises(UnknownNameError, match="'folds' is missing"):
        setup_chapter({k: v for k, v in base.items() if k != "folds"}, own, knobs=("folds",))
    with pytest.raises(UnknownNameError, match="seeds=\\[\\].*non-empty list of ints"):
        setup_chapter({**base, "seeds": []}, own, knobs=("folds",))
    with pytest.raises(UnknownNameError, match="unknown profile knob"):
        setup_chapter(dict(base), own, knobs=("lr",))
