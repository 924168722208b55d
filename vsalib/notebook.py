"""Helpers for parameterized notebooks: check papermill parameters against a spec.

Papermill injects parameters as plain assignments after a notebook's ``parameters`` cell, so a
misspelt name would silently define a new variable. ``check_params(globals(), SPEC)`` (called in
the cell right after the parameters) fails on any user variable not in the spec and on any value
outside its allowed set, listing the valid ones. ``setup_chapter`` does that for a chapter and also
resolves its profile, dataset options and results store: the setup every chapter shares, in one call.
"""

from __future__ import annotations

import ast
import functools
import inspect
import json
import linecache
import re
import shlex
import sys
import textwrap
import types
from dataclasses import dataclass
from typing import Any, Callable

from vsalib.errors import UnknownNameError

_IPYTHON_NAMES = {"In", "Out", "exit", "quit", "get_ipython", "display"}


def user_variables(namespace: dict) -> dict[str, Any]:
    """Variables a user (or papermill) defined.

    Left out: ``_private`` names, IPython's own, modules, functions, classes, and names imported
    with ``from module import NAME`` (the value is that module's attribute of the same name).
    """
    modules = [v for v in namespace.values() if isinstance(v, types.ModuleType)]
    modules += [m for name, m in list(sys.modules.items()) if name.split(".")[0] == "vsalib" and m is not None]
    missing = object()

    def imported(name: str, value: Any) -> bool:
        return any(getattr(m, name, missing) is value for m in modules)

    return {
        k: v for k, v in namespace.items()
        if not k.startswith("_") and k not in _IPYTHON_NAMES
        and not isinstance(v, (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, type))
        and not imported(k, v)
    }


def check_params(namespace: dict, spec: dict[str, Any]) -> dict[str, Any]:
    """Validate notebook parameters; return them as a dict.

    ``spec`` maps each parameter name to its allowed values: a tuple/list of values, a callable
    ``check(value) -> bool``, a type (or tuple of types), or ``None`` (anything). A failure names the
    parameter, the value received and its type, and the allowed values: the list, the type, or a check's
    description (give one with :func:`described` or :func:`optional`). A check without one is described in
    words read from its condition where that is a plain one (``isinstance(v, int) and v >= 1``: "an int >= 1"),
    never by its source. A list or dict given as text (papermill's ``-p`` passes scalars only: ``-p Ks 1,2,3``
    gives the string ``'1,2,3'``) is told how to pass it (``-y "Ks: [1, 2, 3]"``).
    """
    given = user_variables(namespace)
    unknown = sorted(set(given) - set(spec))
    if unknown:
        raise UnknownNameError(
            f"unknown parameter(s) {', '.join(map(repr, unknown))}; valid parameters: {', '.join(sorted(spec))}"
        )
    params = {}
    for name, allowed in spec.items():
        if name not in given:
            raise UnknownNameError(f"parameter {name!r} is missing from the parameters cell")
        value = given[name]
        if not _ok(value, allowed):
            raise UnknownNameError(invalid_message(name, value, allowed))
        params[name] = value
    return params


def invalid_message(name: str, value: Any, allowed: Any) -> str:
    """What :func:`check_params` says when ``value`` of parameter ``name`` fails ``allowed``: the parameter, the value
    and its type, what is expected, and how to pass a list or dict with papermill where text was given instead."""
    expected = _describe(allowed)
    return (f"parameter {name}={_short_repr(value)} is not valid; expected {expected}; got {_type_name(value)}"
            f"{_papermill_hint(name, value, allowed, expected)}")


_MAX_REPR = 200


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - describing a failure must never fail itself
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= _MAX_REPR else text[:_MAX_REPR] + " ..."


def _article(noun: str) -> str:
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


