"""Helpers for parameterized notebooks: check papermill parameters against a spec.

Papermill injects parameters as plain assignments after a notebook's ``parameters`` cell, so a
misspelt name would silently define a new variable. ``check_params(globals(), SPEC)`` (called in
the cell right after the parameters) fails on any user variable not in the spec and on any value
outside its allowed set, listing the valid ones.
"""

from __future__ import annotations

import sys
import types
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
    ``check(value) -> bool``, a type (or tuple of types), or ``None`` (anything).
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
        return bool(allowed(value))
    raise TypeError(f"bad spec entry {allowed!r}")


def _describe(allowed: Any) -> str:
    if isinstance(allowed, (tuple, list)) and not all(isinstance(a, type) for a in allowed):
        return "one of " + ", ".join(repr(a) for a in allowed)
    if isinstance(allowed, type):
        return f"a {allowed.__name__}"
    if isinstance(allowed, tuple):
        return "one of the types " + ", ".join(a.__name__ for a in allowed)
    return getattr(allowed, "__doc__", None) or "a valid value"


def optional(check: Callable[[Any], bool], doc: str) -> Callable[[Any], bool]:
    """A check that also accepts None (profile default)."""

    def f(v):
        return v is None or check(v)

    f.__doc__ = doc + " or None (the profile's value)"
    return f
