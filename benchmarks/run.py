"""Benchmarks of the hot paths (figures for the closing notes; no timed assertions in tests).

    .venv/bin/python benchmarks/run.py [--book] [--real] [--only attr multilevel ...]

- synthetic generation: 1,000 scenes at 128 px, in memory and written;
- feature extraction: EfficientNet-Lite0 forward, images/s at 224 px (batch 32);
- region scoring (Sun2016): proposals per image (EdgeBoxes, selective search) and scoring of 100
  proposals per image by crop-and-forward vs RoIAlign, images/s and their ratio, in one run;
- training throughput: the `cpu` profile's fine-tuned part (trunk stages 12: + classifier) on cached
  activations, samples/s forward+backward at 224 px, batch 32, without and with R-CNNGSR's R;
- WSIDNet: training samples/s of the `cpu` profile's trained part with the whole head (detection
  branch, GCN over 8 emotions, holistic branch; L_class + λ L_detect) and without the graph branch
  (Table 2's Backbone), same backbone and batch; inference seconds per image of the whole model;
- MultiLevelRCNN: the `cpu` profile's proposer, one training step (s/image), and one image's regions and
  features (proposals, p_obj, S_emo top-10, four region sets' RoI features, X_global) against the global
  model's forward alone (the region branch's cost);
- AttrAttention: training samples/s of the attention model and the image-only model on cached grids beside
  the global model's cpu-profile training, and inference seconds per image from the image beside the global
  model's forward;
- RoIAlign at Fast R-CNN's scale: 100 proposals per image scored by crop, by RoIAlign at 224 px and at a
  600 px shorter side; speed and top-1 / top-10 agreement with crop under Sun2016's Senti score;
- sentiment grouping (R-CNNGSR): seconds per image at 384 px with and without the sentiment term,
  and the scoring of the filtered regions by RoIAlign vs crop-and-forward;
- with --real: one Twitter I five-agree fold of the `cpu` profile, timed end to end;
- the published snapshot: its size and load time as Parquet beside the same records as JSON files (in one
  run, and their ratio), and the scoreboard built from it;
- the method reference numbers' spread over thread counts and capped instruction sets, beside the tolerances of
  tests/test_method_versions.py;
- the colour-histogram baselines (GCH, LCH): features per image on decoded Twitter I images;
- the ladder's trend test (a meta-regression over 7 rungs) and the design that would decide one claim;
- with --book: the quick book build (`scripts/build_book.py --force`), seconds.
Results are printed and written to results/benchmarks/latest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def timeit(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_synthetic() -> dict:
    from vsalib.data import synthetic

    t_mem = timeit(lambda: list(synthetic.iter_scenes(1000, 128, seed=0)), repeat=2)
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        synthetic.write_synthetic(Path(d) / "s", 1000, 128, seed=0, progress=False)
        t_disk = time.perf_counter() - t0
    return {"synthetic_1000x128_memory_s": round(t_mem, 2), "synthetic_1000x128_written_s": round(t_disk, 2)}


def train_step_time(model, x, y, repeat: int, regularizer=None) -> float:
    """Seconds of one SGD step (forward, backward, update) on batch ``x`` (best of ``repeat``);
    ``regularizer(model)`` is added to the loss (R-CNNGSR's R)."""
    from torch import nn

    model.train()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9)

    def step():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        if regularizer is not None:
            loss = loss + regularizer(model)["total"]
        loss.backward()
        opt.step()

    step()
    return timeit(step, repeat=repeat)


def bench_backbone() -> dict:
    from vsalib.backbones import create_backbone
    from vsalib.methods.global_cnn import GlobalCNN

    b = create_backbone("efficientnet_lite0").eval()
    x = torch.randn(32, 3, 224, 224)
    with torch.no_grad():
        b(x[:4])
        t = timeit(lambda: b(x), repeat=2)
    out = {"extract_lite0_224_img_per_s": round(32 / t, 1)}
    with torch.no_grad():
        h = b.forward_to(x, 12)
    y = torch.randint(0, 2, (32,))
    out["train_cpu_profile_224_samples_per_s"] = round(32 / train_step_time(GlobalCNN(b, 2, start=12), h, y, 3), 1)
    from vsalib.losses import GroupSparseRegularizer

    out["train_cpu_profile_224_with_R_samples_per_s"] = round(
        32 / train_step_time(GlobalCNN(b, 2, start=12), h, y, 3, regularizer=GroupSparseRegularizer()), 1)
    t = train_step_time(GlobalCNN(create_backbone("efficientnet_lite0"), 2), x, y, 2)
    out["train_full_network_224_samples_per_s"] = round(32 / t, 1)
    return out


