"""RoIAlign at the scale it was made for, measured against the paper's crop scoring (issue 16, item 5).

Sun2016 scores each of an image's 100 proposals by cropping, warping and forwarding it (the paper's way); our
``cpu`` profile pools them from one shared feature map by RoIAlign instead. On a sample of one fold's test images
and that fold's own fine-tuned whole-image model, :func:`measure` scores the same EdgeBoxes proposals

- by crop (the reference),
- by crop again with every box edge moved by up to 2 px (``crop_jitter2``): less than a proposer's own
  localisation error, so this is how far crop scoring agrees with itself, the ceiling of any other scoring's
  agreement with it,
- by RoIAlign on the image warped to the model's input size (``roialign224`` for Lite0: a 7 x 7 map),
- by RoIAlign on the image resized to a shorter side of 600 px (``roialign600``, Fast R-CNN's scale, aspect kept),
- by RoIAlign at the input size with each region's surroundings masked out (``roialign224_masked``, a diagnostic
  that costs one pass per box: it sees the region alone, as crop does, but at the map's resolution, so it separates
  context from resolution as the cause of any disagreement),

and records per scoring its seconds per image and its agreement with crop under Sun2016's Senti ranking (Eq. 1):
the same first region, the first regions in the same place (IoU >= 0.5), the overlap of the ten best, both from
the float32 probabilities the method uses and from logits (:func:`~vsalib.regions.scoring.senti_order`, free of the
ties saturation makes), with the number of regions tied at the top. :func:`run` pairs the check with the fold's
model by the fold runner and writes one ``scalecheck-sun2016`` record per scoring (its own method family, so that no
selection of Sun2016's records, which match on the ``sun2016`` prefix, takes it for one of theirs).
"""

from __future__ import annotations

import time
import warnings
from typing import Sequence

import numpy as np
import torch

from vsalib import provenance
from vsalib.results import Record, ResultStore

VERSION = provenance.declare_method("scalecheck", 1, depends=("global",), changes={
    1: "first published version: crop, crop with boxes moved by up to 2 px, RoIAlign at the input size and at a "
       "shorter side of 600 px, and RoIAlign without the surroundings, on 100 EdgeBoxes proposals per image",
})
METHOD = "scalecheck-sun2016"
#: The agreement measures kept from :func:`~vsalib.regions.scoring.ranking_agreement` computed from logits.
FROM_LOGITS = ("senti_top1", "senti_top1_iou", "senti_top1_iou50", "senti_top10_overlap")


def scorings(size: int) -> dict[str, dict]:
    """The scorings compared with crop, by name: keyword arguments of
    :func:`~vsalib.regions.scoring.region_outputs`, and ``jitter`` (box edges moved by up to that many pixels)."""
    return {"crop_jitter2": {"method": "crop", "jitter": 2},
            f"roialign{size}": {"method": "roialign"},
            "roialign600": {"method": "roialign", "shorter_side": 600},
            f"roialign{size}_masked": {"method": "roialign", "mask_surroundings": True}}


