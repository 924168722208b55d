"""The global (whole-image) CNN baseline of every paper.

Two variants, as in the papers' tables:

- **frozen**: ImageNet features of the whole image (pooled; fc7 for VGG16) + a linear classifier
  (L2-regularised logistic regression whose C is chosen on the validation part of each fold);
- **finetune**: the CNN with a new classifier layer trained end to end (``paper`` profile) or, on a
  CPU, its last stages + classifier trained on cached activations of the frozen first stages
  (``finetune_from``), with per-group learning rates.

Every fold of every seed writes one record to the results store; a fold already in the store is
skipped, and a killed fine-tuning run resumes from its last epoch checkpoint.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn
from vsalib.progress import tqdm

from vsalib.backbones import Backbone, create_backbone
from vsalib.data.registry import ImageDataset
from vsalib.data.splits import Split
from vsalib import provenance
from vsalib.methods.base import (
    Fold, Method, Trained, choose_on_validation, protocol_name, register_method, run,
)
from vsalib.results import Record, ResultStore, latest_runs
from vsalib.train import distributed as ddp
from vsalib.train import features as feature_cache
from vsalib.train.loop import evaluate_model, fit, make_optimizer, pick_device, seed_everything

C_GRID = (0.0001, 0.001, 0.01, 0.1, 1.0)

#: Bump when a change here changes the numbers of ``global-*`` records (say what changed).
VERSION = provenance.declare_method("global", 1, changes={
    1: "first published version: frozen features + logistic regression (C on validation); fine-tuning "
       "with per-group learning rates, early stopping on validation",
})


class GlobalCNN(nn.Module):
    """Backbone (from trunk stage ``start``) → pooled feature → dropout → linear classifier."""

    def __init__(self, backbone: Backbone, n_classes: int, dropout: float = 0.5, start: int = 0):
        super().__init__()
        self.backbone = backbone
        self.start = start
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(backbone.pooled_dim, n_classes)
        if start:  # stages before `start` are not part of this model's computation
            for p in backbone.trunk[:start].parameters():
                p.requires_grad_(False)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.forward_from(x, self.start) if self.start else self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.backbone.pool(self.feature_map(x))))

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """``conv`` (trainable trunk stages), ``fc`` (pretrained fc layers, VGG16), ``classifier``."""
        groups = {
            "conv": list(self.backbone.trunk[self.start:].parameters()),
            "fc": list(self.backbone.pooler.parameters()),
            "classifier": list(self.classifier.parameters()),
        }
        return {k: v for k, v in groups.items() if v}


@dataclass
class FoldOutcome:
    record: Record
    y_true: np.ndarray
    y_pred: np.ndarray


def _protocol_name(dataset: ImageDataset, splits: list[Split]) -> str:
    return protocol_name(splits[0])


def _record(dataset, subset, splits, method, params, split, metrics, wall, y_true, y_pred, test_idx, extra=None):
    return Record(
        dataset=dataset.name, subset=subset, protocol=_protocol_name(dataset, splits), method=method,
        params=params, seed=split.seed, fold=split.fold, metrics=metrics, wall_time_s=wall,
        extra={"y_true": y_true, "y_pred": y_pred, "test_index": test_idx,
               "device": str(pick_device()), **(extra or {})},
    )


@dataclass(frozen=True)
class FrozenConfig:
    """The frozen baseline's knobs: the backbone, its input size (None: the backbone's), the C grid."""

    backbone: str = "efficientnet_lite0"
    image_size: int | None = None
    c_grid: tuple[float, ...] = C_GRID


@register_method
class GlobalFrozen(Method):
    """Frozen ImageNet features of the whole image + L2 logistic regression (the papers' "VGG16" rows).

    ``train``: the pooled features of every image (extracted once, cached on disk), a logistic
    regression per C of the grid fitted on the training part, the C with the best validation accuracy
    kept (the first of equals). ``evaluate``: its test accuracy, one ``global-frozen`` record per fold.
    """

    name = "global-frozen"
    Config = FrozenConfig

    def __init__(self, config=None, *, cache_dir=None, progress: bool = True, **settings):
        super().__init__(config, **settings)
        self.cache_dir, self.progress = cache_dir, progress
        self._net = None
        self._feats: dict[tuple, np.ndarray] = {}

    def _backbone(self) -> Backbone:
        if self._net is None:
            self._net = create_backbone(self.config.backbone)
        return self._net

    def params(self) -> dict:
        size = self.config.image_size or self._backbone().info.input_size
        return {"backbone": self.config.backbone, "image_size": size, "classifier": "logreg",
                "c_grid": list(self.config.c_grid)}

    def done(self, fold: Fold, store: ResultStore) -> list[Record] | None:
        rec = store.get(**fold.identity(self.name, self.params()))
        return None if rec is None else [rec]

    def _features(self, fold: Fold) -> np.ndarray:
        paths = fold.all_paths()
        key = (fold.dataset_name, len(paths), paths[0], paths[-1])
        if key not in self._feats:
            self._feats[key] = feature_cache.extract(self._backbone(), paths, size=self.params()["image_size"],
                                                     views=1, cache_dir=self.cache_dir,
                                                     progress=self.progress)[:, 0].numpy()
        return self._feats[key]

    def train(self, fold: Fold, store: ResultStore) -> Trained:
        feats = self._features(fold)
        x_tr, y_tr = feats[fold.index("train")], fold.labels("train")
        x_va, y_va = feats[fold.index("val")], fold.labels("val")
        best_c, best_acc = self.config.c_grid[0], -1.0
        if len(y_va):  # C on the validation part
            best_c, best_acc = choose_on_validation(
                self.config.c_grid, lambda c: float((_logreg(c).fit(x_tr, y_tr).predict(x_va) == y_va).mean()))
        return Trained(fold.id, (_logreg(best_c).fit(x_tr, y_tr), best_c, best_acc))

    def evaluate(self, fold: Fold, trained: Trained) -> list[Record]:
        clf, c, val_acc = trained.model
        test = fold.index("test")
        s = fold.score(clf.predict(self._features(fold)[test]))
        return [fold.record(self.name, self.params(), {"accuracy": s["accuracy"], "val_accuracy": val_acc, "C": c},
                            extra={"y_true": s["y_true"], "y_pred": s["y_pred"], "test_index": test,
                                   "device": str(pick_device())})]


def run_frozen(
    dataset: ImageDataset,
    splits: list[Split],
    *,
    backbone: str = "efficientnet_lite0",
    image_size: int | None = None,
    subset: str | None = None,
    store: ResultStore | None = None,
    c_grid: tuple[float, ...] = C_GRID,
    cache_dir=None,
    progress: bool = True,
) -> list[Record]:
    """Frozen ImageNet features + logistic regression, one record per split (:class:`GlobalFrozen`)."""
    method = GlobalFrozen(backbone=backbone, image_size=image_size, c_grid=tuple(c_grid), cache_dir=cache_dir,
                          progress=progress)
    return run(method, dataset, splits, subset=subset, store=store, progress=False)


def _logreg(c: float):
    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))


def _ident(dataset, subset, splits, method, params, split) -> dict:
    return {"dataset": dataset.name, "subset": subset, "protocol": _protocol_name(dataset, splits),
            "method": method, "params": params, "seed": split.seed, "fold": split.fold}


def run_finetune(
    dataset: ImageDataset,
    splits: list[Split],
    *,
    backbone: str = "efficientnet_lite0",
    image_size: int | None = None,
    subset: str | None = None,
    epochs: int = 10,
    batch_size: int = 32,
    lrs: dict[str, float] | None = None,
    finetune_from: int | None = 12,
    views: int = 2,
    patience: int | None = None,
    dropout: float = 0.5,
    weight_decay: float = 1e-4,
    store: ResultStore | None = None,
    checkpoint_dir: str | Path | None = None,
    cache_dir=None,
    device=None,
    progress: bool = True,
    num_workers: int = 0,
    regularizer=None,
    method: str = "global-finetune",
    on_trained: Callable | None = None,
) -> list[Record]:
    """Fine-tune the global CNN on each split's training part; early stopping on its validation part.

    ``finetune_from=None`` trains the whole network on images (random resized crops + flips);
    an integer trains trunk stages ``finetune_from:`` + fc + classifier on cached activations
    (centre crop and, with ``views=2``, its flip).

    ``regularizer``: a :class:`vsalib.losses.GroupSparseRegularizer` (R-CNNGSR Eq. 6) added to the
    loss over the trainable layers, in place of weight decay (its ``xi2`` term is the L2 penalty);
    with ``proximal=True`` its proximal step follows every optimiser step, at each parameter
    group's learning rate. ``method`` names the records; ``on_trained(model, test_loader, device)``
    returns extra metrics of the trained model (e.g. its sparsity).
    """
    store = ResultStore() if store is None else store
    lrs = dict(lrs or {"conv": 0.001, "fc": 0.001, "classifier": 0.01})
    base = create_backbone(backbone)
    size = image_size or base.info.input_size
    params = {"backbone": backbone, "image_size": size, "epochs": epochs, "batch_size": batch_size,
              "lrs": lrs, "finetune_from": finetune_from, "views": views, "patience": patience,
              "dropout": dropout, "weight_decay": weight_decay}
    if regularizer is not None:  # its xi2 * ||w||^2 is the L2 term, in place of weight decay
        params.update(weight_decay=0.0, xi1=regularizer.xi1, xi2=regularizer.xi2, gs_proximal=regularizer.proximal,
                      gs_scale=regularizer.scale)
    device = pick_device(device)
    todo = [s for s in splits if store.get(**_ident(dataset, subset, splits, method, params, s)) is None]
    cached = None
    if todo and finetune_from is not None:
        cached = feature_cache.extract(base, dataset.paths, stop=finetune_from, size=size, views=views,
                                       cache_dir=cache_dir, device=device, progress=progress)
    ckpt_root = Path(checkpoint_dir) if checkpoint_dir else feature_cache.cache_root(cache_dir) / "checkpoints"
    run_id = hashlib.sha1(json.dumps([dataset.name, subset, params, dataset.paths[:3], len(dataset)],
                                     sort_keys=True, default=str).encode()).hexdigest()[:16]
    records = []
    for split in tqdm(splits, desc=f"{method} folds", disable=not progress, leave=False):
        ident = _ident(dataset, subset, splits, method, params, split)
        done = store.get(**ident)
        if done is not None:
            records.append(done)
            continue
        t0 = time.perf_counter()
        seed_everything(split.seed * 1000 + split.fold)
        model = GlobalCNN(copy.deepcopy(base), len(dataset.classes), dropout, start=finetune_from or 0)
        train_loader, val_loader, test_loader = _loaders(dataset, split, base, size, cached, batch_size,
                                                         num_workers, seed=split.seed * 1000 + split.fold)
        groups = model.param_groups()
        opt = make_optimizer(groups, {k: v for k, v in lrs.items() if k in groups},
                             momentum=0.9, weight_decay=params["weight_decay"])
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
        ckpt = ckpt_root / run_id / f"seed{split.seed}_fold{split.fold}.pt"
        net = ddp.wrap(model, device)  # DistributedDataParallel under torchrun, the model itself otherwise
        reg, after = _regularizer_hooks(regularizer, model, opt)
        fit_result = fit(net, nn.CrossEntropyLoss(), train_loader, opt, epochs=epochs,
                         val_loader=val_loader if len(split.val) else None, seed=split.seed * 1000 + split.fold,
                         device=device, scheduler=sched, checkpoint_path=ckpt, patience=patience,
                         regularizer=reg, regularizer_name="loss_gs", after_step=after, progress=progress,
                         desc=f"fold {split.fold}")
        ev = evaluate_model(model, test_loader, device)
        more = on_trained(model, test_loader, device) if on_trained is not None else {}
        model_path = ckpt_root / run_id / f"model_seed{split.seed}_fold{split.fold}.pt"
        if not ddp.is_main():  # every rank trained and evaluated the same model; rank 0 records it
            continue
        feature_cache.atomic_torch_save(model.state_dict(), model_path)
        rec = _record(dataset, subset, splits, method, params, split,
                      {"accuracy": ev["accuracy"], "val_accuracy": fit_result.best_metric,
                       "best_epoch": fit_result.best_epoch, "epochs_run": len(fit_result.history), **more},
                      time.perf_counter() - t0, ev["y_true"], ev["y_pred"], split.test,
                      {"history": fit_result.history, "model_path": str(model_path)})
        store.add(rec)
        records.append(rec)
        ckpt.unlink(missing_ok=True)  # the record and the saved weights now hold the outcome
    return records


def _regularizer_hooks(regularizer, model: GlobalCNN, opt: torch.optim.Optimizer):
    """``(loss term, after-step hook)`` of a group-sparse regulariser on ``model``'s trainable layers."""
    if regularizer is None:
        return None, None
    reg = lambda m: regularizer(model)["total"]  # noqa: E731  (the unwrapped model under DDP too)
    if not regularizer.proximal:
        return reg, None
    from vsalib.losses import proximal_step, select_layers

    layers = [m for _, m in select_layers(model, regularizer.layers, trainable_only=True)]
    plan = []  # (parameter group, its regularised layers), found once
    for group in opt.param_groups:
        ids = {id(p) for p in group["params"]}
        mods = nn.ModuleList([m for m in layers if id(m.weight) in ids])
        if len(mods):
            plan.append((group, mods))

    def after(_, __):  # the proximal step of xi1 * R_gs at each parameter group's (scheduled) learning rate
        for group, mods in plan:
            proximal_step(mods, group["lr"], regularizer.xi1, scale=regularizer.scale)
    return reg, after


def load_finetuned(record: Record, n_classes: int, device=None) -> GlobalCNN:
    """The whole-image model of a fine-tuning record (its saved weights), ready for Grad-CAM."""
    path = Path(record.extra.get("model_path", ""))
    if not path.is_file():
        raise FileNotFoundError(f"the weights of this run are not at {path!s}; rerun the fold (delete its "
                                f"record from the results store) to recreate them")
    p = record.params
    model = GlobalCNN(create_backbone(p["backbone"]), n_classes, p["dropout"], start=0)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.to(pick_device(device)).eval()


def _loaders(dataset, split, backbone, size, cached, batch_size, num_workers, seed=0):
    from vsalib.data.images import ImageTableDataset

    dl = torch.utils.data.DataLoader
    y = dataset.labels
    if cached is not None:
        mk = lambda idx, train: feature_cache.CachedViews(cached, y, idx, train=train)  # noqa: E731
    else:
        mk = lambda idx, train: ImageTableDataset(dataset, backbone.preprocess(train, size), indices=idx)  # noqa: E731
    return (ddp.distributed_loader(mk(split.train, True), batch_size, shuffle=True, seed=seed,
                                   num_workers=num_workers),
            dl(mk(split.val, False), batch_size=batch_size * 2, num_workers=num_workers),
            dl(mk(split.test, False), batch_size=batch_size * 2, num_workers=num_workers))


# Which published rows the global baseline stands beside: (paper, table, {paper method: our
# method}, {paper dataset: (our dataset, subset)}). Sun2016's and R-CNNGSR's "VGG16" rows are
# ImageNet features + a linear classifier; their "+ft" rows fine-tune; WSIDNet's Table 2
# "Backbone" row is its fine-tuned VGG16 without the interaction branch.
PAPER_BASELINES: list[tuple[str, int, dict[str, str], dict[str, tuple[str, str | None]]]] = [
    ("sun2016", 1, {"VGG16": "global-frozen", "VGG16+ft": "global-finetune"},
     {"twitter1-5": ("twitter1", "five"), "twitter1-4": ("twitter1", "four"),
      "twitter1-3": ("twitter1", "three"), "twitter2": ("twitter2", None)}),
    ("wsidnet", 2, {"Backbone": "global-finetune"},
     {"twitter1-5": ("twitter1", "five"), "twitter1-4": ("twitter1", "four"),
      "twitter1-3": ("twitter1", "three"), "twitter2": ("twitter2", None),
      "emotionroi": ("emotionroi", "binary")}),
    ("rcnngsr", 2, {"VGG16": "global-frozen", "VGG16 fine-tuned": "global-finetune"},
     {"emotion6": ("emotion6", "binary")}),
]


def paper_comparison(runs, *, backbone: str | None = None, profile_params: dict | None = None):
    """Our global-baseline accuracies (mean ± 95 % CI over folds and seeds) beside the papers'.

    ``runs``: ``ResultStore.load()`` output. ``backbone`` keeps only runs of that backbone;
    ``profile_params`` (e.g. ``{"image_size": 224}``) keeps only runs with those params. Of several
    runs of the same fold (earlier settings), the latest is used.
    Returns a long table: paper, table, paper method, paper dataset, paper accuracy, ours, ci95,
    n runs, our method and backbone.
    """
    import pandas as pd

    from vsalib import targets
    from vsalib.evaluate import summarize

    df = runs[runs["method"].isin(["global-frozen", "global-finetune"])] if len(runs) else runs
    if backbone is not None and len(df):
        df = df[df["params.backbone"] == backbone]
    for k, v in (profile_params or {}).items():
        if len(df) and f"params.{k}" in df:
            df = df[df[f"params.{k}"] == v]
    df = latest_runs(df, ["dataset", "subset", "method", "params.backbone", "seed", "fold"])
    rows = []
    for paper, table, methods, datasets in PAPER_BASELINES:
        pub = targets.published(paper=paper, table=table)
        for pm, ours_method in methods.items():
            for pd_name, (ds, subset) in datasets.items():
                p = pub[(pub["method"] == pm) & (pub["dataset"] == pd_name)]
                if p.empty:
                    continue
                sel = df[(df["dataset"] == ds) & (df["method"] == ours_method)] if len(df) else df
                if len(sel) and subset is not None:
                    sel = sel[sel["subset"] == subset]
                mean = ci = float("nan")
                n = 0
                bb = ""
                if len(sel):
                    s = summarize(sel, by=["method"])
                    mean, ci, n = 100 * s["mean"].iloc[0], 100 * s["ci95"].iloc[0], int(s["n"].iloc[0])
                    bb = ", ".join(sorted(sel["params.backbone"].astype(str).unique()))
                rows.append({"paper": paper, "table": table, "paper method": pm, "dataset": pd_name,
                             "paper accuracy": float(p["accuracy"].iloc[0]), "ours": mean, "ci95": ci,
                             "runs": n, "our method": ours_method, "our backbone": bb})
    return pd.DataFrame(rows)


def finetune_gain(comparison):
    """What fine-tuning adds over frozen features, in the paper (Sun2016 Table 1) and in our runs.

    ``comparison``: :func:`paper_comparison`'s table. One row per dataset, in accuracy points.
    """
    import pandas as pd

    t = comparison[comparison["paper"] == "sun2016"]
    wide = t.pivot_table(index="dataset", columns="paper method", values=["paper accuracy", "ours"], aggfunc="first")
    rows = []
    for ds in wide.index:
        get = lambda col, m: wide[(col, m)].get(ds, float("nan")) if (col, m) in wide else float("nan")  # noqa: E731
        rows.append({"dataset": ds, "paper frozen": get("paper accuracy", "VGG16"),
                     "paper fine-tuned": get("paper accuracy", "VGG16+ft"),
                     "paper gain": get("paper accuracy", "VGG16+ft") - get("paper accuracy", "VGG16"),
                     "ours frozen": get("ours", "VGG16"), "ours fine-tuned": get("ours", "VGG16+ft"),
                     "our gain": get("ours", "VGG16+ft") - get("ours", "VGG16")})
    return pd.DataFrame(rows).round(2)