def bench_images(dataset: str, step: int, n: int, fallback_hw: tuple[int, int]) -> tuple[list, str]:
    """Every ``step``-th image of ``dataset`` (at most ``n``) where it is available, else ``n`` seeded random
    images of ``fallback_hw`` pixels; and a name for what was read."""
    import numpy as np
    from PIL import Image

    from vsalib.data import is_available, load_dataset, open_image

    if is_available(dataset):
        from vsalib.report import DATASET_NAMES

        return [open_image(p) for p in load_dataset(dataset).paths[::step][:n]], DATASET_NAMES.get(dataset, dataset)
    rng = np.random.default_rng(0)
    h, w = fallback_hw
    return [Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)) for _ in range(n)], f"random {w}x{h}"


def bench_regions(n_boxes: int = 100, n_images: int = 3) -> dict:
    """Sun2016 hot path: proposals per image, and region scoring by crop vs RoIAlign (N boxes, 224 px)."""
    from vsalib.backbones import create_backbone
    from vsalib.methods.global_cnn import GlobalCNN
    from vsalib.regions import scoring
    from vsalib.regions.proposals import propose

    images, src = bench_images("twitter1", 1, n_images, (375, 500))
    out = {"regions_images": src}
    for method in ("edgeboxes", "selective_search"):
        t0 = time.perf_counter()
        for im in images:
            propose(im, method, n_boxes)
        out[f"proposals_{method}_s_per_image"] = round((time.perf_counter() - t0) / len(images), 3)
    model = GlobalCNN(create_backbone("efficientnet_lite0"), 2).eval()
    boxes = [propose(im, "edgeboxes", n_boxes).boxes for im in images]
    boxes = [b if len(b) == n_boxes else torch.cat([b, b.new_tensor([[0, 0, im.width, im.height]]).repeat(
        n_boxes - len(b), 1)]) for b, im in zip(boxes, images)]
    t_crop = min(timeit(lambda: scoring.score_regions(model, images[0], boxes[0], "crop", size=224), repeat=1),
                 float("inf"))
    scoring.score_regions(model, images[0], boxes[0], "roialign", size=224)
    t_roi = timeit(lambda: [scoring.score_regions(model, im, b, "roialign", size=224)
                            for im, b in zip(images, boxes)], repeat=3) / len(images)
    out.update({f"score_{n_boxes}_regions_crop_img_per_s": round(1 / t_crop, 3),
                f"score_{n_boxes}_regions_roialign_img_per_s": round(1 / t_roi, 2),
                "roialign_over_crop_speedup": round(t_crop / t_roi, 1)})
    return out


def _finetuned_twitter_model():
    """A fine-tuned whole-image model of the published Twitter I five-agree runs (seed 0, fold 0) where its weights
    are on this machine, else the ImageNet backbone with a seeded 2-class head; and which one it is."""
    from vsalib import published
    from vsalib.backbones import create_backbone
    from vsalib.methods.global_cnn import GlobalCNN, load_finetuned
    from vsalib.results import ResultStore

    from vsalib.results import Record

    # the published store first (the chapter's Lite0), then the working store (any backbone a run has fine-tuned)
    snapshot = [Record.from_dict(d) for d in published.record_dicts() if d["method"] == "global-finetune"]
    for records in (snapshot, ResultStore().records()):
        recs = sorted((r for r in records if r.method == "global-finetune" and r.dataset == "twitter1"
                       and r.subset == "five" and r.seed == 0 and r.fold == 0), key=lambda r: r.params["backbone"])
        for rec in recs:
            try:
                return load_finetuned(rec, 2), f"{rec.params['backbone']} fine-tuned, Twitter I five-agree seed 0 fold 0"
            except FileNotFoundError:
                continue
    torch.manual_seed(0)
    return GlobalCNN(create_backbone("efficientnet_lite0"), 2).eval(), "ImageNet backbone, seeded head"


