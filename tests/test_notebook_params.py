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
