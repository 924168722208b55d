"""AttrAttention (*An attention mechanism guided by subjective emotional attributes for visual sentiment
analysis*; authors and title as far as the available text gives them), its model, Eqs. 1–6 (issue 15).

The conv grid's z cells (VGG16's conv5 at 224 px: 14 × 14 = 196; ours: the backbone's stride-16 stage, 14 × 14 at
224 px) are encoded, an attribute of the image (its adjective) is encoded, and their dot products, rectified and
normalised, weight the cells:

- Eq. 1: ``v_E,i = ReLU(W_v V_i + b_v)`` (a 1 × 1 convolution over the grid);
- Eq. 2: ``a_E = ReLU(W_a a + b_a)``, ``a`` the attribute: GloVe in the paper, which cannot be had offline; ours a
  one-hot vector (``embedding="onehot"``: ``W_a a`` is then a lookup) or a learned word vector
  (``embedding="learned"``, 50-d, then ``W_a``);
- Eqs. 4–5: ``ô_i = a_E · v_E,i``, ``o_i = ReLU(ô_i) / Σ_i ReLU(ô_i)``; where every ``ô_i`` ≤ 0 the sum is 0 and
  the weights are uniform (the text does not say; 0/0 must not reach the classifier);
- Eq. 3 and the classifier: the attended feature ``Σ_i o_i v_E,i`` → a linear layer → softmax, trained with
  cross-entropy (Eq. 6). The printed Eq. 6 sets ``p(s) = Σ_i o_i``, which is 1 for every image: our reading is
  that the classifier sees the weighted sum of the encoded cells (Eq. 3's ``g_i`` summed).

``attribute=None`` is the image-only model of the same shape (uniform weights: the mean of the encoded cells).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from vsalib import provenance
from vsalib.train.loop import atomic_torch_save, safe_torch_load
from vsalib.methods.base import Claim, Fold, Method, PaperCard, PaperRow, Substitution, Trained, register_method
from vsalib.results import Record, ResultStore

#: Bump when a change here changes the numbers of ``attr-attention`` records (say what changed).
VERSION = provenance.declare_method("attr", 2, changes={
    1: "first version: Eqs. 1-6 on the stride-16 grid (cached), one-hot or learned attribute encoder, early stopping "
       "on validation loss; variants image / true / predicted / only; augmentation before vs after an inner split",
    2: "the true variant also scores the test images with their attributes shuffled among them "
       "(accuracy_shuffled_attribute); trained models cached per fold",
})

EMBEDDINGS = ("onehot", "learned")
VARIANTS = ("image", "true", "predicted", "only")
#: Per backbone, the trunk stages up to stride 16: a 14 × 14 grid at 224 px (VGG16: conv5_3, as in the paper).
GRID_STOP = {"efficientnet_lite0": 12, "vgg16": 30, "resnet101": 4}
VOTE_COLUMNS = ("p_anger", "p_disgust", "p_fear", "p_joy", "p_sadness", "p_surprise", "p_neutral")
UNSEEN = "<unseen>"
#: Where an image's attribute comes from, per dataset column: the synthetic scenes' adjective; the dominant
#: emotion of Emotion6 / EmotionROI's votes (which only partly fixes the polarity); the folder's emotion (which
#: fixes it: the degenerate case).
ATTRIBUTE_SOURCES = ("adjective", "dominant", "folder")


class AttributeAttention(nn.Module):
    """Eqs. 1–6: ``forward(grid (B, C, h, w), attribute (B,) or None) -> (logits (B, classes), o (B, h·w))``."""

    def __init__(self, in_channels: int, n_attributes: int, n_classes: int = 2, dim: int = 512,
                 embedding: str = "onehot", word_dim: int = 50):
        super().__init__()
        if embedding not in EMBEDDINGS:
            raise ValueError(f"embedding={embedding!r} is not valid; valid: {', '.join(EMBEDDINGS)}")
        if n_attributes < 1 or dim < 1:
            raise ValueError(f"n_attributes and dim must be >= 1, got {n_attributes}, {dim}")
        self.n_attributes, self.embedding = n_attributes, embedding
        self.encode_cells = nn.Conv2d(in_channels, dim, kernel_size=1)  # W_v, b_v (Eq. 1)
        self.words = nn.Embedding(n_attributes, word_dim) if embedding == "learned" else None
        self.encode_attribute = nn.Linear(word_dim if embedding == "learned" else n_attributes, dim)  # W_a, b_a
        self.classifier = nn.Linear(dim, n_classes)

    def cells(self, grid: torch.Tensor) -> torch.Tensor:
        """Eq. 1: the encoded cells ``v_E`` (B, z, dim)."""
        return torch.relu(self.encode_cells(grid)).flatten(2).transpose(1, 2)

    def attribute_vector(self, attribute: torch.Tensor) -> torch.Tensor:
        """Eq. 2: ``a_E`` (B, dim) of attribute indices (B,)."""
        attribute = torch.as_tensor(attribute).long().reshape(-1)
        if ((attribute < 0) | (attribute >= self.n_attributes)).any():
            raise ValueError(f"attribute indices must lie in 0..{self.n_attributes - 1}")
        a = self.words(attribute) if self.words is not None else \
            nn.functional.one_hot(attribute, self.n_attributes).float()
        return torch.relu(self.encode_attribute(a))

    def forward(self, grid: torch.Tensor, attribute: torch.Tensor | None = None):
        v = self.cells(grid)
        o = uniform_weights(v) if attribute is None else attention_weights(v, self.attribute_vector(attribute))
        return self.classifier((o[..., None] * v).sum(dim=1)), o


def attention_weights(v: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """Eqs. 4–5: ``o_i = ReLU(a · v_i) / Σ_i ReLU(a · v_i)`` per image (B, z); uniform where the sum is 0."""
    r = torch.relu(torch.einsum("bzd,bd->bz", v, a))
    s = r.sum(dim=1, keepdim=True)
    return torch.where(s > 0, r / s.clamp_min(torch.finfo(r.dtype).tiny), torch.full_like(r, 1.0 / r.shape[1]))


def uniform_weights(v: torch.Tensor) -> torch.Tensor:
    """The image-only model's weights: ``1 / z`` on every cell."""
    return torch.full(v.shape[:2], 1.0 / v.shape[1], dtype=v.dtype, device=v.device)