def bench_roi_scale(n_boxes: int = 100, n_images: int = 20) -> dict:
    """RoIAlign at the scale it was made for (issue 16), by :func:`vsalib.methods.scale_check.measure`: per image,
    100 EdgeBoxes proposals scored by crop (the paper's), by crop again with every box edge moved by up to 2 px (the
    ceiling: how far crop agrees with itself), by RoIAlign on the image warped to the model's input size (224 px
    for Lite0: a 7 x 7 map) and on the image resized to a shorter side of 600 px (Fast R-CNN's scale, aspect kept),
    and by RoIAlign without each region's surroundings (a diagnostic); seconds per image, and agreement with crop:
    the same top-1 region, the top-1 regions in the same place (IoU >= 0.5) and the share of crop's top-10 among
    each one's top-10 under Sun2016's Senti score (from float32 probabilities, as the records do, and from logits,
    free of the ties that saturation makes; with the number of regions tied at the top). The classifier is a
    fine-tuned Twitter I model where its weights are here (else the ImageNet backbone with a seeded head).
    ``scripts/run_scale_check.py`` records the same measurement on a fold's test images for the book."""
    from vsalib.methods import scale_check

    images, src = bench_images("twitter1", 60, n_images, (375, 500))
    model, head = _finetuned_twitter_model()
    size = model.backbone.info.input_size  # 224 for Lite0, 240 for Lite1
    with torch.inference_mode():
        out = scale_check.measure(model, images, n_boxes=n_boxes, size=size)
    res = {"roi_scale_images": f"{out['crop']['images']} {src} images, {n_boxes} EdgeBoxes proposals each; model: "
                               f"{head}, {size} px",
           "roi_scale_crop_s_per_image": round(out["crop"]["seconds_per_image"], 3),
           "roi_scale_crop_senti_ties_at_top": round(out["crop"]["senti_ties"], 1)}
    for w, m in out.items():
        if w == "crop":
            continue
        res.update({f"roi_scale_{w}_s_per_image": round(m["seconds_per_image"], 3),
                    f"roi_scale_{w}_speedup_over_crop": round(out["crop"]["seconds_per_image"] / m["seconds_per_image"], 1),
                    f"roi_scale_{w}_top1_agreement": round(m["senti_top1"], 2),
                    # the same place: the two top-1 boxes overlap at IoU >= 0.5 (near-duplicate proposals count as one)
                    f"roi_scale_{w}_top1_same_place": round(m["senti_top1_iou50"], 2),
                    f"roi_scale_{w}_top10_overlap": round(m["senti_top10_overlap"], 2),
                    # float32 Senti saturates: how many of the 100 regions tie at the top
                    f"roi_scale_{w}_senti_ties_at_top": round(m["other_senti_ties"], 1),
                    f"roi_scale_{w}_top1_agreement_from_logits": round(m["senti_top1_from_logits"], 2),
                    f"roi_scale_{w}_top1_same_place_from_logits": round(m["senti_top1_iou50_from_logits"], 2),
                    f"roi_scale_{w}_top10_overlap_from_logits": round(m["senti_top10_overlap_from_logits"], 2),
                    f"roi_scale_{w}_senti_spearman": round(m["senti_spearman"], 3),
                    f"roi_scale_{w}_p_positive_pearson": round(m["p_positive_pearson"], 3)})
    return res


