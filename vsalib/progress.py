"""Progress bars: tqdm, silenced by ``TQDM_DISABLE=1`` even where a caller asks for a bar.

(tqdm honours its ``TQDM_*`` environment defaults only when ``disable`` is not passed; vsalib's
functions pass ``disable=not progress``, so the book build's ``TQDM_DISABLE=1`` needs this wrapper.)
"""

from __future__ import annotations

import os

from tqdm import tqdm as _tqdm


def disabled_by_env() -> bool:
    return os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false", "no")


def tqdm(*args, disable: bool = False, **kwargs):
    """``tqdm.tqdm`` with ``disable`` also set by the ``TQDM_DISABLE`` environment variable."""
    return _tqdm(*args, disable=disable or disabled_by_env(), **kwargs)