def _type_name(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "a bool"
    return _article(type(value).__name__)


def _structured_readings(text: str) -> list:
    """The lists and dicts that ``text`` reads as in YAML (as papermill's ``-y`` reads it): the text itself
    (``[1, 2]``, ``{a: 1}``), the text in brackets (``1,2,3`` -> ``[1, 2, 3]``), its words in brackets
    (``1 2`` -> ``[1, 2]``)."""
    try:
        import yaml
    except ImportError:  # papermill needs PyYAML; without it, Python literals
        yaml = None
    out = []
    spaced = f"[{', '.join(text.split())}]" if "," not in text and len(text.split()) > 1 else None
    for candidate in (text, f"[{text}]", *([spaced] if spaced else [])):
        try:
            v = yaml.safe_load(candidate) if yaml is not None else ast.literal_eval(candidate)
        except Exception:  # noqa: BLE001 - text that is no YAML: no reading
            continue
        if isinstance(v, (list, dict)) and v not in out:
            out.append(v)
    return out


def _papermill_hint(name: str, value: Any, allowed: Any, expected: str) -> str:
    """How to pass a list or dict with papermill, where ``value`` is text that should have been one (the check
    accepts its YAML reading, or what is expected is a list or a dict)."""
    if not isinstance(value, str):
        return ""
    readings = _structured_readings(value)
    accepted = next((v for v in readings if _ok(v, allowed)), None)
    wanted = [kind for kind, word in (("list", r"\blists?\b"), ("dict", r"\b(dict|mapping)s?\b"))
              if re.search(word, expected)]
    if accepted is None and not wanted:
        return ""
    kind = type(accepted).__name__ if accepted is not None else wanted[0]
    example = accepted if accepted is not None else next(
        (v for v in readings if type(v).__name__ == kind), [1, 2, 3] if kind == "list" else {"key": 1})
    return (f". A {kind} cannot be passed with papermill's -p, which passes scalars only (numbers, True/False, "
            f"None, text): -p {name} {shlex.quote(value)} gives the text {value!r}. Pass a {kind} as YAML with -y, "
            f"e.g. papermill IN.ipynb OUT.ipynb -y {shlex.quote(f'{name}: {_yaml_flow(example)}')} (or put it in a "
            "parameters file, -f)")


def _yaml_flow(value: Any) -> str:
    """``value`` as one line of YAML (``[1, 2, 3]``, ``{key: 1}``)."""
    try:
        import yaml

        return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()
    except Exception:  # noqa: BLE001 - no PyYAML, or a value it cannot write: JSON is YAML too
        return json.dumps(value, default=str)


def _ok(value: Any, allowed: Any) -> bool:
    if allowed is None:
        return True
    if isinstance(allowed, (tuple, list)) and not all(isinstance(a, type) for a in allowed):
        return value in allowed
    if isinstance(allowed, type) or (isinstance(allowed, tuple) and all(isinstance(a, type) for a in allowed)):
        return isinstance(value, allowed)
    if callable(allowed):
        try:
            return bool(allowed(value))
        except Exception:  # e.g. ``v > 0`` given a string: not a valid value (the message says which are)
            return False
    raise TypeError(f"bad spec entry {allowed!r}")


def _describe(allowed: Any) -> str:
    if isinstance(allowed, (tuple, list)) and not all(isinstance(a, type) for a in allowed):
        return "one of " + ", ".join(repr(a) for a in allowed)
    if isinstance(allowed, type):
        return _TYPE_NOUNS.get(allowed, _article(allowed.__name__))
    if isinstance(allowed, tuple):
        return "one of the types " + ", ".join(a.__name__ for a in allowed)
    return _describe_callable(allowed)


def _describe_callable(check: Callable) -> str:
    """A check's own description (its docstring), else its condition in words where it is a plain one, else a
    request for a description; never the check's source."""
    if isinstance(check, functools.partial):
        args = ", ".join([*map(repr, check.args), *(f"{k}={v!r}" for k, v in check.keywords.items())])
        return f"{_describe_callable(check.func)} (the check is called with {args} first)"
    doc = getattr(check, "__doc__", None)
    generic = not isinstance(check, _FUNCTION_TYPES) and type(check).__module__ in ("builtins", "functools", "operator")
    if isinstance(doc, str) and doc.strip() and not generic:
        return " ".join(doc.split())
    try:
        words = _condition_in_words(check)
    except Exception:  # noqa: BLE001 - describing a failure must never fail itself
        words = None
    if words:
        return words
    return ("a value its check accepts (the check says nothing of which values those are: give it a docstring, "
            "or wrap it with vsalib.notebook.described(check, 'what it accepts'))")


_FUNCTION_TYPES = (types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.MethodDescriptorType,
                   types.WrapperDescriptorType, types.MethodWrapperType, types.ClassMethodDescriptorType)


def _check_expression(check: Callable) -> tuple[str, ast.expr] | None:
    """``(argument, condition)`` of a one-argument check: a lambda's body, or a ``def``'s single returned
    expression; None for anything else."""
    if not isinstance(check, _FUNCTION_TYPES) and isinstance(getattr(check, "__call__", None), types.MethodType):
        check = check.__call__.__func__  # a callable object: its __call__ method (self, v)
        skip_self = 1
    elif isinstance(check, types.MethodType):
        check, skip_self = check.__func__, 1
    else:
        skip_self = 0
    code = getattr(check, "__code__", None)
    if not isinstance(code, types.CodeType):
        return None
    if code.co_name == "<lambda>":
        found = _lambda_source(code)
        if found is None:
            return None
        args, body = found
        if len(args) != 1:
            return None
        return args[0], ast.parse(f"(\n{body}\n)", mode="eval").body  # in brackets: a body may span lines
    try:
        fn = ast.parse(textwrap.dedent(inspect.getsource(check))).body[0]
    except (OSError, TypeError, SyntaxError, IndexError):
        return None
    if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    args = [a.arg for a in fn.args.args[skip_self:]]
    stmts = [b for b in fn.body if not (isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant))]
    if len(args) != 1 or len(stmts) != 1 or not isinstance(stmts[0], ast.Return) or stmts[0].value is None:
        return None
    return args[0], stmts[0].value


