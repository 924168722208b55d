import ast
import json
import linecache
import os
from pathlib import Path
from unittest import mock

import pytest

from vsalib.data.registry import UnknownNameError
from vsalib.notebook import check_params, described, optional, user_variables
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


def test_check_without_docstring_is_described_in_words_not_by_its_source():
    """No failure message says just "a valid value", nor shows a check's source: an undocumented check's plain
    condition is put in words."""
    with pytest.raises(UnknownNameError) as err:
        check_params(ns(profile="quick", K=0, name=None), SPEC)
    msg = str(err.value)
    assert msg == "parameter K=0 is not valid; expected an int > 0; got an int"
    assert "isinstance" not in msg and "lambda" not in msg and "a valid value" not in msg
    two = {"lo": lambda x: x >= 1, "hi": lambda y: (y in {1, 2,
                                                          3})}  # two lambdas on one line, one spanning two
    with pytest.raises(UnknownNameError, match=r"hi=5 is not valid; expected one of 1, 2, 3; got an int$"):
        check_params({"lo": 1, "hi": 5}, two)
    with pytest.raises(UnknownNameError, match=r"lo=0 is not valid; expected a value >= 1; got an int$"):
        check_params({"lo": 0, "hi": 1}, two)
    with pytest.raises(UnknownNameError, match=r"n=12 is not valid; expected an int in \[0, 10\); got an int$"):
        check_params({"n": 12}, {"n": _is_small})
    # a check that raises on a value of the wrong type still gives the message, not a TypeError
    with pytest.raises(UnknownNameError, match=r"lo='a' is not valid; expected a value >= 1; got a str$"):
        check_params({"lo": "a", "hi": 1}, two)
    # what is read is said, what is not is called a further condition (never shown as code)
    spec = {"name": lambda v: isinstance(v, str) and v.isidentifier(),
            "lam": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1 and v != 0.5,
            "example": lambda v: (isinstance(v, int) and v >= 0) or isinstance(v, str),
            "ks": lambda v: isinstance(v, list) and len(v) > 0 and all(isinstance(x, int) and x >= 1 for x in v)}
    good = {"name": "a", "lam": 1, "example": 0, "ks": [1]}
    for name, bad, expected, got in (
            ("name", "a b", "a str that also meets a further condition of its check", "a str"),
            ("lam", 0.5, "a number in (0, 1], not 0.5", "a float"),
            ("example", 2.5, "either an int >= 0 or a str", "a float"),
            ("ks", [0], "a non-empty list of which each item is an int >= 1", "a list")):
        with pytest.raises(UnknownNameError) as err:
            check_params({**good, name: bad}, spec)
        msg = str(err.value)
        assert msg.startswith(f"parameter {name}={bad!r} is not valid; expected {expected}; got {got}"), msg
        assert "isinstance" not in msg and "lambda" not in msg and "isidentifier" not in msg


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


# -- what a failed check says: the parameter, the value and its type, what is expected; never code ----------
_WRONG_VALUES = ("1,2,3", 2.5, -7, None, True, [object()], {"zz": object()})
_CODE_MARKERS = ("lambda", "isinstance(", "def ", "v:", "`")


def _assert_says_what_failed(name, value, allowed):
    from vsalib.notebook import _describe

    with pytest.raises(UnknownNameError) as err:
        check_params({name: value}, {name: allowed})
    msg = str(err.value)
    assert msg.startswith(f"parameter {name}={value!r} is not valid; expected "), msg
    kind = "None" if value is None else f"a{'n' if type(value).__name__[0] in 'aeiou' else ''} {type(value).__name__}"
    assert f"; got {kind}" in msg, msg
    doc = getattr(allowed, "__doc__", None) if callable(allowed) and not isinstance(allowed, type) else None
    if doc:
        assert " ".join(doc.split()) in msg, msg  # the spec's own description
    assert _describe(allowed) in msg
    assert not any(m in msg for m in _CODE_MARKERS), msg  # never a check's source
    return msg