def attribute_codes(table: pd.DataFrame, source: str) -> tuple[np.ndarray, list[str]]:
    """Each image's attribute as an index into a vocabulary (sorted names), from a dataset's table:
    ``adjective`` (the synthetic scenes), ``dominant`` (the emotion with the most votes, ties to the first in
    Emotion6's column order), ``folder`` (the ``emotion`` column). The vocabulary is the dataset's, not the labels'."""
    if source not in ATTRIBUTE_SOURCES:
        raise ValueError(f"attribute source {source!r} is not valid; valid: {', '.join(ATTRIBUTE_SOURCES)}")
    if source == "adjective":
        names = _column(table, "adjective")
    elif source == "folder":
        names = _column(table, "emotion")
    else:
        votes = [c for c in table.columns if c.startswith("p_")]
        if not votes:
            raise KeyError("attribute source 'dominant' needs vote columns p_<emotion> (Emotion6, EmotionROI); "
                           f"this table has {', '.join(map(str, table.columns))}")
        names = np.array([c[2:] for c in votes])[table[votes].to_numpy(dtype=float).argmax(axis=1)]
    vocab = sorted(set(map(str, names)))
    index = {n: i for i, n in enumerate(vocab)}
    return np.array([index[str(n)] for n in names], dtype=np.int64), vocab


def _column(table: pd.DataFrame, name: str) -> np.ndarray:
    if name not in table.columns:
        raise KeyError(f"this dataset has no {name!r} column for the attribute; it has "
                       f"{', '.join(map(str, table.columns))}")
    return table[name].to_numpy()


# -- the method on the fold runner ----------------------------------------------------------------------------