def bench_grouping(n_images: int = 3, side: int = 384) -> dict:
    """R-CNNGSR hot path: the sentiment grouping of one image at ``side`` px (longer side), with and
    without the sentiment term, and the scoring of its filtered regions (RoIAlign vs crop)."""
    import numpy as np

    from vsalib.backbones import create_backbone
    from vsalib.methods.global_cnn import GlobalCNN
    from vsalib.regions import grouping

    images, src = bench_images("emotion6", 660, n_images, (288, 384))
    images = [im.resize((side, round(side * im.height / im.width))) if im.width >= im.height else
              im.resize((round(side * im.width / im.height), side)) for im in images]
    model = GlobalCNN(create_backbone("efficientnet_lite0"), 2).eval()
    out = {"grouping_images": f"{src} at {side} px"}
    results = {}
    for name, w in (("without", 0.0), ("with", 1.0)):
        cfg = grouping.GroupingConfig(sentiment=w, cnn_size=224)
        grouping.hierarchical_grouping(images[0], cfg, model if w else None)
        t0 = time.perf_counter()
        results[name] = [grouping.hierarchical_grouping(im, cfg, model if w else None) for im in images]
        out[f"grouping_{name}_sentiment_s_per_image"] = round((time.perf_counter() - t0) / len(images), 3)
    out["grouping_regions_per_image"] = round(float(np.mean([len(r) for r in results["with"]])), 1)
    for method in ("roialign", "crop"):
        cfg = grouping.GroupingConfig(cnn_size=224, score_method=method)
        ims = images if method == "roialign" else images[:1]
        t0 = time.perf_counter()
        for im, res in zip(ims, results["with"]):
            grouping.sentiment_regions(im, cfg, model, result=res)
        out[f"score_filtered_regions_{method}_s_per_image"] = round((time.perf_counter() - t0) / len(ims), 3)
    return out


def bench_wsidnet() -> dict:
    """WSIDNet: samples/s of one training step (cpu profile: trunk stages 12: + head on cached activations,
    224 px, batch 32) with and without the graph branch, and inference s/image on images."""
    from vsalib.backbones import create_backbone
    from vsalib.emotions import sentiment_graph_adjacency
    from vsalib.methods.wsidnet import WSIDNetHeadConfig, WSIDNetNet, wsidnet_losses

    b = create_backbone("efficientnet_lite0").eval()
    x = torch.randn(32, 3, 224, 224)
    with torch.no_grad():
        h = b.forward_to(x, 12)
    y, y_emo = torch.randint(0, 2, (32,)), torch.randint(0, 8, (32,))
    a = sentiment_graph_adjacency()
    out = {}
    for branch in ("full", "holistic"):
        model = WSIDNetNet(create_backbone("efficientnet_lite0"), a, 2, WSIDNetHeadConfig(), start=12, branch=branch)
        model.train()
        opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9)

        def step():
            opt.zero_grad()
            loss = sum(wsidnet_losses(model(h, all_outputs=True), y, y_emo, 0.1).values())
            loss.backward()
            opt.step()

        step()
        out[f"wsidnet_train_{branch}_224_samples_per_s"] = round(32 / timeit(step, repeat=3), 1)
    model = WSIDNetNet(create_backbone("efficientnet_lite0"), a, 2, WSIDNetHeadConfig(), start=0).eval()
    with torch.no_grad():
        model(x[:4])
        t = timeit(lambda: model(x, all_outputs=True), repeat=2)
    out["wsidnet_inference_224_s_per_image"] = round(t / 32, 4)
    out["wsidnet_graph_branch_cost"] = round(out["wsidnet_train_holistic_224_samples_per_s"]
                                             / out["wsidnet_train_full_224_samples_per_s"], 2)
    return out


