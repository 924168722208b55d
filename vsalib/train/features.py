"""Feature caching: frozen-backbone experiments extract features once.

``extract(backbone, paths, ...)`` runs the frozen part of a backbone over images and returns
a float tensor ``(N, views, ...)``: either the pooled feature (``stop=None``) or the activation
after trunk stage ``stop`` (to fine-tune only the stages after it). Views are the centre crop
and its horizontal flip (``views=2``), the augmentation a cached run can afford.

Results are cached on disk under ``cache_dir`` (env ``VSALIB_CACHE``, else ``~/.cache/vsalib``),
keyed by the backbone, its weights, the stop stage, the image size, the views and the list of
files with their sizes and content digests (:func:`file_stamp`); writes are atomic.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from vsalib.progress import tqdm

from vsalib.backbones import Backbone
from vsalib.train.loop import atomic_torch_save, model_device, pick_device, safe_torch_load


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    return Path(os.environ.get("VSALIB_CACHE", Path.home() / ".cache" / "vsalib"))


#: Content digests already taken in this process, by (path, size, mtime, ctime): a file is read once per process
#: unless it changes (any write or utime moves ctime).
_DIGESTS: dict[tuple[str, int, int, int], str] = {}


def file_stamp(path: str) -> str:
    """A file's size and a digest of its bytes (BLAKE2b, 16 hex digits): what the per-image caches are keyed
    on, so an edited image is recomputed while a copied or re-extracted dataset (new modification times, the
    same bytes) keeps its cached proposals and features. Reading costs about 0.3 ms per Twitter I image."""
    st = os.stat(path)
    memo = (os.path.abspath(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if memo not in _DIGESTS:
        h = hashlib.blake2b(digest_size=8)
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _DIGESTS[memo] = h.hexdigest()
    return f"{st.st_size}:{_DIGESTS[memo]}"


def image_key(path: str) -> str:
    """A per-image cache key: the absolute path and :func:`file_stamp` (size and content digest)."""
    return f"{os.path.abspath(path)}|{file_stamp(path)}"


def cached_per_image(paths, compute, file: str | os.PathLike, *, desc: str = "images", progress: bool = True,
                     save_every: int = 50) -> list:
    """``compute(path)`` of every path, kept in one on-disk cache per (method settings, model): the one
    per-image cache of every method that caches proposals, regions or maps.

    Keys are :func:`image_key` (an edited image is recomputed); the cache is saved atomically every
    ``save_every`` new images and at the end, so an interrupted run resumes where it stopped. Values
    must be storable by :func:`~vsalib.train.loop.atomic_torch_save` (tensors, arrays, numbers,
    vsalib dataclasses, and containers of them)."""
    cache = load_cache(file)
    out, new = [], 0
    for p in tqdm(paths, desc=desc, disable=not progress, leave=False, mininterval=5):
        key = image_key(p)
        if key not in cache:
            cache[key] = compute(p)
            new += 1
            if save_every and new % save_every == 0:
                atomic_torch_save(cache, file)
        out.append(cache[key])
    if new:
        atomic_torch_save(cache, file)
    return out


def per_image_seconds(values: Sequence, fallback: float = float("nan")) -> float:
    """The mean of the per-image times ``values`` carry (a ``seconds`` attribute or key, set when each was
    computed and kept in its cache, so a resumed run reports what computing took, not what reading the cache
    took); ``fallback`` where none carries a finite one (a cache written before times were kept)."""
    times = []
    for v in values:
        t = v.get("seconds") if isinstance(v, dict) else getattr(v, "seconds", None)
        if t is not None and math.isfinite(float(t)):
            times.append(float(t))
    return sum(times) / len(times) if times else float(fallback)


def load_cache(path: str | os.PathLike) -> dict:
    """A per-image cache dict written with :func:`atomic_torch_save`, or ``{}`` when it is absent or
    unreadable (it is then rebuilt).

    Read with ``weights_only=True`` (:func:`~vsalib.train.loop.safe_torch_load`): no pickled code
    runs. A cache written by an older vsalib as a plain pickle (e.g. of ``Proposals`` objects) does
    not load that way and counts as unreadable, so it is recomputed and rewritten in the new form."""
    if not Path(path).exists():
        return {}
    try:
        cache = safe_torch_load(path)
    except Exception:  # truncated, corrupt, or an old pickled cache: a cache miss
        return {}
    return cache if isinstance(cache, dict) else {}


def _key(backbone: Backbone, paths: Sequence[str], stop: int | None, size: int, views: int) -> str:
    """Cache file key: the extractor's settings and the folders the images live in."""
    h = hashlib.sha1()
    h.update(json.dumps([backbone.name, backbone.info.weights, stop, size, views]).encode())
    for folder in sorted({os.path.dirname(os.path.abspath(p)) for p in paths}):
        h.update(folder.encode() + b"\n")
    return h.hexdigest()[:20]


