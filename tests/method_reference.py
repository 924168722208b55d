"""Reference numbers of every method on one small synthetic fold, kept with the method's version.

``compute()`` runs each method family (global, sun2016, rcnngsr, ...) on one fold of a 64-image synthetic
dataset, seeded, one torch thread, and returns ``{family: {"version": v, "metrics": {name: value}}}``.
``tests/test_method_versions.py`` compares it with ``tests/method_reference.json``: numbers that change
while the family's declared version stays the same fail the test, so no published record can silently
disagree with the code that claims to have made it.

Two kinds of number, compared two ways (:func:`kind`, :func:`compare`):

- **counted** numbers (accuracies, per-image prediction codes, region and tie counts, rank agreements) are
  decided by a comparison (argmax, a threshold, an order) and must match exactly;
- **continuous** numbers (sums of Eq. 1-3's scores, correlations, losses, areas, IoUs) are float32 results
  of a network and match to a tolerance (:data:`TOLERANCES`): the CPU's instruction set and thread count pick
  other kernels and summation orders (oneDNN's convolutions, ATen's vectorised reductions, MKL's GEMM), so
  the same code gives numbers that agree to about 1e-5-1e-3 only (``--spread`` measures it).

After a change that is meant to change a method's numbers: bump its version in
``vsalib/methods/<family>.py`` (``provenance.declare_method``, saying what changed), then write the new
reference with ``.venv/bin/python tests/method_reference.py --write``. ``--spread`` reruns the computation
under other thread counts and capped instruction sets (each in its own process) and prints how far each
kind of number moves.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = Path(__file__).with_name("method_reference.json")
#: Largest difference, relative to ``max(1, |value|)``, that counts as the same number, per kind (:func:`kind`).
#: Measured with ``--spread`` (2026-12-06, Intel Xeon with AVX-512, one process per setting): over 1, 2 and 4
#: threads, oneDNN capped at AVX2, ATen's kernels at AVX2 and at their portable (no-SIMD) default, MKL capped at
#: AVX2, and all three capped together, no counted number moved; the largest move of a correlation was 1.5e-3
#: (the Pearson correlation of p(positive) over ten RoIAlign regions whose probabilities differ in their third
#: decimal: a small spread divides float32's noise), and of any other continuous number 1.2e-4 (the sum of
#: Eq. 1's scores), both under ATen's portable kernels; with SIMD kernels at most 3.3e-5 and 2.2e-5. Each
#: tolerance is about 7 times the largest move seen and far below the changes it must catch: a changed log
#: base moves Eq. 1's sum by 44 %, one flipped prediction moves an accuracy by at least 1/64.
TOLERANCES = {"counted": 1e-12, "correlation": 1e-2, "continuous": 1e-3}
#: Metric names (the last word of a reference key) that count: accuracies over a fixed set of images, the
#: per-image prediction codes, counts and fractions of regions, boxes, ties and agreements of rankings.
COUNTED = re.compile(r"(^|_)(accuracy|accuracy_\w+|y_pred|regions|mean_regions|zero_weights|dead_fraction|"
                     r"mean_proposals|images|senti_ties|other_senti_ties|senti_top1|senti_top1_from_logits|"
                     r"senti_top10_overlap|senti_top10_overlap_from_logits|senti_top1_iou50|"
                     r"senti_top1_iou50_from_logits|senti_spearman|recall_emotional|recall_object|"
                     r"boxes_per_image|candidates_per_image)$")
#: The settings that ``--spread`` compares with the default (one process each; environment, torch threads).
SPREAD_SETTINGS: dict[str, tuple[dict[str, str], int]] = {
    "2 threads": ({}, 2),
    "4 threads": ({}, 4),
    "oneDNN capped at AVX2": ({"ONEDNN_MAX_CPU_ISA": "AVX2"}, 1),
    "ATen kernels at AVX2": ({"ATEN_CPU_CAPABILITY": "avx2"}, 1),
    "ATen kernels portable": ({"ATEN_CPU_CAPABILITY": "default"}, 1),
    "MKL capped at AVX2": ({"MKL_ENABLE_INSTRUCTIONS": "AVX2"}, 1),
    "all three capped at AVX2, 2 threads": ({"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2",
                                             "MKL_ENABLE_INSTRUCTIONS": "AVX2"}, 2),
}
LRS = {"conv": 0.01, "fc": 0.01, "classifier": 0.05}  # the quick profile's


def _name(rec) -> str:
    params = {k: v for k, v in sorted(rec.params.items()) if k not in ("global",)}
    return f"{rec.method} {json.dumps(params, sort_keys=True, default=str)} seed={rec.seed} fold={rec.fold}"


def _numbers(records, keys=("accuracy", "val_accuracy", "dead_fraction", "accuracy_compact", "zero_weights",
                             "mean_regions", "mean_proposals")) -> dict[str, float]:
    """Each record's metrics, and its per-image predictions as one number (how many images it calls 1
    weighted by position), so that a changed prediction shows even where accuracy does not move."""
    out = {}
    for r in records:
        for k in keys:
            v = r.metrics.get(k)
            if isinstance(v, (int, float)) and v == v:
                out[f"{_name(r)} {k}"] = float(v)
        if "y_pred" in r.extra:
            out[f"{_name(r)} y_pred"] = float(sum((i + 1) * int(p) for i, p in enumerate(r.extra["y_pred"])))
    return out


def _sun2016_equations(ds, split, ft_record, cache_dir, n: int = 6) -> dict[str, float]:
    """Sums over ``n`` test images of Senti (Eq. 1), AR (Eq. 2) and the late-fused scores (Eq. 3)."""
    from vsalib.methods import global_cnn, sun2016

    cfg = sun2016.Sun2016Config()
    model = global_cnn.load_finetuned(ft_record, len(ds.classes))
    paths = [ds.paths[i] for i in split.test[:n]]
    regs = sun2016.analyse_images(model, paths, sun2016.dataset_proposals(paths, cfg, cache_dir=cache_dir,
                                                                          progress=False), cfg, 64, False)
    out = {"eq1 senti sum": sum(float(r.senti.sum()) for r in regs),
           "eq2 AR sum": sum(float(r.ranking_scores("obj+senti", 1.0).sum()) for r in regs)}
    for k in (1, 3):
        out[f"eq3 fused K={k} sum of class-1 scores"] = sum(float(r.late_fusion(k, 0.5).scores[1]) for r in regs)
    return out


def _rcnngsr_equations(ds, split, trained_record, cfg, n: int = 3) -> dict[str, float]:
    """Sums over ``n`` test images of the regions' area weights and of Eq. 3's fused scores (both readings)."""
    from vsalib.methods import global_cnn, rcnngsr

    model = global_cnn.load_finetuned(trained_record, len(ds.classes))
    regs = [rcnngsr.analyse_image(model, ds.paths[i], cfg.grouping, 64) for i in split.test[:n]]
    out = {"regions": float(sum(len(r.areas) for r in regs)),
           "area weight sum": sum(float(r.areas.sum()) / r.image_area for r in regs)}
    for reading in rcnngsr.FUSION_READINGS:
        out[f"eq3 {reading} sum of class-1 scores"] = sum(float(r.fuse(reading).scores[1]) for r in regs)
    return out


#: The method families of the reference, in the order compute() runs them.
FAMILIES = ("majority", "gch", "lch", "global", "sun2016", "rcnngsr", "wsidnet", "multilevel", "attr", "scalecheck")


def compute(threads: int = 1, families=None) -> dict[str, dict]:
    """The reference numbers of ``families`` (default :data:`FAMILIES`, every one), computed with ``threads``
    torch threads (1 for the reference). Each family's numbers are the same whichever others are computed."""
    from vsalib import provenance  # before torch: vsalib sets OMP_WAIT_POLICY
    import torch

    from vsalib.data import Protocol, load_dataset, make_splits
    from vsalib.data import open_image
    from vsalib.methods import (attr_attention, base, color_histogram, global_cnn, multilevel_rcnn, rcnngsr, scale_check,
                                sun2016, wsidnet)
    from vsalib.regions.grouping import GroupingConfig
    from vsalib.results import ResultStore

    want = set(FAMILIES if families is None else families)
    if want - set(FAMILIES):
        raise ValueError(f"families: unknown {sorted(want - set(FAMILIES))}; expected some of {', '.join(FAMILIES)}")
    numbers: dict[str, dict[str, float]] = {}
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            ds = load_dataset("synthetic", n_images=64, size=64, cache_dir=str(tmp / "c"))
            kfold = make_splits(ds, Protocol("kfold", k=2), seed=0)[:1]
            store = ResultStore(tmp / "r")
            kw = dict(subset="binary", image_size=64, store=store, cache_dir=tmp / "c", progress=False)
            if "majority" in want:
                numbers["majority"] = _numbers(base.run(base.create_method("majority"), ds, kfold, subset="binary",
                                                        store=store, progress=False))
            for hist in {"gch", "lch"} & want:  # the colour histograms
                numbers[hist] = _numbers(color_histogram.run_histograms(ds, kfold, subset="binary", store=store,
                                                                        kinds=(hist,), progress=False))
            if "global" in want:
                numbers["global"] = _numbers(global_cnn.run_frozen(ds, kfold, **kw))
            if want & {"global", "sun2016", "multilevel", "scalecheck"}:  # the fine-tuned model they build on
                ft = global_cnn.run_finetune(ds, kfold, epochs=4, batch_size=16, finetune_from=12, lrs=LRS, **kw)
            if "global" in want:
                numbers["global"].update(_numbers(ft))
            if "sun2016" in want:
                sun = sun2016.run_sun2016(ds, [sun2016.FoldInputs(kfold[0], ft[0])], subset="binary", ks=(1, 2),
                                          betas=(0.5,), alphas=(1.0,), store=store, cache_dir=tmp / "c",
                                          progress=False)
                # the equations' continuous outputs on a few test images, which move where accuracy may not
                numbers["sun2016"] = {**_numbers(sun), **_sun2016_equations(ds, kfold[0], ft[0], tmp / "c")}
            if "rcnngsr" in want:
                ratio = make_splits(ds, Protocol("ratio", ratios=(0.75, 0.2, 0.05)), seed=0)
                cfg = rcnngsr.RCNNGSRConfig(xi1=0.01, xi2=5e-4, grouping=GroupingConfig(
                    scale=50, min_size=20, min_pixels=50, score_method="roialign"))
                trained = rcnngsr.train(ds, ratio, cfg, epochs=4, batch_size=16, finetune_from=12, lrs=LRS, **kw)
                fused = rcnngsr.run_rcnngsr(ds, trained, ratio, cfg, store=store, cache_dir=tmp / "c", progress=False)
                numbers["rcnngsr"] = {**_numbers(trained + fused), **_rcnngsr_equations(ds, ratio[0], trained[0], cfg)}
            if "wsidnet" in want:  # both read-outs: the mean (the first default) and the concatenation (today's)
                wsid = [r for readout in ("mean", "concat") for r in base.run(wsidnet.WSIDNet(
                    image_size=64, epochs=3, batch_size=16, finetune_from=12, lrs=LRS, k=2, gcn_width=32,
                    holistic_dim=64, readout=readout, cache_dir=tmp / "c", progress=False),
                    ds, kfold, subset="binary", store=store, progress=False)]
                numbers["wsidnet"] = {**_numbers(wsid), **{f"{_name(r)} final train_loss_detect": r.extra["history"][-1][
                    "train_loss_detect"] for r in wsid}}
            if "multilevel" in want:
                mlr = base.run(multilevel_rcnn.MultiLevelRCNN(
                    models=ft, cache_dir=tmp / "c", progress=False, fpn_channels=16, representation=32,
                    detector_epochs=1, frozen_stages=12, rpn_pre_nms=100, rpn_post_nms=50, rois_per_image=32,
                    candidates=20, max_size=64, hidden=16, head_epochs=3, head_lr=0.01, lams=(0.0, 1.0)),
                    ds, kfold, subset="binary", store=store, progress=False)
                numbers["multilevel"] = _numbers(mlr, keys=("accuracy", "val_accuracy", "boxes_per_image", "box_area",
                                                            "candidates_per_image", "recall_emotional", "recall_object"))
            if "attr" in want:
                attr = base.run(attr_attention.AttrAttention(image_size=64, dim=32, iterations=20, max_epochs=3,
                                                             cache_dir=tmp / "c", progress=False),
                                ds, kfold, subset="binary", store=store, progress=False)
                numbers["attr"] = _numbers(attr, keys=("accuracy", "val_accuracy", "accuracy_after", "accuracy_before",
                                                       "attribute_val_accuracy"))
            if "scalecheck" in want:
                with torch.inference_mode():  # the scale check's agreements on three test images, 10 proposals each
                    scale = scale_check.measure(global_cnn.load_finetuned(ft[0], 2).eval(),
                                                [open_image(ds.paths[i]) for i in kfold[0].test[:3]], n_boxes=10,
                                                size=64)
                numbers["scalecheck"] = {f"{name} {k}": float(v) for name, m in scale.items() for k, v in m.items()
                                         if k != "seconds_per_image" and v == v}
    finally:
        torch.set_num_threads(before)
    from vsalib.methods import import_all

    import_all()
    versions = provenance.declared_methods()
    return {fam: {"version": versions[fam].version, "metrics": numbers[fam]} for fam in FAMILIES if fam in numbers}