def _lambda_source(code: types.CodeType) -> tuple[list[str], str] | None:
    """``(arguments, body)`` text of the ``lambda`` that compiled to ``code``; several lambdas on one
    line are told apart by the columns of their bodies."""
    lines = linecache.getlines(code.co_filename)
    first = code.co_firstlineno
    # (the RESUME instruction and the like carry an empty span at column 0: left out)
    positions = [p for p in code.co_positions() if None not in p and (p[1] > p[0] or p[3] > p[2])]
    if not positions or first > len(lines):
        return None
    on_first = [col for line, _, col, _ in positions if line == first]
    body_col = min(on_first) if on_first else len(lines[first - 1])
    start = lines[first - 1].rfind("lambda", 0, body_col)
    if start < 0:
        return None
    last_line = max(end_line for _, end_line, _, _ in positions)
    last_col = max(end_col for _, end_line, _, end_col in positions if end_line == last_line)
    text = "".join(lines[first - 1:last_line + 3])  # a closing bracket may sit on a later line
    end = len("".join(lines[first - 1:last_line - 1])) + last_col
    for stop in range(end, len(text) + 1):  # go past closing brackets the body's positions leave out
        source = "(" + text[start:stop] + "\n)"
        try:
            node = ast.parse(source, mode="eval").body
        except SyntaxError:
            continue
        if isinstance(node, ast.Lambda):
            args = [a.arg for a in node.args.args]
            return args, ast.get_source_segment(source, node.body) or ast.unparse(node.body)
    return None


# -- a check's condition in words (never its source) ----------------------------------------------
_TYPE_NOUNS = {int: "an int", float: "a float", str: "a str", bool: "True or False", list: "a list", dict: "a dict",
               tuple: "a tuple", type(None): "None"}
_TYPE_NAMES = {t.__name__: noun for t, noun in _TYPE_NOUNS.items()}
_FURTHER = "that also meets a further condition of its check"


