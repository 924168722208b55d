"""Feature caching: frozen-backbone experiments extract features once.

``extract(backbone, paths, ...)`` runs the frozen part of a backbone over images and returns
a float tensor ``(N, views, ...)``: either the pooled feature (``stop=None``) or the activation
after trunk stage ``stop`` (to fine-tune only the stages after it). Views are the centre crop
and its horizontal flip (``views=2``), the augmentation a cached run can afford.

Results are cached on disk under ``cache_dir`` (env ``VSALIB_CACHE``, else ``~/.cache/vsalib``),
keyed by the backbone, its weights, the stop stage, the image size, the views and the list of
files with their sizes and modification times; writes are atomic.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from vsalib.backbones import Backbone
from vsalib.train.loop import atomic_torch_save, pick_device


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    return Path(os.environ.get("VSALIB_CACHE", Path.home() / ".cache" / "vsalib"))


def _key(backbone: Backbone, paths: Sequence[str], stop: int | None, size: int, views: int) -> str:
    h = hashlib.sha1()
    h.update(json.dumps([backbone.name, backbone.info.weights, stop, size, views]).encode())
    for p in paths:
        st = os.stat(p)
        h.update(f"{p}|{st.st_size}|{st.st_mtime_ns}\n".encode())
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
    """Features of ``paths`` as a float32 CPU tensor ``(N, views, *feature_shape)``."""
    if views not in (1, 2):
        raise ValueError(f"views must be 1 (centre crop) or 2 (centre crop + flip), got {views}")
    size = size or backbone.info.input_size
    path = cache_root(cache_dir) / "features" / f"{backbone.name}_{_key(backbone, paths, stop, size, views)}.pt"
    if use_cache and path.exists():
        return torch.load(path, weights_only=True)
    device = pick_device(device)
    backbone = backbone.to(device).eval()
    loader = torch.utils.data.DataLoader(_Images(paths, backbone.preprocess(False, size)),
                                         batch_size=batch_size, num_workers=num_workers)
    out = []
    for x in tqdm(loader, desc=f"features {backbone.name}", disable=not progress, leave=False):
        x = x.to(device)
        per_view = []
        for v in range(views):
            xv = x if v == 0 else torch.flip(x, dims=[3])
            f = backbone.forward_to(xv, stop) if stop is not None else backbone.pool(backbone(xv))
            per_view.append(f.float().cpu())
        out.append(torch.stack(per_view, 1))
    feats = torch.cat(out) if out else torch.empty(0)
    if use_cache:
        atomic_torch_save(feats, path)
    return feats


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