def bench_multilevel() -> dict:
    """MultiLevelRCNN at the cpu profile's settings (224 px, images 224 x 300): one proposer training step
    (s/image), one image's regions and features (proposals, p_obj, S_emo top-10, the four region sets' RoI
    features, X_global), and the global model's forward alone on the same image (the region branch's cost)."""
    import copy

    from vsalib.backbones import create_backbone
    from vsalib.methods.global_cnn import GlobalCNN
    from vsalib.methods.multilevel_rcnn import PROFILE_SETTINGS, MultiLevelConfig, image_features
    from vsalib.regions.fpn import emotional_region_detector
    from vsalib.regions.objects import ObjectClassifier

    torch.manual_seed(0)
    s = PROFILE_SETTINGS["cpu"]
    cfg = MultiLevelConfig(**s)
    base = create_backbone("efficientnet_lite0")
    det = emotional_region_detector(copy.deepcopy(base), min_size=224, max_size=384, fpn_channels=s["fpn_channels"],
                                    representation=s["representation"], rpn_pre_nms=s["rpn_pre_nms"],
                                    rpn_post_nms=s["rpn_post_nms"], rois_per_image=s["rois_per_image"],
                                    frozen_stages=s["frozen_stages"])
    opt = torch.optim.SGD([p for p in det.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
    images = [torch.rand(3, 224, 300) for _ in range(4)]
    targets = [{"boxes": torch.tensor([[30.0, 20.0, 160.0, 180.0]]), "labels": torch.ones(1, dtype=torch.long)}] * 4

    def step():
        det.train()
        loss = sum(det(images, targets).values())
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()
    out = {"multilevel_proposer_train_s_per_image": round(timeit(step, repeat=3) / 4, 3)}
    det.eval()
    objects = ObjectClassifier(base)
    model = GlobalCNN(copy.deepcopy(base), 2).eval()
    image = (torch.rand(3, 224, 300) * 255).to(torch.uint8)

    def regions():  # what the method computes per image (and caches)
        image_features(model, det, objects, image, cfg, seed=0)

    def global_only():
        with torch.no_grad():
            model(model.backbone.normalize(image[None].float() / 255))

    regions()
    out["multilevel_regions_and_features_s_per_image"] = round(timeit(regions, repeat=3), 3)
    out["multilevel_global_forward_s_per_image"] = round(timeit(global_only, repeat=3), 4)
    out["multilevel_region_branch_cost"] = round(out["multilevel_regions_and_features_s_per_image"]
                                                 / out["multilevel_global_forward_s_per_image"], 1)
    return out


def bench_attr() -> dict:
    """AttrAttention at the cpu profile's settings (224 px: the stride-16 grid, 14 x 14 cells of 112 channels, d =
    512): training samples/s of the attention model and of the image-only model on cached grids (batch 32), beside
    the global model's cpu-profile training on cached activations; inference seconds per image from the image (the
    trunk to stride 16, then Eqs. 1-5 and the classifier) beside the global model's forward."""
    from torch import nn

    from vsalib.backbones import create_backbone
    from vsalib.methods.attr_attention import GRID_STOP, AttrAttentionConfig, AttributeAttention
    from vsalib.methods.global_cnn import GlobalCNN

    torch.manual_seed(0)
    b = create_backbone("efficientnet_lite0").eval()
    x = torch.randn(32, 3, 224, 224)
    with torch.no_grad():
        grid = b.forward_to(x, GRID_STOP["efficientnet_lite0"])
        h = b.forward_to(x, 12)
    attrs, y = torch.randint(0, 8, (32,)), torch.randint(0, 2, (32,))
    out = {}
    for name, use in (("attention", True), ("image_only", False)):
        model = AttributeAttention(grid.shape[1], 8, 2, AttrAttentionConfig().dim)
        opt = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)

        def step():
            loss = nn.functional.cross_entropy(model(grid, attrs if use else None)[0], y)
            opt.zero_grad()
            loss.backward()
            opt.step()

        step()
        out[f"attr_train_{name}_224_samples_per_s"] = round(32 / timeit(step, repeat=3), 1)
    out["attr_train_global_cpu_profile_224_samples_per_s"] = round(
        32 / train_step_time(GlobalCNN(b, 2, start=12), h, y, 3), 1)
    model = AttributeAttention(grid.shape[1], 8, 2, AttrAttentionConfig().dim).eval()
    glob = GlobalCNN(create_backbone("efficientnet_lite0"), 2).eval()
    one = x[:1]

    def attend():
        with torch.no_grad():
            model(b.forward_to(one, GRID_STOP["efficientnet_lite0"]), attrs[:1])

    def global_only():
        with torch.no_grad():
            glob(one)

    attend()
    global_only()
    out["attr_inference_224_s_per_image"] = round(timeit(attend, repeat=5), 4)
    out["attr_global_inference_224_s_per_image"] = round(timeit(global_only, repeat=5), 4)
    return out


def bench_real_fold() -> dict:
    from vsalib.data import load_dataset, make_splits
    from vsalib.methods import global_cnn
    from vsalib.profiles import resolve_profile
    from vsalib.results import ResultStore

    cfg = resolve_profile("cpu")
    ds = load_dataset("twitter1", subset="five")
    split = make_splits(ds, seed=0)[:1]
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        global_cnn.run_finetune(ds, split, image_size=224, epochs=cfg["epochs"], lrs=cfg["lrs"],
                                finetune_from=cfg["finetune_from"], views=cfg["views"], patience=cfg["patience"],
                                store=ResultStore(Path(d) / "r"), cache_dir=Path(d) / "c", progress=False)
        return {"twitter1_five_cpu_profile_one_fold_with_extraction_s": round(time.perf_counter() - t0, 1)}


def bench_snapshot() -> dict:
    """The snapshot's size and load time as Parquet parts, beside the same records as one JSON file each (the
    form it had until 2026-12-06, written to a temporary folder here), loaded in the same run; the scoreboard."""
    from vsalib import published, scoreboard, snapshot
    from vsalib.results import ResultStore

    root = published.published_dir()
    records = published.record_dicts()
    with tempfile.TemporaryDirectory() as d:
        store = ResultStore(d)
        for rec in records:
            name = store.path_for(**{k: rec.get(k) for k in ("dataset", "protocol", "method", "params", "seed", "fold",
                                                                "subset")}).name
            (Path(d) / name).write_text(snapshot.record_json(rec) + "\n", encoding="utf-8")
        json_mib = sum(p.stat().st_size for p in Path(d).iterdir()) / 2**20
        t_json = timeit(lambda: store.load(), repeat=2)
    t_parquet = timeit(lambda: published.load(), repeat=3)
    runs = published.load()
    t1 = time.perf_counter()
    board = scoreboard.scoreboard(runs=runs)
    t2 = time.perf_counter()
    return {"snapshot_records": len(runs), "snapshot_MiB": round(snapshot.size(root) / 2**20, 2),
            "snapshot_as_json_MiB": round(json_mib, 2), "snapshot_load_s": round(t_parquet, 3),
            "snapshot_as_json_load_s": round(t_json, 2), "snapshot_load_speedup": round(t_json / t_parquet, 1),
            "scoreboard_s": round(t2 - t1, 2), "scoreboard_rows": len(board)}


def bench_verdicts() -> dict:
    """The verdicts' per-image tests: one paired bootstrap of a fixed split (3 seeds x 594 images, 10,000
    resamples, as EmotionROI's), one McNemar detectable gain, and the pooled meta-analysis of the scoreboard's
    region claims."""
    import numpy as np

    from vsalib import meta_analysis, scoreboard
    from vsalib import verdicts as V

    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 2, (3, 594)), rng.integers(0, 2, (3, 594))
    t_boot = timeit(lambda: V.paired_bootstrap(a, b), repeat=3)
    t_mc = timeit(lambda: V.mcnemar_detectable(882, 90, 0.05 / 7), repeat=3)
    board = scoreboard.scoreboard()
    claims = meta_analysis.pooled_claims(board)
    t_pool = timeit(lambda: meta_analysis.pool(claims), repeat=3)
    return {"paired_bootstrap_3x594_s": round(t_boot, 3), "mcnemar_detectable_ms": round(1000 * t_mc, 2),
            "meta_analysis_ms": round(1000 * t_pool, 1), "pooled_claims": len(claims)}