def _condition_in_words(check: Callable) -> str | None:
    """The condition of a plain check in words: ``isinstance(v, int) and v >= 1`` -> "an int >= 1",
    ``isinstance(v, (int, float)) and 0 <= v <= 1`` -> "a number in [0, 1]", ``v in (1, 2)`` -> "one of 1, 2",
    ``isinstance(v, list) and len(v) > 0 and all(isinstance(x, int) for x in v)`` -> "a non-empty list of which
    each item is an int"; a part it cannot read is called a further condition; None if it reads nothing."""
    found = _check_expression(check)
    if found is None:
        return None
    var, node = found
    words, complete = _phrase(node, var)
    if words is None:
        return None
    return words if complete else f"{words} {_FURTHER}"


def _const(node: ast.expr) -> tuple[bool, Any]:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str)) and not isinstance(node.value,
                                                                                                        bool):
        return True, node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant) \
            and isinstance(node.operand.value, (int, float)):
        return True, -node.operand.value
    return False, None


def _is_var(node: ast.expr, var: str) -> bool:
    return isinstance(node, ast.Name) and node.id == var


def _phrase(node: ast.expr, var: str) -> tuple[str | None, bool]:
    """``(words, complete)`` for ``node``, a condition on ``var``; ``complete`` is False where part of it was not
    read."""
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
        parts = [_phrase(v, var) for v in node.values]
        if any(w is None for w, _ in parts):
            return None, False
        return "either " + " or ".join(w if c else f"{w} {_FURTHER}" for w, c in parts), True
    conjuncts = node.values if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And) else [node]
    nouns, bounds, extras, complete, read = [], {}, [], True, False
    non_empty = False
    for c in conjuncts:
        kind, value = _conjunct(c, var)
        if kind is None:
            complete = False
            continue
        read = True
        if kind == "type":
            nouns.append(value)
        elif kind == "not-bool":
            pass  # "an int" / "a number" already leaves out True/False
        elif kind == "bound":
            bounds.update(value)
        elif kind == "non-empty":
            non_empty = True
        else:
            extras.append(value)
    if not read:
        return None, False
    if not nouns and not bounds and not non_empty and len(extras) == 1 and extras[0].startswith("among "):
        return "one of " + extras[0][len("among "):], complete
    noun = nouns[0] if len(nouns) == 1 else ("a value" if not nouns else " and ".join(nouns))
    if non_empty:
        noun = "a non-empty " + noun.split(" ", 1)[1] if noun.startswith(("a ", "an ")) else f"a non-empty {noun}"
    text = " ".join([noun, *([_bounds_words(bounds)] if bounds else []), *extras])
    return text, complete