def kind(name: str) -> str:
    """How the reference number ``name`` is compared: ``"counted"`` (:data:`COUNTED`), ``"correlation"`` (a
    Pearson correlation of float32 outputs) or ``"continuous"``; :data:`TOLERANCES` holds each kind's tolerance."""
    last = name.rsplit(" ", 1)[-1]
    if COUNTED.search(last):
        return "counted"
    return "correlation" if last.endswith("pearson") else "continuous"


def differs(name: str, ref: float, cur: float, tolerances: dict[str, float] | None = None) -> bool:
    """Whether ``cur`` is another number than ``ref``: further apart than its kind's tolerance (relative to
    ``max(1, |cur|)``)."""
    tol = (tolerances or TOLERANCES)[kind(name)]
    return abs(ref - cur) > tol * max(1.0, abs(cur))


def compare(current: dict, reference: dict, tolerances: dict[str, float] | None = None) -> list[str]:
    """The problems of ``current`` against ``reference`` (``[]`` when they agree): each number within its
    kind's tolerance (:data:`TOLERANCES`; counted numbers equal)."""
    problems = []
    for fam, cur in current.items():
        ref = reference.get(fam)
        if ref is None:
            problems.append(f"{fam}: no reference numbers; write them with `python tests/method_reference.py --write`")
            continue
        if ref["version"] != cur["version"]:
            problems.append(f"{fam}: declared version {cur['version']} but the reference was made at version "
                            f"{ref['version']}; write the new reference with `python tests/method_reference.py --write`")
            continue
        changed = [f"{k} ({kind(k)}): {ref['metrics'].get(k)} -> {v}" for k, v in cur["metrics"].items()
                   if k not in ref["metrics"] or differs(k, ref["metrics"][k], v, tolerances)]
        gone = [k for k in ref["metrics"] if k not in cur["metrics"]]
        if changed or gone:
            problems.append(
                f"{fam}: its numbers changed but its version ({cur['version']}) did not. Bump the version in "
                f"vsalib/methods (provenance.declare_method, saying what changed), then rewrite the reference. "
                f"Changed: {'; '.join(changed[:5])}{' …' if len(changed) > 5 else ''}"
                + (f" Missing: {'; '.join(gone[:5])}" if gone else ""))
    return problems


