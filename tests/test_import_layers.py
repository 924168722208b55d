"""vsalib's import graph (issue 33): no circle, and no arrow from a lower floor to a higher one.

Every ``import`` of a vsalib module counts, at the top of a file or inside a function: an import inside a
function still ties the two modules together, it only hides the circle from Python's loader. The floors,
bottom to top:

0. ``vsalib`` (the package's ``__init__``) and ``vsalib.errors``: import nothing of vsalib;
1. the models: data, backbones, regions, losses, the training core, emotions, progress, the selection rule;
2. the study's core: records (results, snapshot, provenance), verdicts and statistics, targets, report
   formatting, profiles, plots;
3. the methods, one module per paper (they report through floor 2);
4. the study's chapters: the published snapshot's reader, the chapters' registry and their sections' parts, the
   scoreboard, the real-benchmark sections, region gains, meta-analysis, figures, notebook helpers, the run grid,
   and the methods' ``*_study`` modules (each paper's chapter).

A module that is not on a floor fails the test: a new module says where it stands.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FLOORS: list[tuple[str, ...]] = [
    ("vsalib", "vsalib.errors"),
    ("vsalib.data", "vsalib.backbones", "vsalib.regions", "vsalib.losses", "vsalib.train", "vsalib.emotions",
     "vsalib.progress", "vsalib.selection"),
    ("vsalib.report", "vsalib.verdicts", "vsalib.evaluate", "vsalib.targets", "vsalib.results", "vsalib.provenance",
     "vsalib.snapshot", "vsalib.profiles", "vsalib.plots", "vsalib.explain"),
    ("vsalib.methods",),
    ("vsalib.published", "vsalib.sections", "vsalib.chapters", "vsalib.scoreboard", "vsalib.real_benchmarks",
     "vsalib.region_gains", "vsalib.meta_analysis", "vsalib.figures", "vsalib.notebook", "vsalib.grid"),
]
#: Upward arrows still standing, each with why (none: the method versions live on the registered classes).
KNOWN_UPWARD: dict[tuple[str, str], str] = {}


def modules(root: Path = ROOT / "vsalib") -> dict[str, Path]:
    out = {}
    for p in root.rglob("*.py"):
        parts = p.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = p
    return out


def import_graph(mods: dict[str, Path]) -> dict[str, set[str]]:
    """module → the vsalib modules it imports anywhere in its file (``from a import b`` names ``a.b`` when that
    is a module, else ``a``)."""
    graph = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join(up + ([base] if base else []))
                targets |= {f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names}
        graph[name] = {t for t in targets if t in mods and t != name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def floor(module: str) -> int | None:
    if module.startswith("vsalib.methods.") and module.endswith("_study"):
        return 4
    found = None
    for i, prefixes in enumerate(FLOORS):
        for p in prefixes:
            if module == p or module.startswith(p + ".") and p != "vsalib":
                found = i
    return found


@pytest.fixture(scope="module")
def graph():
    return import_graph(modules())


def test_the_circle_finder_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_the_graph_reads_imports_inside_functions(tmp_path):
    pkg = tmp_path / "vsalib"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "a.py").write_text("from . import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from vsalib.sub import a\n")
    g = import_graph(modules(pkg))
    assert g["vsalib.sub.a"] == {"vsalib.sub.b"} and g["vsalib.sub.b"] == {"vsalib.sub.a"}
    assert circles(g) == [["vsalib.sub.a", "vsalib.sub.b"]]


def test_no_import_circle(graph):
    found = circles(graph)
    assert not found, "modules that import each other (directly or round a circle): " + "; ".join(
        " ↔ ".join(c) for c in found)


def test_every_module_stands_on_a_floor(graph):
    assert not [m for m in graph if floor(m) is None], "put the new module on a floor of FLOORS"


def test_no_arrow_points_up(graph):
    up = sorted((m, t) for m, ts in graph.items() for t in ts if floor(t) > floor(m))
    unknown = [f"{m} (floor {floor(m)}) imports {t} (floor {floor(t)})" for m, t in up if (m, t) not in KNOWN_UPWARD]
    assert not unknown, "\n".join(unknown)
    gone = set(KNOWN_UPWARD) - set(up)
    assert not gone, f"no longer imported: remove from KNOWN_UPWARD {sorted(gone)}"


def test_the_errors_module_is_the_bottom_floor(graph):
    assert graph["vsalib.errors"] == set()
    assert "vsalib.data.registry" not in graph["vsalib.backbones"]  # the backbones need no dataset registry