def _conjunct(node: ast.expr, var: str) -> tuple[str | None, Any]:
    # isinstance(v, T) / isinstance(v, (T1, T2)), and not isinstance(v, bool)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        inner = node.operand
        if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name) and inner.func.id == "isinstance" \
                and len(inner.args) == 2 and _is_var(inner.args[0], var) and isinstance(inner.args[1], ast.Name) \
                and inner.args[1].id == "bool":
            return "not-bool", None
        return None, None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        if node.func.id == "isinstance" and len(node.args) == 2 and _is_var(node.args[0], var):
            t = node.args[1]
            names = [e.id if isinstance(e, ast.Name) else None for e in (t.elts if isinstance(t, ast.Tuple) else [t])]
            if None in names or any(n not in _TYPE_NAMES for n in names):
                return None, None
            if set(names) == {"int", "float"}:
                return "type", "a number"
            return "type", " or ".join(_TYPE_NAMES[n] for n in names)
        if node.func.id == "all" and len(node.args) == 1 and isinstance(node.args[0], ast.GeneratorExp):
            gen = node.args[0]
            if len(gen.generators) == 1 and _is_var(gen.generators[0].iter, var) and not gen.generators[0].ifs \
                    and isinstance(gen.generators[0].target, ast.Name):
                words, complete = _phrase(gen.elt, gen.generators[0].target.id)
                if words is not None and complete:
                    return "extra", f"of which each item is {words}"
        return None, None
    if _is_var(node, var):  # a bare ``v`` among the conditions: truthy, i.e. non-empty for a container
        return "non-empty", None
    if isinstance(node, ast.Compare):
        # len(v) > 0 / len(v) >= 1
        if len(node.ops) == 1 and isinstance(node.left, ast.Call) and isinstance(node.left.func, ast.Name) \
                and node.left.func.id == "len" and len(node.left.args) == 1 and _is_var(node.left.args[0], var):
            ok, c = _const(node.comparators[0])
            if ok and ((isinstance(node.ops[0], ast.Gt) and c == 0) or (isinstance(node.ops[0], ast.GtE) and c == 1)):
                return "non-empty", None
            return None, None
        # v in (1, 2, 3) / v in {"a", "b"}
        if len(node.ops) == 1 and isinstance(node.ops[0], ast.In) and _is_var(node.left, var) \
                and isinstance(node.comparators[0], (ast.Tuple, ast.List, ast.Set)):
            values = [_const(e) for e in node.comparators[0].elts]
            if values and all(ok for ok, _ in values):
                return "extra", "among " + ", ".join(repr(v) for _, v in values)
            return None, None
        return _bounds(node, var)
    return None, None


_FLIP = {ast.Lt: ast.Gt, ast.LtE: ast.GtE, ast.Gt: ast.Lt, ast.GtE: ast.LtE, ast.NotEq: ast.NotEq}


def _bounds(node: ast.Compare, var: str) -> tuple[str | None, Any]:
    """``v >= 1``, ``0 < v <= 32``, ``v != 1`` (constants on the other side) as ``{">=": 1, ...}``."""
    terms = [node.left, *node.comparators]
    out = {}
    for (a, b), op in zip(zip(terms, terms[1:]), node.ops):
        if type(op) not in _FLIP:
            return None, None
        if _is_var(a, var):
            ok, c = _const(b)
            op_type = type(op)
        elif _is_var(b, var):
            ok, c = _const(a)
            op_type = _FLIP[type(op)]
        else:
            return None, None
        if not ok:
            return None, None
        out[{ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.NotEq: "!="}[op_type]] = c
    return "bound", out


def _bounds_words(b: dict) -> str:
    lo = next(((op, b[op]) for op in (">=", ">") if op in b), None)
    hi = next(((op, b[op]) for op in ("<=", "<") if op in b), None)
    if lo and hi:
        text = f"in {'[' if lo[0] == '>=' else '('}{lo[1]!r}, {hi[1]!r}{']' if hi[0] == '<=' else ')'}"
    else:
        text = " ".join(f"{op} {v!r}" for op, v in (lo or hi,)) if (lo or hi) else ""
    if "!=" in b:
        text = f"{text}, not {b['!=']!r}" if text else f"other than {b['!=']!r}"
    return text


def described(check: Callable[[Any], bool], doc: str) -> Callable[[Any], bool]:
    """``check`` with ``doc`` (what it accepts, e.g. ``"an int >= 1"``) as the text of its failure message."""
    if not isinstance(doc, str) or not doc.strip():
        raise ValueError("described() needs a non-empty description of the accepted values")

    @functools.wraps(check)
    def f(v):
        return check(v)

    f.__doc__ = doc
    return f


def optional(check: Callable[[Any], bool], doc: str) -> Callable[[Any], bool]:
    """A check that also accepts None (profile default); ``doc`` says what ``check`` accepts."""
    if not isinstance(doc, str) or not doc.strip():
        raise ValueError(f"optional() needs a description of the values the check accepts, e.g. "
                         f"'a positive int'; got {doc!r}")

    def f(v):
        return v is None or check(v)

    f.__doc__ = doc + " or None (the profile's value)"
    return f


