"""One module per paper's method; ``global_cnn`` is the whole-image baseline every paper compares with.

A method module registers its :class:`~vsalib.methods.base.Method` classes (``register_method``) and declares
its record families (``provenance.declare_method``) when it is imported; :func:`import_all` imports every
module of this package, so a new paper's module is found by being here, not by an import list. Its ``*_study``
module holds its chapter's reporting and registers the chapter (:mod:`vsalib.chapters`); :func:`import_studies`
finds those the same way."""

from __future__ import annotations

#: Modules of this package that hold no method: the contract itself, and the chapters' study code.
_NOT_METHODS = ("base",)
_STUDY_SUFFIX = "_study"


import functools


@functools.cache
def method_modules() -> tuple[str, ...]:
    """The names of this package's method modules (every module but the contract and the ``*_study`` ones)."""
    import pkgutil

    return tuple(sorted(m.name for m in pkgutil.iter_modules(__path__)
                        if m.name not in _NOT_METHODS and not m.name.endswith(_STUDY_SUFFIX)))


@functools.cache
def import_all() -> None:
    """Import every method module: importing one registers its methods and declares its record families. Once per
    process: the registry and the provenance ask for it on every lookup (a record's stamp, its staleness)."""
    import importlib

    for name in method_modules():
        importlib.import_module(f"{__name__}.{name}")


@functools.cache
def study_modules() -> tuple[str, ...]:
    """The names of this package's ``*_study`` modules: each paper's chapter (:mod:`vsalib.chapters`)."""
    import pkgutil

    return tuple(sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.endswith(_STUDY_SUFFIX)))


@functools.cache
def import_studies() -> None:
    """Import every ``*_study`` module: importing one registers its chapter (:func:`vsalib.chapters.register`)."""
    import importlib

    for name in study_modules():
        importlib.import_module(f"{__name__}.{name}")

