"""What identifies a loaded dataset in the records written about it: each image's own id (its path inside the
dataset's folder) and hashes of the file list and the labels. ``load_dataset`` notes every dataset it loads
here; :mod:`vsalib.provenance` reads the note when it stamps a record (so the data layer never imports the
study's provenance)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def _sha(items) -> str:
    h = hashlib.sha256()
    for it in items:
        h.update(str(it).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()[:16]


def image_ids(ds) -> list[str]:
    """The dataset's own id of each image: its path relative to the dataset folder (posix)."""
    root = Path(ds.root).resolve() if ds.root is not None else None
    ids = []
    for p in ds.paths:
        p = Path(p)
        try:
            ids.append(p.resolve().relative_to(root).as_posix() if root is not None else p.name)
        except ValueError:
            ids.append(p.name)
    return ids


def dataset_fingerprint(ds) -> dict[str, Any]:
    """``{"name", "n_images", "files", "labels", "fingerprint"}``: hashes of the file list (ids, in
    the dataset's order) and of the labels, and one hash of both.

    Two copies of a dataset with the same images under the same names and the same labels get the
    same fingerprint; a missing, extra or renamed image, or a changed label, changes it.
    """
    ids = image_ids(ds)
    files = _sha(ids)
    labels = _sha(f"{i}\t{int(y)}" for i, y in zip(ids, ds.labels))
    return {"name": ds.name, "n_images": len(ids), "files": files, "labels": labels,
            "fingerprint": _sha([files, labels])}


@dataclass
class _Noted:
    fingerprint: dict[str, Any]
    ids: list[str]


_DATASETS: dict[tuple[str, str | None], _Noted] = {}


def note_dataset(ds, variant: str | None = None) -> None:
    """Remember a loaded dataset (``load_dataset`` calls this) for the records written about it."""
    _DATASETS[(ds.name, variant)] = _Noted(dataset_fingerprint(ds), image_ids(ds))


def noted_dataset(name: str, subset: str | None) -> _Noted | None:
    """The dataset noted under ``(name, subset)``; else the only one noted under ``name``."""
    if (name, subset) in _DATASETS:
        return _DATASETS[(name, subset)]
    same = [v for (n, _), v in _DATASETS.items() if n == name]
    return same[0] if len(same) == 1 else None