# -- a chapter's common setup ---------------------------------------------------------------------
def _ints(v) -> bool:
    return isinstance(v, list) and len(v) > 0 and all(isinstance(s, int) and not isinstance(s, bool) for s in v)


def _common_spec() -> dict[str, Any]:
    from vsalib.backbones import list_backbones
    from vsalib.data.registry import list_datasets
    from vsalib.profiles import PROFILES

    return {
        "profile": tuple(PROFILES),
        "dataset": optional(lambda v: v in list_datasets(), f"one of {list_datasets()}"),
        "subset": optional(lambda v: isinstance(v, str), "a subset or label-rule name of the dataset"),
        "backbone": optional(lambda v: v in list_backbones(), f"one of {list_backbones()}"),
        "seeds": optional(_ints, "a non-empty list of ints"),
        "data_root": optional(lambda v: isinstance(v, str), "a folder path"),
        "results_dir": optional(lambda v: isinstance(v, str), "a folder path"),
    }


#: Profile settings a chapter may expose as parameters (``knobs=`` of :func:`setup_chapter`).
PROFILE_KNOBS: dict[str, Any] = {
    "epochs": optional(lambda v: isinstance(v, int) and v > 0, "a positive int"),
    "folds": optional(lambda v: isinstance(v, int) and v >= 2, "an int >= 2"),
    "image_size": optional(lambda v: isinstance(v, int) and v >= 32, "an int >= 32"),
    "n_images": optional(lambda v: isinstance(v, int) and v >= 16, "an int >= 16"),
    "full_finetune": optional(lambda v: isinstance(v, bool), "True or False"),
}


@dataclass
class Chapter:
    """What every chapter sets up from its parameters: the checked ``params``, the profile's settings
    with the parameters applied (``cfg``), the dataset's ``subset`` and loader ``options``, and the
    results ``store``."""

    params: dict
    cfg: dict
    subset: str | None
    options: dict
    store: Any

    def load_dataset(self):
        from vsalib.data.registry import load_dataset

        return load_dataset(self.cfg["dataset"], data_root=self.params["data_root"], **self.options)


def setup_chapter(namespace: dict, own_spec: dict[str, Any], *, knobs: tuple[str, ...] = (),
                  defaults: dict | Callable[[str], dict] | None = None) -> Chapter:
    """Check a chapter's parameters and resolve its profile, in one call.

    Every chapter has the common parameters (profile, dataset, subset, backbone, seeds, data_root,
    results_dir); ``knobs`` names the profile settings it also exposes (:data:`PROFILE_KNOBS`);
    ``own_spec`` checks its paper's own parameters. ``defaults`` (or ``defaults(profile)``) gives the
    chapter's values for parameters left at None (R-CNNGSR: Emotion6 and three seeds off the quick
    profile); the profile's values apply to the rest.
    """
    from vsalib.profiles import dataset_options, resolve_profile
    from vsalib.results import ResultStore

    unknown = [k for k in knobs if k not in PROFILE_KNOBS]
    if unknown:
        raise UnknownNameError(f"unknown profile knob(s) {unknown}; valid: {', '.join(PROFILE_KNOBS)}")
    from vsalib.data.registry import list_datasets

    if isinstance(namespace.get("data_root"), str):  # the own datasets under this data root, by name
        list_datasets(namespace["data_root"])
    spec = {**_common_spec(), **{k: PROFILE_KNOBS[k] for k in knobs}, **own_spec}
    params = check_params(namespace, spec)
    chosen = (defaults(params["profile"]) if callable(defaults) else defaults) or {}
    over = {k: params[k] if params.get(k) is not None else chosen.get(k)
            for k in ("dataset", "backbone", "seeds", *knobs)}
    cfg = resolve_profile(params["profile"], **over)
    subset, options = dataset_options(cfg["dataset"], params["subset"] or cfg["subset"], n_images=cfg["n_images"],
                                      image_size=cfg["image_size"])
    return Chapter(params, cfg, subset, options, ResultStore(params["results_dir"]))