@dataclass(frozen=True)
class AttrAttentionConfig:
    """AttrAttention's knobs (the paper's training: SGD lr 0.001, batch 32, an epoch of 1,000 iterations, stop
    when the validation loss stops improving)."""

    backbone: str = "efficientnet_lite0"
    image_size: int = 224
    attribute: str = "auto"  # adjective | dominant | folder | auto: the adjective where the dataset has one, else dominant
    embedding: str = "onehot"
    dim: int = 512
    lr: float = 0.001
    batch_size: int = 32
    iterations: int = 1000  # one "epoch"
    max_epochs: int = 20
    patience: int = 2  # epochs without a lower validation loss before stopping
    views: int = 2  # cached views: the centre crop and its horizontal flip (the augmentation)

    def __post_init__(self):
        if self.attribute not in ATTRIBUTE_SOURCES + ("auto",):
            raise ValueError(f"attribute={self.attribute!r} is not valid; valid: auto, {', '.join(ATTRIBUTE_SOURCES)}")
        if self.embedding not in EMBEDDINGS:
            raise ValueError(f"embedding={self.embedding!r} is not valid; valid: {', '.join(EMBEDDINGS)}")
        for name in ("dim", "batch_size", "iterations", "max_epochs", "patience", "views"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    def params(self) -> dict:
        return asdict(self)


#: Per profile, the settings that differ from :class:`AttrAttentionConfig`'s (the paper's): ``quick`` a short
#: schedule and a narrower encoder for the synthetic scenes; ``cpu`` epochs of 200 iterations (6,400 images, about
#: four passes over Emotion6's training part) so that two CPU cores finish a split in minutes; ``paper`` as printed.
PROFILE_SETTINGS: dict[str, dict] = {
    "quick": {"iterations": 40, "max_epochs": 8, "dim": 128},
    "cpu": {"iterations": 200},
    "paper": {},
}


def profile_settings(profile: str) -> dict:
    """The method's settings for a run profile (:data:`PROFILE_SETTINGS`)."""
    if profile not in PROFILE_SETTINGS:
        raise ValueError(f"unknown profile {profile!r}; valid: {', '.join(PROFILE_SETTINGS)}")
    return dict(PROFILE_SETTINGS[profile])


def augmented_split(n: int, views: int, order: str, rng: np.random.Generator) -> list[np.ndarray]:
    """An 80/10/10 split of ``n`` images with ``views`` augmented copies each, as ``[train, val, test]`` arrays of
    (image, view) rows. ``after``: the images are split, then each brings all its views (no image on two sides);
    ``before``: every view is split as if it were an image of its own (the paper's order: an image's flip can be
    trained on while the image is tested)."""
    if order == "after":
        parts = np.split(rng.permutation(n), [int(0.8 * n), int(0.9 * n)])
        return [np.stack(np.meshgrid(pt, np.arange(views), indexing="ij"), -1).reshape(-1, 2) for pt in parts]
    if order != "before":
        raise ValueError(f"order={order!r} is not valid; valid: after, before")
    every = np.stack(np.meshgrid(np.arange(n), np.arange(views), indexing="ij"), -1).reshape(-1, 2)
    perm = rng.permutation(len(every))
    return [every[s] for s in np.split(perm, [int(0.8 * len(every)), int(0.9 * len(every))])]


def train_attention(train: tuple, val: tuple, n_attributes: int, n_classes: int, cfg: AttrAttentionConfig, seed: int,
                    use_attribute: bool = True) -> tuple[AttributeAttention, dict]:
    """Eqs. 1-6 trained with SGD on cached grids: ``train`` = ``(grids (N, views, C, h, w), attributes (N,),
    labels (N,))``, each step a random view of each image; ``val`` = the centre views'. Each epoch is
    ``cfg.iterations`` steps; training stops when the validation loss has not improved for ``cfg.patience``
    epochs, and the best epoch's weights are kept. ``use_attribute=False``: the image-only model."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    grids, attrs, y = train
    model = AttributeAttention(grids.shape[2], n_attributes, n_classes, cfg.dim, cfg.embedding)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    best, since, history = (float("inf"), -1, None), 0, []
    for epoch in range(cfg.max_epochs):
        model.train()
        total = 0.0
        for _ in range(cfg.iterations):
            idx = torch.randint(len(y), (min(cfg.batch_size, len(y)),), generator=g)
            view = torch.randint(grids.shape[1], (len(idx),), generator=g)
            logits, _ = model(grids[idx, view], attrs[idx] if use_attribute else None)
            loss = loss_fn(logits, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach())
        model.eval()
        with torch.no_grad():
            vg, va, vy = val
            logits, _ = model(vg, va if use_attribute else None) if len(vy) else (None, None)
            v_loss = float(loss_fn(logits, vy)) if len(vy) else total / cfg.iterations
            v_acc = float((logits.argmax(1) == vy).float().mean()) if len(vy) else float("nan")
        history.append({"epoch": epoch, "train_loss": total / cfg.iterations, "val_loss": v_loss, "val_accuracy": v_acc})
        if v_loss < best[0]:
            best, since = (v_loss, epoch, {k: v.clone() for k, v in model.state_dict().items()}), 0
        else:
            since += 1
            if since >= cfg.patience:
                break
    model.load_state_dict(best[2])
    return model.eval(), {"best_epoch": best[1], "epochs_run": len(history), "val_loss": best[0],
                          "val_accuracy": history[best[1]]["val_accuracy"], "history": history}


@torch.no_grad()
def predict(model: AttributeAttention, grids: torch.Tensor, attrs: torch.Tensor | None) -> np.ndarray:
    return model(grids, attrs)[0].argmax(1).numpy()


def _choose_logreg(x_tr, y_tr, x_val, y_val):
    """L2 logistic regression with C chosen on the validation part (``global_cnn.C_GRID``)."""
    import warnings

    from vsalib.methods.base import choose_on_validation
    from vsalib.methods.global_cnn import C_GRID, logistic_regression

    if len(np.unique(y_tr)) < 2:  # one class in training: a constant
        return _Constant(int(y_tr[0])), float("nan")
    with warnings.catch_warnings():  # many attributes on few images: sklearn asks whether y is a regression target
        warnings.filterwarnings("ignore", message="The number of unique classes is greater than 50%")
        c, acc = choose_on_validation(C_GRID, lambda c: float((logistic_regression(c).fit(x_tr, y_tr).predict(x_val) == y_val).mean()))
        return logistic_regression(c).fit(x_tr, y_tr), acc


class _Constant:
    def __init__(self, value: int):
        self.value = value

    def predict(self, x):
        return np.full(len(x), self.value)


MAIN_SOURCES = ("adjective", "dominant")  # the attribute sources of the main runs; "folder" is the degenerate case

CARD = PaperCard(
    key="attr_attention",
    short="AttrAttention",
    title="An attention mechanism guided by subjective emotional attributes for visual sentiment analysis",
    venue="Advances in Computer Science Research 88 (authors not in the available text)",
    table=1,
    equations={"Eq. 1": "v_E,i = ReLU(W_v V_i + b_v), i = 1..z (z = 196 cells of VGG16's conv5)",
               "Eq. 2": "a_E = ReLU(W_a a + b_a), a the image's attribute (its adjective; GloVe in the paper)",
               "Eqs. 4-5": "ô_i = a_E · v_E,i; o_i = ReLU(ô_i) / Σ_i ReLU(ô_i)",
               "Eqs. 3, 6": "p(s) = softmax(W Σ_i o_i v_E,i + b), cross-entropy (our reading: the printed Eq. 6 "
                            "sets p(s) = Σ_i o_i, which is 1)"},
    substitutions=(
        Substitution("backbone", "VGG16 conv5 (14 × 14 = 196 cells), trained end to end", "EfficientNet-Lite0 "
                     "(ImageNet), frozen: its stride-16 stage (14 × 14 cells of 112 channels at 224 px; 8 × 8 at the "
                     "quick profile's 128 px), grids cached", "VGG16 weights cannot be had offline; a frozen trunk "
                     "makes a split minutes on two CPU cores", "backbone"),
        Substitution("attribute embedding", "GloVe word vectors of the adjective", "a one-hot vector (W_a a is a "
                     "lookup); -p embedding learned: a 50-d vector learned with the model", "GloVe cannot be had "
                     "offline; a one-hot code gives the model every attribute apart, which is all GloVe adds here",
                     "embedding"),
        Substitution("attribute", "the adjective of the image's ANP (269 adjectives, 127 positive), the true one at "
                     "test time", "Emotion6: the dominant emotion of the seven votes (ties to the first; it only "
                     "partly fixes the folder's polarity); synthetic scenes: their adjective; -p attribute_source "
                     "folder: the folder emotion, which fixes the label (the degenerate case)", "VSO cannot be had; "
                     "Emotion6's votes are the nearest per-image emotional attribute", "attribute"),
        Substitution("Eq. 6", "p(s) = Σ_i o_i (always 1)", "the classifier on the attended feature Σ_i o_i v_E,i",
                     "the printed equation cannot be what was trained", ""),
        Substitution("all scores ≤ 0", "not said", "uniform weights 1/z (0/0 must not reach the classifier)",
                     "the text leaves it open", ""),
        Substitution("training", "SGD, lr 0.001, batch 32, epochs of 1,000 iterations, stop when the validation loss "
                     "stops improving", "the same with momentum 0.9, patience 2 epochs (a parameter), the best "
                     "epoch's weights kept; cpu profile: epochs of 200 iterations", "two CPU cores; the text does "
                     "not say the momentum or the patience", "patience"),
        Substitution("split", "random 80/10/10 of ~1.1 M images, after augmenting (flips, noise, crops) rare "
                     "attributes", "random 80/10/10 of the images, three seeds; a flip as the augmentation, after "
                     "the split; the paper's order measured on an inner split", "copies of one image on both sides "
                     "of a split let a model recognise the image", "augmentation"),
        Substitution("the 70 % row", "Borth et al.'s SentiBank sentiment detector, as reported elsewhere",
                     "the same attention model without the attribute (uniform weights) on the same features and "
                     "split", "the only fair baseline for what the attribute adds", ""),
    ),
    rows=(
        PaperRow("Sentiment detector", "attr-attention", {"variant": "image"}),
        PaperRow("AttrAttention", "attr-attention", {"variant": "true"}, uses_regions=True),
    ),
    derived=(
        PaperRow("AttrAttention, predicted attribute", "attr-attention", {"variant": "predicted"}, uses_regions=True),
        PaperRow("the attribute alone", "attr-attention", {"variant": "only"}),
    ),
    claims=(
        Claim("the true attribute's attention against the image alone (Table 1: 99 against 70)", "AttrAttention",
              "Sentiment detector", regions=True),
        Claim("a predicted attribute's attention against the image alone", "AttrAttention, predicted attribute",
              "Sentiment detector"),
        Claim("the image adds to the true attribute alone", "AttrAttention", "the attribute alone"),
    ),
    datasets={("vso", None): "vso"},
    stand_in={None: ("vso", 2)},  # the paper ran on VSO only: its figures stand beside ours, marked as VSO's
)


@register_method
class AttrAttention(Method):
    """AttrAttention on each fold, with the four variants that show what its accuracy measures.

    ``train``: the backbone's stride-16 grids of every image (cached; frozen backbone), the attention model trained
    with each training image's true attribute (as printed), the image-only model, an attribute classifier on the
    pooled grid, and a classifier on the attribute alone (one-hot). ``evaluate`` writes one ``attr-attention``
    record per variant — ``image`` (no attribute), ``true`` (the test image's own attribute fed at test time, as
    the paper does), ``predicted`` (the attribute classifier's guess instead; it never reads a test attribute),
    ``only`` (the attribute alone, no image) — and ``attr-attention-augment``: on an inner 80/10/10 split of the
    training part, the accuracy when the augmented copies are split with their image (after) or as if they were
    other images (before, the paper's order)."""

    name = "attr-attention"
    version = VERSION
    Config = AttrAttentionConfig
    card = CARD

    def __init__(self, config=None, *, cache_dir=None, progress: bool = True, **settings):
        super().__init__(config, **settings)
        self.cache_dir, self.progress = cache_dir, progress
        self._grids: dict = {}
        self._vocabularies: dict = {}  # per fold: read from its tables once

    def source(self, fold: Fold) -> str:
        c = self.config.attribute
        return ("adjective" if fold.has_column("adjective") else "dominant") if c == "auto" else c

    def params(self, fold: Fold | None = None) -> dict:
        out = self.config.params()
        if fold is not None:
            out["attribute"] = self.source(fold)
        return out

    def done(self, fold: Fold, store: ResultStore) -> list[Record] | None:
        p = self.params(fold)
        out = [store.get(**fold.identity(self.name, {**p, "variant": v})) for v in VARIANTS]
        out.append(store.get(**fold.identity("attr-attention-augment", p)))
        return None if any(r is None for r in out) else out

    def grids(self, fold: Fold) -> torch.Tensor:
        """Every image's stride-16 grid (N, views, C, 14, 14) at the configured size, extracted once (cached)."""
        from vsalib.backbones import create_backbone
        from vsalib.train import features

        c = self.config
        key = (tuple(fold.all_paths()[:3]), len(fold.all_paths()))
        if key not in self._grids:
            if c.backbone not in GRID_STOP:
                raise ValueError(f"no stride-16 grid known for backbone {c.backbone!r}; known: {', '.join(GRID_STOP)}")
            self._grids[key] = features.extract(create_backbone(c.backbone), fold.all_paths(), stop=GRID_STOP[c.backbone],
                                                size=c.image_size, views=c.views, cache_dir=self.cache_dir,
                                                progress=self.progress)
        return self._grids[key]

    def attribute_names(self, fold: Fold, part: str, as_test_input: bool = False) -> list[str]:
        """The attribute of each image of ``part`` by name (the test part's only ``as_test_input``)."""
        src = self.source(fold)
        if src == "dominant":
            votes = [c for c in VOTE_COLUMNS if fold.has_column(c)]
            table = pd.DataFrame({c: fold.annotations(c, part, as_test_input=as_test_input) for c in votes})
        else:
            col = "adjective" if src == "adjective" else "emotion"
            table = pd.DataFrame({col: fold.annotations(col, part, as_test_input=as_test_input)})
        codes, vocab = attribute_codes(table, src)
        return [vocab[i] for i in codes]

    def vocabulary(self, fold: Fold) -> list[str]:
        """The attributes the model knows: the vote names (``dominant``), or those of the training and validation
        images and ``<unseen>`` for any other (a test image's adjective that training never met)."""
        key = (str(fold.id), self.source(fold))
        if key not in self._vocabularies:
            self._vocabularies[key] = [c[2:] for c in VOTE_COLUMNS if fold.has_column(c)] \
                if self.source(fold) == "dominant" else \
                sorted(set(self.attribute_names(fold, "train")) | set(self.attribute_names(fold, "val"))) + [UNSEEN]
        return self._vocabularies[key]

    def attributes(self, fold: Fold, part: str, *, as_test_input: bool = False) -> torch.Tensor:
        """The attribute indices (into :meth:`vocabulary`) of ``part``'s images; the test part's only with
        ``as_test_input`` (variants ``true`` and ``only``)."""
        vocab = self.vocabulary(fold)
        index = {n: i for i, n in enumerate(vocab)}
        return torch.as_tensor([index.get(n, index.get(UNSEEN, 0)) for n in self.attribute_names(fold, part, as_test_input)],
                               dtype=torch.long)

    def train(self, fold: Fold, store: ResultStore) -> Trained:
        """The fold's four models: the attention model trained with each training image's true attribute and the
        image-only model (both read back when the fold's cache file holds them), the attribute classifier on the
        pooled grid and the attribute-only classifier (logistic regressions, refitted: seconds)."""
        t0, c, seed = time.perf_counter(), self.config, fold.id.seed * 1000 + fold.id.fold
        grids = self.grids(fold)
        n_attr, n_classes = len(self.vocabulary(fold)), len(fold.classes)
        tr, va = fold.index("train"), fold.index("val")
        y_tr, y_val = (torch.as_tensor(fold.labels(p)).long() for p in ("train", "val"))
        a_tr, a_val = self.attributes(fold, "train"), self.attributes(fold, "val")
        path = self._cache(fold)
        if path.exists():
            saved = safe_torch_load(path)
            nets = {}
            for name in ("attend", "image"):
                m = AttributeAttention(grids.shape[2], n_attr, n_classes, c.dim, c.embedding)
                m.load_state_dict(saved[name]["weights"])
                nets[name] = (m.eval(), saved[name]["fit"])
            t0 -= saved["seconds"]
        else:
            train, val = (grids[tr], a_tr, y_tr), (grids[va, 0], a_val, y_val)
            nets = {"attend": train_attention(train, val, n_attr, n_classes, c, seed),
                    "image": train_attention(train, val, n_attr, n_classes, c, seed, use_attribute=False)}
            atomic_torch_save({**{k: {"weights": m.state_dict(), "fit": fit} for k, (m, fit) in nets.items()},
                               "seconds": time.perf_counter() - t0}, path)
        pooled = grids[:, 0].mean(dim=(2, 3)).numpy()  # each image's mean cell: what the attribute classifier reads
        onehot = np.eye(n_attr)
        return Trained(fold.id, {**nets, "attr_clf": _choose_logreg(pooled[tr], a_tr.numpy(), pooled[va], a_val.numpy()),
                                 "only": _choose_logreg(onehot[a_tr.numpy()], y_tr.numpy(), onehot[a_val.numpy()],
                                                        y_val.numpy()),
                                 "grids": grids, "t0": t0})

    def _cache(self, fold: Fold) -> Path:
        """The fold's trained models (weights, fit histories and the two fitted classifiers)."""
        from vsalib.train.features import cache_root

        paths = fold.all_paths()
        key = hashlib.sha1(json.dumps([str(fold.id), self.params(fold), VERSION, len(paths), paths[:2], paths[-2:],
                                       fold.index("train")[:8].tolist(), fold.index("test")[:8].tolist()],
                                      sort_keys=True, default=str).encode()).hexdigest()[:16]
        return cache_root(self.cache_dir) / "attr-attention" / f"{key}.pt"

    def evaluate(self, fold: Fold, trained: Trained) -> list[Record]:
        m, p, te = trained.model, self.params(fold), fold.index("test")
        grids = m["grids"][te, 0]
        attend, fit_a = m["attend"]
        image, fit_i = m["image"]
        attr_clf, attr_val = m["attr_clf"]
        only, only_val = m["only"]
        predicted = torch.as_tensor(attr_clf.predict(grids.mean(dim=(2, 3)).numpy()), dtype=torch.long)
        true = self.attributes(fold, "test", as_test_input=True)  # the paper's protocol: its own attribute at test
        n_attr = len(self.vocabulary(fold))
        shuffled = true[torch.as_tensor(np.random.default_rng(fold.id.seed * 1000 + fold.id.fold).permutation(len(te)))]
        preds = {"image": (predict(image, grids, None), fit_i),
                 "true": (predict(attend, grids, true), fit_a),
                 "predicted": (predict(attend, grids, predicted), fit_a),
                 "only": (only.predict(np.eye(n_attr)[true.numpy()]), {"val_accuracy": only_val})}
        records = []
        for variant, (pred, fit) in preds.items():
            s = fold.score(pred)
            metrics = {"accuracy": s["accuracy"], "val_accuracy": fit.get("val_accuracy"),
                       "best_epoch": fit.get("best_epoch"), "epochs_run": fit.get("epochs_run")}
            if variant == "predicted":
                metrics["attribute_val_accuracy"] = attr_val
            if variant == "true":  # the same model, each test image given another test image's attribute
                metrics["accuracy_shuffled_attribute"] = fold.score(predict(attend, grids, shuffled))["accuracy"]
            records.append(fold.record(self.name, {**p, "variant": variant}, {k: v for k, v in metrics.items()
                                                                               if v is not None},
                                       wall_time_s=time.perf_counter() - m["t0"],
                                       extra={"y_true": s["y_true"], "y_pred": s["y_pred"], "test_index": te,
                                              "reads_test_attribute": variant in ("true", "only"),
                                              "history": fit.get("history", [])}))
        records.append(fold.record("attr-attention-augment", p, self.augmentation(fold, m["grids"])))
        return records

    def augmentation(self, fold: Fold, grids: torch.Tensor) -> dict:
        """On an inner 80/10/10 split of the fold's training part (its labels only): the attention model's accuracy
        when each image's views stay together (``after``: augment after splitting) and when the views are split
        as separate images (``before``: the paper's order, so that an image's flip can be trained on while the
        image is tested)."""
        c, seed = self.config, fold.id.seed * 1000 + fold.id.fold + 7
        idx = fold.index("train")
        y, a = torch.as_tensor(fold.labels("train")).long(), self.attributes(fold, "train")
        rng = np.random.default_rng(seed)
        out = {}
        for order in ("after", "before"):
            items = augmented_split(len(idx), grids.shape[1], order, rng)
            g = lambda it: grids[idx[it[:, 0]], it[:, 1]]  # noqa: E731
            (tr, va, te) = items
            model, _ = train_attention((g(tr)[:, None], a[tr[:, 0]], y[tr[:, 0]]), (g(va), a[va[:, 0]], y[va[:, 0]]),
                                       len(self.vocabulary(fold)), len(fold.classes), c, seed)
            out[f"accuracy_{order}"] = float((predict(model, g(te), a[te[:, 0]]) == y[te[:, 0]].numpy()).mean())
            if order == "before":
                out["test_images_seen_in_training"] = float(np.isin(te[:, 0], tr[:, 0]).mean())
        out["accuracy"] = out["accuracy_before"]  # the figure the paper's protocol would print
        return out


    @classmethod
    def paper_values(cls, runs, dataset: str, subset: str | None = None, *, source: str | None = None) -> dict:
        """Per row of the card (and derived row): ``(test % per (seed, fold), the paper's % on VSO)``, from the
        records whose attribute came from ``source`` (None: the main source that ran, the adjective or the dominant
        emotion; ``"folder"``: the degenerate case). The paper's figures are VSO's whatever our dataset."""
        from vsalib import report

        runs = select_source(runs, source)
        return {r.name: (report.row_accuracy(r, runs), report.paper_figure(CARD, r.name, dataset, subset)[0])
                for r in CARD.rows + CARD.derived}

    @classmethod
    def claim_runs(cls, runs):
        """The records of the main attribute source (those ``paper_values`` reads by default)."""
        return select_source(runs)


def select_source(runs: pd.DataFrame, source: str | None = None) -> pd.DataFrame:
    """The ``attr-attention`` records of one attribute source (None: the first of :data:`MAIN_SOURCES` that ran)."""
    if not len(runs) or "params.attribute" not in runs:
        return runs.iloc[:0] if len(runs) else runs
    if source is None:
        ran = set(runs["params.attribute"].dropna())
        source = next((s for s in MAIN_SOURCES if s in ran), None)
    return runs[runs["params.attribute"] == source] if source else runs.iloc[:0]


__all__ = ["ATTRIBUTE_SOURCES", "AttrAttention", "CARD", "MAIN_SOURCES", "PROFILE_SETTINGS", "profile_settings", "select_source", "AttrAttentionConfig", "GRID_STOP", "VARIANTS", "augmented_split", "predict",
           "train_attention", "AttributeAttention", "EMBEDDINGS", "attention_weights", "attribute_codes",
           "uniform_weights"]
