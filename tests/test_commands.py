"""Every command that the README and the book print works: papermill commands through parameter
resolution and dataset lookup (on fixture datasets in their published layouts), make targets by a dry run.

Also: every chapter resolves its parameters for every registered dataset under every profile, so that
no dataset the loaders accept is unreachable from a chapter.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "data"))
from test_loaders import WRITERS  # noqa: E402  (the loaders' fixture writers)

from vsalib.data import list_datasets, load_dataset  # noqa: E402
from vsalib.profiles import PROFILES  # noqa: E402

PAGES = [ROOT / "README.md", *sorted((ROOT / "book").glob("*.md"))]
CHAPTERS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def printed_commands() -> list[tuple[str, str]]:
    """``(page, command)`` for every shell command in a fenced bash block of the README and the book."""
    out = []
    for page in PAGES:
        for block in re.findall(r"```(?:bash|sh|shell)\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S):
            joined = re.sub(r"\\\n\s*", " ", block)
            for line in joined.splitlines():
                line = line.split(" #", 1)[0].strip() if not line.lstrip().startswith("#") else ""
                if line:
                    out.append((page.name, line))
    return out


def _papermill_params(argv: list[str]) -> tuple[str, dict]:
    """The notebook and the parameters of a papermill command line, parsed as papermill parses them."""
    from papermill.cli import _resolve_type

    notebook, params, i = None, {}, 1
    positional = []
    while i < len(argv):
        a = argv[i]
        if a in ("-p", "--parameters"):
            params[argv[i + 1]] = _resolve_type(argv[i + 2])
            i += 3
        elif a in ("-r", "--parameters_raw"):
            params[argv[i + 1]] = argv[i + 2]
            i += 3
        elif a in ("-y", "--parameters_yaml"):
            params.update(yaml.safe_load(argv[i + 1]))
            i += 2
        elif a.startswith("-"):
            raise AssertionError(f"unexpected papermill option {a} in a printed command")
        else:
            positional.append(a)
            i += 1
    notebook = positional[0]
    return notebook, params


def resolve_chapter(notebook: Path, params: dict, data_root: Path) -> dict:
    """Run a chapter up to its parameter checks with ``params`` injected, then look its dataset up and
    load it from ``data_root``. Returns the chapter's namespace."""
    nb = nbformat.read(notebook, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    p = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
    ns: dict = {"display": lambda *a, **k: None}
    for c in cells[:p + 1]:
        exec(compile(c.source, str(notebook), "exec"), ns)
    for k, v in params.items():
        ns[k] = v
    exec(compile(cells[p + 1].source, str(notebook), "exec"), ns)  # the checks and resolution
    ds = load_dataset(ns["cfg"]["dataset"], data_root=str(data_root), **ns["options"])
    assert len(ds) > 0
    ns["ds"] = ds
    return ns


@pytest.fixture(scope="module")
def fixture_root(tmp_path_factory):
    """Every file-based dataset in its published layout, tiny."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_tests_conftest", ROOT / "tests" / "conftest.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    root = tmp_path_factory.mktemp("data")
    for writer in WRITERS.values():
        writer(root, mod.write_test_image)
    return root


COMMANDS = printed_commands()


def exercise_commands() -> list[tuple[str, str]]:
    """``(notebook, command)`` for every full papermill command a chapter's text prints (its exercises),
    and every ``-p name value`` / ``-y "..."`` fragment, run against that chapter."""
    out = []
    for nb in CHAPTERS:
        for cell in nbformat.read(nb, as_version=4).cells:
            if cell.cell_type != "markdown":
                continue
            for cmd in re.findall(r"`(papermill notebooks/[^`]+)`", cell.source):
                out.append((nb.name, ".venv/bin/" + cmd))
            for frag in re.findall(r"`((?:-[py] [^`]+))`", cell.source):
                if "..." in frag or "<" in frag:  # a pattern for the reader to fill, not a command
                    continue
                out.append((nb.name, f".venv/bin/papermill notebooks/{nb.name} out.ipynb {frag}"))
    return out


def test_the_pages_print_commands():
    kinds = {c.split()[0] for _, c in COMMANDS}
    assert {".venv/bin/papermill", "make"} <= kinds


@pytest.mark.parametrize("page,command", [c for c in COMMANDS if "papermill" in c[1].split()[0]],
                         ids=lambda x: x if len(x) < 40 else x[:40])
def test_printed_papermill_command_resolves(page, command, fixture_root, monkeypatch, tmp_path):
    monkeypatch.setenv("VSALIB_DATA", str(fixture_root))
    monkeypatch.setenv("VSALIB_RESULTS", str(tmp_path / "results"))
    argv = shlex.split(command)
    notebook, params = _papermill_params(argv)
    path = ROOT / notebook
    assert path.is_file(), f"{page}: {notebook} does not exist"
    if params.get("backbone") in ("vgg16", "resnet101"):
        params = {**params}  # weights are not here; the resolution does not build the backbone
    resolve_chapter(path, params, fixture_root)


@pytest.mark.parametrize("page,command", [c for c in COMMANDS if c[1].split()[0] == "make"], ids=lambda x: x[:40])
def test_printed_make_command_exists(page, command):
    argv = shlex.split(command)
    out = subprocess.run(["make", "-n", *argv[1:]], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, f"{page}: `{command}`: {out.stderr}"


@pytest.mark.parametrize("profile", list(PROFILES))
@pytest.mark.parametrize("notebook", [c for c in CHAPTERS if c.stem not in ("datasets", "scoreboard", "regions_help", "own_data")],
                         ids=lambda p: p.stem)
def test_every_chapter_reaches_every_dataset(notebook, profile, fixture_root, monkeypatch, tmp_path):
    monkeypatch.setenv("VSALIB_RESULTS", str(tmp_path / "results"))
    for name in list_datasets():
        if name == "synthetic":
            continue
        ns = resolve_chapter(notebook, {"profile": profile, "dataset": name}, fixture_root)
        assert ns["ds"].name == name, (notebook.stem, profile, name)


@pytest.mark.parametrize("profile", list(PROFILES))
@pytest.mark.parametrize("notebook", [c for c in CHAPTERS if c.stem not in ("datasets", "scoreboard", "regions_help", "own_data")],
                         ids=lambda p: p.stem)
def test_every_chapter_reaches_an_own_dataset(notebook, profile, fixture_root, monkeypatch, tmp_path):
    """``-p dataset my_scenes -p data_root <folder>``: a folder with vsalib_labels.csv, found by name."""
    monkeypatch.setenv("VSALIB_RESULTS", str(tmp_path / "results"))
    monkeypatch.delenv("VSALIB_DATA", raising=False)
    ns = resolve_chapter(notebook, {"profile": profile, "dataset": "my_scenes", "data_root": str(fixture_root)},
                         fixture_root)
    assert ns["ds"].name == "my_scenes" and len(ns["ds"]) == 16


@pytest.mark.parametrize("page,command", exercise_commands(), ids=lambda x: x if len(x) < 50 else x[-50:])
def test_commands_in_the_chapters_text_resolve(page, command, fixture_root, monkeypatch, tmp_path):
    """The exercises' commands (and the -p/-y fragments the text suggests) pass the chapter's checks."""
    monkeypatch.setenv("VSALIB_DATA", str(fixture_root))
    monkeypatch.setenv("VSALIB_RESULTS", str(tmp_path / "results"))
    notebook, params = _papermill_params(shlex.split(command))
    ns = resolve_chapter(ROOT / notebook, params, fixture_root)
    # every value the text passes reaches the chapter as given (none dropped or silently replaced)
    for name, value in params.items():
        got = ns["cfg"].get(name, ns.get(name)) if isinstance(ns.get("cfg"), dict) else ns.get(name)
        assert got == value or ns.get(name) == value, f"{page}: -p {name} {value!r} became {got!r}"
    if "dataset" in params:
        assert ns["ds"].name == params["dataset"]


def test_the_readme_says_where_published_numbers_come_from():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "results/published" in text and "make publish" in text and "jupyter lab" in text.lower()


KNOWN = {".venv/bin/papermill", "make", "torchrun", ".venv/bin/jupyter", ".venv/bin/python", ".venv/bin/dask", "for"}


def _dask_calls(command: str) -> list[list[str]]:
    """The ``dask <subcommand> ...`` calls of a printed line (a ``for`` loop's body included)."""
    argv = shlex.split(command.replace(";", " ; "))
    starts = [i for i, a in enumerate(argv) if a == ".venv/bin/dask"]
    return [argv[i:next((j for j in range(i, len(argv)) if argv[j] in (";", "&", "done")), len(argv))] for i in starts]


@pytest.mark.parametrize("page,command", [c for c in COMMANDS if ".venv/bin/dask" in c[1]], ids=lambda x: x[:40])
def test_printed_dask_command_names_a_subcommand_and_its_options(page, command):
    calls = _dask_calls(command)
    assert calls, f"{page}: no dask call in {command!r}"
    for argv in calls:
        out = subprocess.run([sys.executable, "-m", "distributed.cli.dask_" + argv[1], "--help"], cwd=ROOT,
                             capture_output=True, text=True)
        assert out.returncode == 0, f"{page}: dask {argv[1]}: {out.stderr[-300:]}"
        for flag in [a for a in argv[2:] if a.startswith("--")]:
            assert flag in out.stdout, f"{page}: dask {argv[1]} has no option {flag}"


def test_a_printed_for_loop_runs_a_known_command():
    loops = [c for _, c in COMMANDS if c.split()[0] == "for"]
    assert all(_dask_calls(c) for c in loops), loops


def test_every_printed_command_is_one_the_tests_run():
    unknown = [(p, c) for p, c in COMMANDS if c.split()[0] not in KNOWN]
    assert not unknown, f"printed commands no test runs: {unknown}"


@pytest.mark.parametrize("page,command", [c for c in COMMANDS if c[1].split()[0] == ".venv/bin/python"],
                         ids=lambda x: x[:40])
def test_printed_script_command_parses(page, command):
    """A printed ``.venv/bin/python scripts/X.py ...``: the script exists and its own parser takes the arguments."""
    import importlib.util

    argv = shlex.split(command)
    assert argv[1].startswith("scripts/") and (ROOT / argv[1]).is_file(), f"{page}: {argv[1]} does not exist"
    spec = importlib.util.spec_from_file_location(f"_printed_{Path(argv[1]).stem}", ROOT / argv[1])
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert hasattr(mod, "parser"), f"{argv[1]} has no parser() for the tests to read its command line with"
    mod.parser().parse_args(argv[2:])  # exits (a failure here) on an unknown option or a bad value


@pytest.mark.parametrize("page,command", [c for c in COMMANDS if c[1].split()[0] == "torchrun"], ids=lambda x: x[:40])
def test_printed_torchrun_command_names_a_module_and_its_options(page, command):
    argv = shlex.split(command)
    module = argv[argv.index("-m") + 1]
    out = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, f"{page}: {module}: {out.stderr}"
    for flag in [a for a in argv[argv.index("-m") + 2:] if a.startswith("--")]:
        assert flag in out.stdout, f"{page}: {module} has no option {flag}"


@pytest.mark.parametrize("page,command", [c for c in COMMANDS if c[1].split()[0] == ".venv/bin/jupyter"],
                         ids=lambda x: x[:40])
def test_printed_jupyter_command_opens_what_exists(page, command):
    argv = shlex.split(command)
    assert argv[1] == "lab" and all((ROOT / a).exists() for a in argv[2:] if not a.startswith("-"))
    out = subprocess.run([sys.executable, "-m", "jupyterlab", "--version"], capture_output=True, text=True)
    assert out.returncode == 0, "JupyterLab is not installed in the environment"


def _real_results_configs() -> list[tuple[str, str, dict]]:
    import importlib.util

    spec = importlib.util.spec_from_file_location("_run_real_results", ROOT / "scripts" / "run_real_results.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return [(chapter, notebook, cfg, mod.run_name(chapter, "cpu", cfg)) for chapter, (notebook, cfgs) in mod.CONFIGS.items()
            for cfg in cfgs]


@pytest.mark.parametrize("chapter,notebook,cfg,name", _real_results_configs(), ids=lambda x: x if isinstance(x, str) else "")
def test_every_make_results_run_resolves_in_its_chapter(chapter, notebook, cfg, name, fixture_root, monkeypatch, tmp_path):
    """`make results` runs what the snapshot holds (every chapter's configurations, the second protocol, the ladder's
    rungs, crop scoring, repeated CV): each configuration passes its chapter's parameter checks, and no two runs write
    the same executed notebook."""
    monkeypatch.setenv("VSALIB_DATA", str(fixture_root))
    monkeypatch.setenv("VSALIB_RESULTS", str(tmp_path / "results"))
    ns = resolve_chapter(ROOT / "notebooks" / notebook, {"profile": "cpu", **cfg}, fixture_root)
    assert ns["ds"].name == cfg["dataset"]
    names = [n for *_, n in _real_results_configs()]
    assert names.count(name) == 1