def measure(model, images: Sequence, *, n_boxes: int = 100, size: int | None = None, log_base: float = 2.0,
            versus: dict[str, dict] | None = None, progress: bool = False) -> dict[str, dict[str, float]]:
    """Crop scoring and each scoring of ``versus`` (default :func:`scorings`) on ``n_boxes`` EdgeBoxes proposals of
    each of ``images`` (PIL images): ``{"crop": {seconds_per_image, senti_ties, images}, name: {the mean of each
    ranking_agreement measure with crop, its ``*_from_logits`` twins, seconds_per_image, images}}``. Images without
    a proposal are skipped; seconds count the scoring alone (the proposals are shared)."""
    from vsalib.progress import tqdm
    from vsalib.methods.sun2016 import score_as
    from vsalib.regions import scoring as S
    from vsalib.regions.proposals import propose

    size = int(size or model.backbone.info.input_size)
    versus = scorings(size) if versus is None else versus
    rows: dict[str, list[dict]] = {name: [] for name in versus}
    seconds = dict.fromkeys(["crop", *versus], 0.0)
    ties: list[float] = []
    n = 0
    for i, image in enumerate(tqdm(images, desc="scale check", disable=not progress)):
        boxes = np.asarray(propose(image, "edgeboxes", n_boxes).boxes, dtype=np.float64)
        if not len(boxes):
            continue
        n += 1
        t0 = time.perf_counter()
        crop = S.region_outputs(model, image, boxes, method="crop", size=size)
        seconds["crop"] += time.perf_counter() - t0
        for name, spec in versus.items():
            other, moved, secs = score_as(model, image, boxes, spec, size=size, seed=i)
            seconds[name] += secs
            a = S.ranking_agreement(crop.probs, other.probs, log_base=log_base, boxes=boxes, other_boxes=moved)
            b = S.ranking_agreement(crop.logits, other.logits, log_base=log_base, boxes=boxes, other_boxes=moved,
                                    from_logits=True)
            rows[name].append({**a, **{f"{k}_from_logits": b[k] for k in FROM_LOGITS if k in b}})
            if name == next(iter(versus)):
                ties.append(a["senti_ties"])
    out = {"crop": {"seconds_per_image": seconds["crop"] / max(n, 1), "senti_ties": float(np.mean(ties)) if ties
                    else float("nan"), "images": n}}
    for name, rs in rows.items():
        with warnings.catch_warnings():  # a correlation is NaN on every image where a scoring is constant
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = {k: float(np.nanmean([r[k] for r in rs])) for k in (rs[0] if rs else {})}
        out[name] = {**mean, "seconds_per_image": seconds[name] / max(n, 1), "images": n}
    return out


def sample_test(fold, n_images: int, seed: int = 0) -> list[int]:
    """``n_images`` of the fold's test images (positions in the dataset), drawn with ``seed``, in dataset order."""
    test = np.asarray(fold.index("test"))
    if n_images < 1:
        raise ValueError(f"n_images: expected at least 1, got {n_images}")
    take = np.random.default_rng(seed).choice(len(test), size=min(n_images, len(test)), replace=False)
    return sorted(int(i) for i in test[take])


def run(trainer, dataset, split, *, subset: str | None = None, store: ResultStore, n_images: int = 50,
        n_boxes: int = 100, seed: int = 0, log_base: float = 2.0, progress: bool = True) -> list[Record]:
    """The check on one split: its fine-tuned whole-image model (``trainer``, a
    :class:`~vsalib.methods.global_cnn.GlobalFinetune`, by the fold runner: the stored model where its weights are
    here, else trained again), :func:`measure` on ``n_images`` of its test images (:func:`sample_test`), and one
    ``scalecheck-sun2016`` record per scoring (``versus``: ``crop`` for the reference), written to ``store``. A
    check already in the store is read back, not measured again. No label is read: the check compares rankings."""
    from vsalib.data import open_image
    from vsalib.methods.base import Fold, run_fold
    from vsalib.methods.global_cnn import load_finetuned

    fold = Fold(dataset, split, subset)
    ft = next(r for r in run_fold(trainer, fold, store, need_weights=True) if r.method == "global-finetune")
    size = int(ft.params["image_size"])
    params = {"global": ft.key, "backbone": ft.params["backbone"], "image_size": size, "images": int(n_images),
              "boxes": int(n_boxes), "sample_seed": int(seed)}
    names = ["crop", *scorings(size)]
    stored = [store.get(**fold.identity(METHOD, {**params, "versus": v})) for v in names]
    if all(r is not None for r in stored):
        return stored
    mine = [fold.record(METHOD, {**params, "versus": v}, {}) for v in names]
    model = load_finetuned(ft, len(fold.classes)).eval()
    index, paths = sample_test(fold, n_images, seed), fold.all_paths()
    t0 = time.perf_counter()
    with torch.inference_mode():
        measured = measure(model, [open_image(paths[i]) for i in index], n_boxes=n_boxes, size=size,
                           log_base=log_base, progress=progress)
    wall = time.perf_counter() - t0
    records = []
    for rec in mine:
        rec.metrics = measured[rec.params["versus"]]
        rec.wall_time_s = wall
        rec.extra["test_index"] = index
        store.add(rec)
        records.append(rec)
    return records


__all__ = ["FROM_LOGITS", "METHOD", "measure", "run", "sample_test", "scorings"]