def test_list_parameter_given_as_text_says_how_to_pass_a_list_with_papermill():
    """papermill's ``-p Ks 1,2,3`` passes the text '1,2,3': the message names the parameter, the value and its type,
    the list expected, and the -y form that passes it."""
    spec = {"Ks": optional(lambda v: isinstance(v, list) and all(isinstance(k, int) for k in v), "a list of ints")}
    msg = _assert_says_what_failed("Ks", "1,2,3", spec["Ks"])
    assert msg.startswith("parameter Ks='1,2,3' is not valid; expected a list of ints or None (the profile's value); "
                          "got a str. A list cannot be passed with papermill's -p")
    assert "-y 'Ks: [1, 2, 3]'" in msg and "-p Ks 1,2,3 gives the text '1,2,3'" in msg
    # the YAML reading the check accepts is the one shown: words, a bracketed list, a space-separated one
    names = {"sets": described(lambda v: isinstance(v, list) and all(s in ("box", "mask") for s in v),
                               "a list of box | mask")}
    assert "-y 'sets: [box, mask]'" in _assert_says_what_failed("sets", "box,mask", names["sets"])
    assert "-y 'Ks: [1, 2]'" in _assert_says_what_failed("Ks", "[1, 2]", spec["Ks"])
    assert "-y 'Ks: [4, 5]'" in _assert_says_what_failed("Ks", "4 5", spec["Ks"])
    # a dict likewise; an undocumented list check too (its condition read as "a list ...")
    dicts = {"weights": lambda v: isinstance(v, dict) and all(isinstance(x, float) for x in v.values())}
    msg = _assert_says_what_failed("weights", "a: 1.0", dicts["weights"])
    assert "A dict cannot be passed" in msg and "-y 'weights: {a: 1.0}'" in msg
    bare = {"seeds": lambda v: isinstance(v, list) and len(v) > 0}
    msg = _assert_says_what_failed("seeds", "0,1", bare["seeds"])
    assert "expected a non-empty list; got a str" in msg and "-y 'seeds: [0, 1]'" in msg
    # the chapters' common list parameter, through setup_chapter
    from vsalib.notebook import setup_chapter

    base = {"profile": "quick", "dataset": None, "subset": None, "backbone": None, "seeds": "1,2,3",
            "data_root": None, "results_dir": None}
    with pytest.raises(UnknownNameError, match=r"seeds='1,2,3' is not valid; expected a non-empty list of ints.*"
                                               r"got a str\. A list .*-y 'seeds: \[1, 2, 3\]'"):
        setup_chapter(base, {})
    # a scalar given as text gets no papermill advice about lists
    msg = _assert_says_what_failed("K", "1,2,3", SPEC["K"])
    assert "list" not in msg and "-y" not in msg


def test_no_builtin_check_failure_shows_code():
    """Every spec of vsalib.notebook (the chapters' common parameters, the profile knobs), given values of the wrong
    type: each message names the parameter, the value and its type, and the spec's own description."""
    from vsalib.notebook import PROFILE_KNOBS, _common_spec, _ok

    specs = {**_common_spec(), **PROFILE_KNOBS}
    failed = 0
    for name, allowed in specs.items():
        for value in _WRONG_VALUES:
            if not _ok(value, allowed):
                _assert_says_what_failed(name, value, allowed)
                failed += 1
    assert failed >= 3 * len(specs)


def _notebook_specs(path: Path) -> dict:
    """The parameter spec of a notebook (the dict given to check_params / setup_chapter), built as the notebook
    builds it: its imports and its ``_helper = lambda ...`` assignments run (the environment left as it was), each
    cell's source registered in linecache as a kernel does (so an undocumented lambda's condition can be read)."""
    with mock.patch.dict(os.environ):  # (own_data sets TQDM_DISABLE)
        return _build_notebook_specs(path)


def _build_notebook_specs(path: Path) -> dict:
    namespace, spec = {}, {}
    for i, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"])
        try:
            tree = ast.parse(src)
        except SyntaxError:  # IPython magics
            continue
        fname = f"<{path.stem} cell {i}>"
        linecache.cache[fname] = (len(src), None, src.splitlines(True), fname)
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)) or (isinstance(node, ast.Assign) and isinstance(
                    node.value, ast.Lambda) and all(isinstance(t, ast.Name) for t in node.targets)):
                exec(compile(ast.Module([node], []), fname, "exec"), namespace)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("check_params", "setup_chapter") \
                    and len(node.args) >= 2 and isinstance(node.args[1], ast.Dict):
                spec.update(eval(compile(ast.Expression(node.args[1]), fname, "eval"), namespace))
    return spec


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb")),
                         ids=lambda p: p.stem)
def test_no_notebook_check_failure_shows_code(path):
    """Each notebook's own spec (many of its checks are bare lambdas) given values of the wrong type: never a
    lambda's source; the message names the parameter, the value and its type, and what is expected."""
    from vsalib.notebook import _ok

    spec = _notebook_specs(path)
    assert spec, f"{path.name}: no check_params / setup_chapter spec found"
    for name, allowed in spec.items():
        bad = [v for v in _WRONG_VALUES if not _ok(v, allowed)]
        assert bad, name
        for value in bad:
            _assert_says_what_failed(name, value, allowed)