def bench_histograms(n: int = 40) -> dict:
    """The colour-histogram baselines' features (GCH: 64 bins; LCH: 4 x 4 blocks of 64) per image, decoded
    pixels in hand (Twitter I where it is, else random 500 x 375 images)."""
    import numpy as np

    from vsalib.methods import color_histogram as H

    images, source = bench_images("twitter1", 7, n, (375, 500))
    pixels = [np.asarray(im.convert("RGB")) for im in images]
    t_g = timeit(lambda: [H.rgb_histogram(p) for p in pixels], repeat=3) / len(pixels)
    t_l = timeit(lambda: [H.local_histograms(p) for p in pixels], repeat=3) / len(pixels)
    return {"histograms_images": source, "gch_ms_per_image": round(1000 * t_g, 2),
            "lch_ms_per_image": round(1000 * t_l, 2)}


def bench_trend_and_designs() -> dict:
    """The meta-regression of the ladder (7 rungs) and the design that would decide each scoreboard claim."""
    import numpy as np

    from vsalib import meta_analysis
    from vsalib import verdicts as V

    rng = np.random.default_rng(0)
    gain, se, acc = rng.normal(0, 1, 7), rng.uniform(0.5, 1.5, 7), rng.uniform(80, 90, 7)
    t_reg = timeit(lambda: meta_analysis.meta_regression(gain, se, acc), repeat=5)
    t = V.Test(1.0, float("nan"), 5, 0.3, float("nan"), 4.0, verdict="not resolved", se=1.0, df=4, alpha_used=0.05)
    t_plan = timeit(lambda: V.design_to_decide(t, 0.25, folds=5), repeat=5)
    return {"meta_regression_ms": round(1000 * t_reg, 2), "design_to_decide_ms": round(1000 * t_plan, 2)}


