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
import linecache
import sys
import textwrap
import types
from dataclasses import dataclass
from typing import Any, Callable

from vsalib.data.registry import UnknownNameError

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
    ``check(value) -> bool``, a type (or tuple of types), or ``None`` (anything). A failure states the
    allowed values: the list, the type, or a check's docstring (give one with :func:`described` or
    :func:`optional`); a check without one is described by its source (``a value v for which
    `isinstance(v, int) and v > 0` is true``).
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
            raise UnknownNameError(f"parameter {name}={value!r} is not valid; expected {_describe(allowed)}")
        params[name] = value
    return params


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
        return f"a {allowed.__name__}"
    if isinstance(allowed, tuple):
        return "one of the types " + ", ".join(a.__name__ for a in allowed)
    return _describe_callable(allowed)


def _describe_callable(check: Callable) -> str:
    """A check's own description (its docstring), else what its source says it accepts."""
    if isinstance(check, functools.partial):
        args = ", ".join([*map(repr, check.args), *(f"{k}={v!r}" for k, v in check.keywords.items())])
        return f"{_describe_callable(check.func)} (the check is called with {args} first)"
    doc = getattr(check, "__doc__", None)
    generic = not isinstance(check, _FUNCTION_TYPES) and type(check).__module__ in ("builtins", "functools", "operator")
    if isinstance(doc, str) and doc.strip() and not generic:
        return doc.strip()
    try:
        source = _check_source(check)
    except Exception:  # describing a failure must never fail itself
        source = None
    if source:
        return source
    name = getattr(check, "__qualname__", None) or type(check).__qualname__
    return (f"a value accepted by the check {name} (its source is not available: give the check a "
            "docstring saying which values it accepts)")


_FUNCTION_TYPES = (types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.MethodDescriptorType,
                   types.WrapperDescriptorType, types.MethodWrapperType, types.ClassMethodDescriptorType)
_MAX_SOURCE = 300


def _check_source(check: Callable) -> str | None:
    """``a value v for which `<expression>` is true`` from a check's source: a lambda, or a ``def``
    (its returned expression when it is a single ``return``, else its whole source)."""
    skip_self = 0
    if not isinstance(check, _FUNCTION_TYPES) and isinstance(getattr(check, "__call__", None), types.MethodType):
        check, skip_self = check.__call__.__func__, 1  # a callable object: its __call__ method
    elif isinstance(check, types.MethodType):
        check, skip_self = check.__func__, 1
    code = getattr(check, "__code__", None)
    if not isinstance(code, types.CodeType):
        return None
    if code.co_name == "<lambda>":
        found = _lambda_source(code)
        if found is None:
            return None
        args, body = found
    else:
        try:
            text = textwrap.dedent(inspect.getsource(check))
            fn = ast.parse(text).body[0]
        except (OSError, TypeError, SyntaxError, IndexError):
            return None
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return None
        args = ", ".join(a.arg for a in fn.args.args[skip_self:])
        stmts = [b for b in fn.body if not (isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant))]
        if len(stmts) == 1 and isinstance(stmts[0], ast.Return) and stmts[0].value is not None:
            body = ast.unparse(stmts[0].value)
        else:
            source = " ".join(text.split())
            if len(source) > _MAX_SOURCE:
                source = source[:_MAX_SOURCE] + " ..."
            return f"a value accepted by {code.co_name}() (source: `{source}`)"
    body = " ".join(body.split())
    if len(body) > _MAX_SOURCE:
        body = body[:_MAX_SOURCE] + " ..."
    return f"a value {args} for which `{body}` is true" if args else f"a value for which `{body}` is true"


def _lambda_source(code: types.CodeType) -> tuple[str, str] | None:
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
            args = ", ".join(a.arg for a in node.args.args)
            return args, ast.get_source_segment(source, node.body) or ast.unparse(node.body)
    return None


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
