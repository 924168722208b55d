"""Reference numbers of every method on one small synthetic fold, kept with the method's version.

``compute()`` runs each method family (global, sun2016, rcnngsr) on one fold of a 32-image synthetic
dataset, seeded, one torch thread, and returns ``{family: {"version": v, "metrics": {name: value}}}``.
``tests/test_method_versions.py`` compares it with ``tests/method_reference.json``: numbers that change
while the family's declared version stays the same fail the test, so no published record can silently
disagree with the code that claims to have made it.

After a change that is meant to change a method's numbers: bump its version in
``vsalib/methods/<family>.py`` (``provenance.declare_method``, saying what changed), then write the new
reference with ``.venv/bin/python tests/method_reference.py --write``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = Path(__file__).with_name("method_reference.json")
#: Largest relative difference between two runs of compute() that counts as the same number. Measured:
#: repeated runs on one thread here give identical numbers (difference 0.0); the margin allows for other
#: CPUs' float kernels, far below any change of a method (a changed log base moves Eq. 1's sum by 113 %).
TOLERANCE = 1e-5
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


def compute() -> dict[str, dict]:
    import torch

    from vsalib import provenance
    from vsalib.data import Protocol, load_dataset, make_splits
    from vsalib.data import open_image
    from vsalib.methods import attr_attention, base, global_cnn, multilevel_rcnn, rcnngsr, scale_check, sun2016, wsidnet
    from vsalib.regions.grouping import GroupingConfig
    from vsalib.results import ResultStore

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            ds = load_dataset("synthetic", n_images=64, size=64, cache_dir=str(tmp / "c"))
            kfold = make_splits(ds, Protocol("kfold", k=2), seed=0)[:1]
            store = ResultStore(tmp / "r")
            majority = base.run(base.create_method("majority"), ds, kfold, subset="binary", store=store,
                                progress=False)
            kw = dict(subset="binary", image_size=64, store=store, cache_dir=tmp / "c", progress=False)
            frozen = global_cnn.run_frozen(ds, kfold, **kw)
            ft = global_cnn.run_finetune(ds, kfold, epochs=4, batch_size=16, finetune_from=12, lrs=LRS, **kw)
            sun = sun2016.run_sun2016(ds, [sun2016.FoldInputs(kfold[0], ft[0])], subset="binary", ks=(1, 2),
                                      betas=(0.5,), alphas=(1.0,), store=store, cache_dir=tmp / "c",
                                      progress=False)
            ratio = make_splits(ds, Protocol("ratio", ratios=(0.75, 0.2, 0.05)), seed=0)
            cfg = rcnngsr.RCNNGSRConfig(xi1=0.01, xi2=5e-4, grouping=GroupingConfig(
                scale=50, min_size=20, min_pixels=50, score_method="roialign"))
            trained = rcnngsr.train(ds, ratio, cfg, epochs=4, batch_size=16, finetune_from=12, lrs=LRS, **kw)
            fused = rcnngsr.run_rcnngsr(ds, trained, ratio, cfg, store=store, cache_dir=tmp / "c", progress=False)
            wsid = base.run(wsidnet.WSIDNet(image_size=64, epochs=3, batch_size=16, finetune_from=12, lrs=LRS, k=2,
                                            gcn_width=32, holistic_dim=64, cache_dir=tmp / "c", progress=False),
                            ds, kfold, subset="binary", store=store, progress=False)
            mlr = base.run(multilevel_rcnn.MultiLevelRCNN(
                models=ft, cache_dir=tmp / "c", progress=False, fpn_channels=16, representation=32, detector_epochs=1,
                frozen_stages=12, rpn_pre_nms=100, rpn_post_nms=50, rois_per_image=32, candidates=20, max_size=64,
                hidden=16, head_epochs=3, head_lr=0.01, lams=(0.0, 1.0)), ds, kfold, subset="binary", store=store,
                progress=False)
            attr = base.run(attr_attention.AttrAttention(image_size=64, dim=32, iterations=20, max_epochs=3,
                                                         cache_dir=tmp / "c", progress=False),
                            ds, kfold, subset="binary", store=store, progress=False)
            # the equations' continuous outputs on a few test images, which move where accuracy may not
            sun_eq = _sun2016_equations(ds, kfold[0], ft[0], tmp / "c")
            gsr_eq = _rcnngsr_equations(ds, ratio[0], trained[0], cfg)
            with torch.inference_mode():  # the scale check's agreements on three test images, 10 proposals each
                scale = scale_check.measure(global_cnn.load_finetuned(ft[0], 2).eval(),
                                            [open_image(ds.paths[i]) for i in kfold[0].test[:3]], n_boxes=10, size=64)
    finally:
        torch.set_num_threads(threads)
    versions = provenance.declared_methods()
    numbers = {"majority": _numbers(majority), "global": _numbers(frozen + ft), "sun2016": {**_numbers(sun), **sun_eq},
               "rcnngsr": {**_numbers(trained + fused), **gsr_eq},
               "attr": _numbers(attr, keys=("accuracy", "val_accuracy", "accuracy_after", "accuracy_before",
                                            "attribute_val_accuracy")),
               "multilevel": _numbers(mlr, keys=("accuracy", "val_accuracy", "boxes_per_image", "box_area",
                                                 "candidates_per_image", "recall_emotional", "recall_object")),
               "scalecheck": {f"{name} {k}": float(v) for name, m in scale.items() for k, v in m.items()
                              if k != "seconds_per_image" and v == v},
               "wsidnet": {**_numbers(wsid), **{f"{_name(r)} final train_loss_detect": r.extra["history"][-1][
                   "train_loss_detect"] for r in wsid}}}
    return {fam: {"version": versions[fam].version, "metrics": m} for fam, m in numbers.items()}


def compare(current: dict, reference: dict, tolerance: float = TOLERANCE) -> list[str]:
    """The problems of ``current`` against ``reference`` (``[]`` when they agree)."""
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
        changed = [f"{k}: {ref['metrics'].get(k)} -> {v}" for k, v in cur["metrics"].items()
                   if k not in ref["metrics"] or abs(ref["metrics"][k] - v) > tolerance * max(1.0, abs(v))]
        gone = [k for k in ref["metrics"] if k not in cur["metrics"]]
        if changed or gone:
            problems.append(
                f"{fam}: its numbers changed but its version ({cur['version']}) did not. Bump the version in "
                f"vsalib/methods (provenance.declare_method, saying what changed), then rewrite the reference. "
                f"Changed: {'; '.join(changed[:5])}{' …' if len(changed) > 5 else ''}"
                + (f" Missing: {'; '.join(gone[:5])}" if gone else ""))
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write", action="store_true", help="write tests/method_reference.json from this run")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    current = compute()
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
