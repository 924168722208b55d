"""Benchmarks of the hot paths (figures for the closing notes; no timed assertions in tests).

    .venv/bin/python benchmarks/run.py [--book] [--real]

- synthetic generation: 1,000 scenes at 128 px, in memory and written;
- feature extraction: EfficientNet-Lite0 forward, images/s at 224 px (batch 32);
- training throughput: the `cpu` profile's fine-tuned part (trunk stages 12: + classifier) on cached
  activations, samples/s forward+backward at 224 px, batch 32;
- with --real: one Twitter I five-agree fold of the `cpu` profile, timed end to end;
- with --book: the quick book build (`scripts/build_book.py --force`), seconds.
Results are printed and written to results/benchmarks.json.
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


def bench_backbone() -> dict:
    from torch import nn

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
    model = GlobalCNN(b, 2, start=12).train()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
    y = torch.randint(0, 2, (32,))

    def step():
        opt.zero_grad()
        nn.functional.cross_entropy(model(h), y).backward()
        opt.step()

    step()
    t = timeit(step, repeat=3)
    out["train_cpu_profile_224_samples_per_s"] = round(32 / t, 1)
    full = GlobalCNN(create_backbone("efficientnet_lite0"), 2).train()
    opt = torch.optim.SGD(full.parameters(), lr=0.01, momentum=0.9)

    def full_step():
        opt.zero_grad()
        nn.functional.cross_entropy(full(x), y).backward()
        opt.step()

    full_step()
    t = timeit(full_step, repeat=2)
    out["train_full_network_224_samples_per_s"] = round(32 / t, 1)
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


def bench_book() -> dict:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_book.py"), "--force"], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)
    return {"book_build_quick_s": round(time.perf_counter() - t0, 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--book", action="store_true")
    ap.add_argument("--real", action="store_true")
    args = ap.parse_args(argv)
    os.environ.setdefault("TQDM_DISABLE", "1")
    res = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}"}
    res.update(bench_synthetic())
    res.update(bench_backbone())
    if args.real:
        res.update(bench_real_fold())
    if args.book:
        res.update(bench_book())
    print(json.dumps(res, indent=1))
    out = ROOT / "results" / "benchmarks.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