class _Images(torch.utils.data.Dataset):
    def __init__(self, paths, transform):
        self.paths, self.transform = list(paths), transform

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        from vsalib.data.images import open_image

        return self.transform(open_image(self.paths[i]))


@torch.no_grad()
def extract(
    backbone: Backbone,
    paths: Sequence[str],
    *,
    stop: int | None = None,
    size: int | None = None,
    views: int = 1,
    batch_size: int = 32,
    device: str | torch.device | None = None,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    num_workers: int = 0,
    progress: bool = True,
) -> torch.Tensor:
    """Features of ``paths`` as a float32 CPU tensor ``(N, views, *feature_shape)``.

    The cache is incremental: images already extracted with the same settings (and unchanged on
    disk: same size and bytes) are read back, only the others are computed, so the
    nested Twitter I subsets share one extraction.
    """
    if views not in (1, 2):
        raise ValueError(f"views must be 1 (centre crop) or 2 (centre crop + flip), got {views}")
    size = size or backbone.info.input_size
    paths = [os.path.abspath(p) for p in paths]
    file = cache_root(cache_dir) / "features" / f"{backbone.name}_{_key(backbone, paths, stop, size, views)}.pt"
    cached = {"paths": [], "stamps": [], "feats": None}
    if not paths:
        raise ValueError("extract() got no image paths")
    if use_cache and file.exists():
        try:
            cached = safe_torch_load(file)
            if not (isinstance(cached, dict) and {"paths", "stamps", "feats"} <= set(cached)
                    and len(cached["paths"]) == len(cached["stamps"]) == len(cached["feats"])):
                raise ValueError("unexpected structure")
        except Exception:  # a damaged cache file is recomputed, never trusted
            cached = {"paths": [], "stamps": [], "feats": None}
    row_of = {(p, s): i for i, (p, s) in enumerate(zip(cached["paths"], cached["stamps"]))}
    stamps = [file_stamp(p) for p in paths]
    missing = [i for i, key in enumerate(zip(paths, stamps)) if key not in row_of]
    new = None
    if missing:
        new = _compute(backbone, [paths[i] for i in missing], stop, size, views, batch_size, device,
                       num_workers, progress)
    if use_cache and missing:
        feats = new if cached["feats"] is None else torch.cat([cached["feats"], new])
        merged = {"paths": cached["paths"] + [paths[i] for i in missing],
                  "stamps": cached["stamps"] + [stamps[i] for i in missing], "feats": feats}
        atomic_torch_save(merged, file)
        cached = merged
        row_of = {(p, s): i for i, (p, s) in enumerate(zip(cached["paths"], cached["stamps"]))}
    if not use_cache:
        return new
    index = torch.tensor([row_of[key] for key in zip(paths, stamps)], dtype=torch.long)
    return cached["feats"].index_select(0, index)


def _compute(backbone, paths, stop, size, views, batch_size, device, num_workers, progress) -> torch.Tensor:
    """The features of ``paths`` on ``device``; the caller's backbone is left on its own device and in its own
    mode afterwards (it runs on the GPU here and is used on the CPU after, in tests and notebooks alike)."""
    device = pick_device(device)
    home, training = model_device(backbone), backbone.training
    backbone = backbone.to(device).eval()
    loader = torch.utils.data.DataLoader(_Images(paths, backbone.preprocess(False, size)),
                                         batch_size=batch_size, num_workers=num_workers)
    out = []
    try:
        for x in tqdm(loader, desc=f"features {backbone.name}", disable=not progress, leave=False, mininterval=5):
            x = x.to(device)
            per_view = []
            for v in range(views):
                xv = x if v == 0 else torch.flip(x, dims=[3])
                f = backbone.forward_to(xv, stop) if stop is not None else backbone.pool(backbone(xv))
                per_view.append(f.float().cpu())
            out.append(torch.stack(per_view, 1))
    finally:
        backbone.to(home).train(training)
    return torch.cat(out)


class CachedViews(torch.utils.data.Dataset):
    """Cached features with a random view per item (augmentation) or the centre view (evaluation)."""

    def __init__(self, feats: torch.Tensor, labels, indices=None, train: bool = True):
        self.feats = feats
        self.labels = torch.tensor(np.asarray(labels), dtype=torch.long)
        self.indices = torch.arange(len(feats)) if indices is None else torch.as_tensor(indices)
        self.train = train

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, i):
        j = int(self.indices[i])
        v = int(torch.randint(self.feats.shape[1], ())) if self.train else 0
        return self.feats[j, v], self.labels[j], j