def spread(runs: dict[str, dict], base: str) -> dict[str, dict]:
    """How far each setting's numbers lie from ``runs[base]``'s: ``{setting: {kind: (largest |difference| /
    max(1, |value|), the number's name, how many numbers of the kind moved at all)}}``."""
    out = {}
    for setting, cur in runs.items():
        if setting == base:
            continue
        worst: dict[str, tuple[float, str, int]] = {k: (0.0, "", 0) for k in TOLERANCES}
        for fam, numbers in runs[base].items():
            for k, v in numbers["metrics"].items():
                w = cur[fam]["metrics"].get(k, float("nan"))
                d = abs(v - w) / max(1.0, abs(v)) if w == w else float("inf")
                big, name, moved = worst[kind(k)]
                worst[kind(k)] = (max(big, d), f"{fam}: {k}" if d > big else name, moved + (d > 0))
        out[setting] = worst
    return out


def measure_spread(settings: dict[str, tuple[dict[str, str], int]] | None = None, *,
                   progress: bool = True) -> dict[str, dict]:
    """Compute the reference numbers once by default and once under each of ``settings`` (default
    :data:`SPREAD_SETTINGS`), each in a fresh process (the instruction-set caps are read at start-up), and
    return :func:`spread` against the default."""
    settings = SPREAD_SETTINGS if settings is None else settings
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (env, threads) in {"default": ({}, 1), **settings}.items():
            out = Path(tmp) / "numbers.json"
            subprocess.run([sys.executable, str(Path(__file__)), "--out", str(out), "--threads", str(threads)],
                           env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE", **env}, check=True, capture_output=True, text=True)
            runs[name] = json.loads(out.read_text(encoding="utf-8"))
            if progress:
                print(f"computed: {name}", file=sys.stderr, flush=True)
    return spread(runs, "default")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write", action="store_true", help="write tests/method_reference.json from this run")
    ap.add_argument("--out", help="write this run's numbers to this file instead of comparing them")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of this run (default 1, as the reference)")
    ap.add_argument("--spread", action="store_true",
                    help="rerun under other thread counts and capped instruction sets; print how far numbers move")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args.spread:
        for setting, s in measure_spread().items():
            print(f"{setting}: " + "; ".join(f"{k}: {n} moved, at most {d:.1e} (tolerance {TOLERANCES[k]:.0e})"
                                            + (f" [{name[:90]}]" if n else "") for k, (d, name, n) in s.items()))
        return 0
    current = compute(threads=args.threads)
    if args.out:
        Path(args.out).write_text(json.dumps(current, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        return 0
    if args.write:
        REFERENCE.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(f"wrote {REFERENCE}: " + ", ".join(f"{f} v{c['version']} ({len(c['metrics'])} numbers)"
                                                 for f, c in current.items()))
        return 0
    problems = compare(current, json.loads(REFERENCE.read_text(encoding="utf-8")))
    print("\n".join(problems) or "every method's numbers match its reference")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