def bench_reference_spread() -> dict:
    """How far the method reference numbers move under other thread counts and capped instruction sets (one
    process each; tests/method_reference.py --spread), against the tolerances the reference test uses."""
    sys.path.insert(0, str(ROOT / "tests"))
    import method_reference as ref

    out = {}
    for setting, kinds in ref.measure_spread(progress=False).items():
        for kind, (worst, _, moved) in kinds.items():
            out[f"reference_{kind}_max_move[{setting}]"] = float(f"{worst:.2g}")
    out.update({f"reference_tolerance_{k}": v for k, v in ref.TOLERANCES.items()})
    return out


def bench_book() -> dict:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_book.py"), "--force"], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)
    return {"book_build_quick_s": round(time.perf_counter() - t0, 1)}


def bench_crop_batch(n_crops: int = 64) -> dict:
    """Crop scoring's forward pass (EfficientNet-Lite0, 224 px crops): seconds per 100 crops by batch size,
    contiguous against channels-last memory (what :data:`vsalib.regions.scoring.CROP_BATCH` is chosen from)."""
    from vsalib.backbones import create_backbone

    b = create_backbone("efficientnet_lite0").eval()
    out = {}
    with torch.inference_mode():
        for layout, fmt in (("contiguous", torch.contiguous_format), ("channels_last", torch.channels_last)):
            for bs in (4, 8, 32):
                x = torch.randn(bs, 3, 224, 224).contiguous(memory_format=fmt)
                b(x)
                t = timeit(lambda: [b(x) for _ in range(n_crops // bs)], repeat=2)
                out[f"crop_forward_{layout}_batch{bs}_s_per_100"] = round(t / (n_crops // bs * bs) * 100, 2)
    return out


BENCHES = {"verdicts": bench_verdicts, "synthetic": bench_synthetic, "backbone": bench_backbone, "crop_batch": bench_crop_batch, "regions": bench_regions, "roi_scale": bench_roi_scale,
           "grouping": bench_grouping, "wsidnet": bench_wsidnet, "multilevel": bench_multilevel, "attr": bench_attr,
           "snapshot": bench_snapshot, "reference_spread": bench_reference_spread, "histograms": bench_histograms,
           "trend_and_designs": bench_trend_and_designs}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--book", action="store_true")
    ap.add_argument("--real", action="store_true")
    ap.add_argument("--only", nargs="*", choices=sorted(BENCHES), help="run only these benchmarks (default: all)")
    args = ap.parse_args(argv)
    os.environ.setdefault("TQDM_DISABLE", "1")
    res = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}"}
    for name, bench in BENCHES.items():
        if not args.only or name in args.only:
            res.update(bench())
    if args.real:
        res.update(bench_real_fold())
    if args.book:
        res.update(bench_book())
    print(json.dumps(res, indent=1))
    out = ROOT / "results" / "benchmarks" / "latest.json"  # beside the results store, not in it
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.only and out.is_file():  # a partial run updates the figures it measured, keeps the others
        res = {**json.loads(out.read_text()), **res}
    out.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
