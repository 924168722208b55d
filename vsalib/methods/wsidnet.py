"""WSIDNet: weakly supervised interaction discovery network (Wu, Zhang, Shi, Deng, ACPR 2021).

The model, step by step (each a function or module below; the method on the contract, its card and
its chapter come with the rest of issue 13):

1. **Detection branch**: a 1×1 convolution turns the backbone's last feature map F (n channels, h×w)
   into k detectors per emotion class, F' (kC channels, class-major: channel ``c·k + i`` is
   detector i of class c).
2. **Cross-spatial pooling** (Eq. 1): ``v_c = 1/k Σ_i GMP(f_{c,i})``, the image's score for emotion c;
   softmax + cross-entropy on the emotion labels is ``L_detect`` (Eq. 2).
3. **Per-emotion maps and node features**: ``M_c`` = the mean of class c's k maps; ``M_c ⊙ F`` average
   pooled gives one n-d vector per emotion, the graph's node features H⁰ (C×n).
4. **Sentiment graph** (Eq. 3, :func:`vsalib.emotions.sentiment_graph_adjacency`) and stacked graph
   convolutions ``H^{l+1} = σ(D̃^-½ Ã D̃^-½ H^l W^l)`` (Eqs. 4–5,
   :func:`vsalib.emotions.normalized_adjacency`).
5. **Fusion**: the holistic feature (the backbone's pooled feature, reduced to 2048-d) concatenated with
   the GCN's read-out, then the classifier; ``L = L_class + λ·L_detect`` (Eqs. 6–7), λ = 0.1, returned
   as the named terms ``loss_cls`` and ``loss_detect`` (the latter already weighted by λ, so that the
   terms sum to L).

Readings (the text leaves them open; each is a field of :class:`WSIDNetHeadConfig`): k (swept), the
GCN's depth, width and activation, the read-out from the C node vectors (by default all of them
concatenated, ``concat``, the paper's "fuse the C node vectors" read as flattening; or their ``mean``),
and Eq. 6's binary cross-entropy written as a 2-way softmax cross-entropy (the same loss).

Why not the mean: Eq. 3's graph on Mikels' wheel is regular (every emotion's weights sum to the same
7.92), so every column of the normalised Â sums to 1, and the mean over the nodes of ÂHW is the mean of
HW whatever the edges: with a linear GCN the faithful and the identity graph give one output
(:func:`mean_readout_ignores_graph` shows it on any graph), and the graph could act only through the
nonlinearity. The concatenation keeps which emotion each vector came from, so the edges can matter.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import nn
from torch.nn import functional as F

from vsalib import provenance
from vsalib.selection import validation_choice  # noqa: F401  (where it lived first)
from vsalib.methods.base import Claim, PaperCard, PaperRow, Substitution, register_method
from vsalib.methods.global_cnn import FinetuneConfig, GlobalFinetune

#: Bump when a change here changes the numbers of ``wsidnet`` records (say what changed).
VERSION = provenance.declare_method("wsidnet", 2, depends=("global",), changes={
    1: "first version: detection branch, cross-spatial pooling, Eq. 3 graph (Mikels wheel / Ekman centroids), "
       "stacked GCN, holistic 2048-d branch, L_class + lambda L_detect as named losses",
    2: "records name detector_init (the detection branch initialised from another dataset's trained WSIDNet); "
       "the holistic branch (Table 2's Backbone) no longer carries the graph branch's knobs, which it does not use",
})

ACTIVATIONS = ("relu", "leaky_relu", "none")
READOUTS = ("mean", "concat")
BRANCHES = ("full", "holistic")  # holistic: Table 2's "Backbone", the same network without the graph branch
GRAPHS = ("auto", "mikels", "ekman", "identity", "uniform", "shuffled")
PAPER_LAM = 0.1  # λ of Eq. 7


# -- Eq. 1 and the per-emotion maps -------------------------------------------------------------------

def _per_class(fprime: torch.Tensor, k: int) -> torch.Tensor:
    """(B, k·C, h, w) → (B, C, k, h, w), class-major channels."""
    b, kc, h, w = fprime.shape
    if k < 1 or kc % k:
        raise ValueError(f"the detection map has {kc} channels, not a multiple of k={k}")
    return fprime.reshape(b, kc // k, k, h, w)


def cross_spatial_pooling(fprime: torch.Tensor, k: int) -> torch.Tensor:
    """Eq. 1: ``v_c = 1/k Σ_i max_{x,y} f_{c,i}(x, y)``; (B, k·C, h, w) → (B, C)."""
    return _per_class(fprime, k).amax(dim=(-2, -1)).mean(dim=2)


def emotion_maps(fprime: torch.Tensor, k: int) -> torch.Tensor:
    """The heat map of each emotion: the mean of its k detector maps; (B, k·C, h, w) → (B, C, h, w)."""
    return _per_class(fprime, k).mean(dim=2)


def node_features(fmap: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
    """H⁰: for each emotion c, ``mean_{x,y} M_c(x, y) · F(x, y)``; F (B, n, h, w), M (B, C, h, w) → (B, C, n)."""
    if fmap.shape[-2:] != maps.shape[-2:] or fmap.shape[0] != maps.shape[0]:
        raise ValueError(f"feature map {tuple(fmap.shape)} and emotion maps {tuple(maps.shape)} do not align")
    return torch.einsum("bchw,bnhw->bcn", maps, fmap) / (fmap.shape[-2] * fmap.shape[-1])


# -- Eqs. 4-5 ------------------------------------------------------------------------------------------

class GraphConvolution(nn.Module):
    """One layer of Eq. 4: ``H' = σ(Â H W)`` with Â the normalised adjacency (a fixed buffer)."""

    def __init__(self, a_hat: torch.Tensor, in_dim: int, out_dim: int, activation: str = "leaky_relu"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation={activation!r} is not valid; valid: {', '.join(ACTIVATIONS)}")
        self.register_buffer("a_hat", torch.as_tensor(a_hat, dtype=torch.float32))
        self.weight = nn.Parameter(torch.empty(in_dim, out_dim))
        nn.init.xavier_uniform_(self.weight)
        self.activation = activation

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """(B, C, in_dim) → (B, C, out_dim)."""
        out = self.a_hat @ (h @ self.weight)
        if self.activation == "relu":
            return F.relu(out)
        if self.activation == "leaky_relu":
            return F.leaky_relu(out, 0.2)
        return out


def mean_readout_ignores_graph(adjacency, atol: float = 1e-5) -> bool:
    """Whether the mean read-out cancels this graph: ``(1/C) 1ᵀ Â X = (1/C) (Âᵀ 1)ᵀ X`` equals ``(1/C) 1ᵀ X``
    for every X exactly when every column of Â (Eqs. 4–5) sums to 1, which a regular graph gives (every
    node's weights summing to the same d: ``Â = (A + I)/(d + 1)``). Eq. 3 on Mikels' wheel is one (d = 7.92),
    and so are the identity and uniform controls: with a linear GCN and the mean read-out they all give the
    same output."""
    import numpy as np

    from vsalib.emotions import normalized_adjacency

    a_hat = np.asarray(normalized_adjacency(np.asarray(adjacency, dtype=float)))
    return bool(np.allclose(a_hat.sum(axis=0), 1.0, atol=atol))


# -- the head on a backbone ----------------------------------------------------------------------------

@dataclass(frozen=True)
class HeadKnobs:
    """WSIDNet's knobs: k detectors per emotion (not given; swept over 1, 2, 4, 8), λ of Eq. 7 (0.1),
    the GCN (depth, width, activation: not given), the read-out of the C node vectors and the holistic
    feature's size (2048 in the paper)."""

    k: int = 4
    lam: float = 0.1
    gcn_layers: int = 2
    gcn_width: int = 512
    activation: str = "leaky_relu"
    readout: str = "concat"
    holistic_dim: int = 2048


@dataclass(frozen=True)
class WSIDNetHeadConfig(HeadKnobs):
    """The head's knobs (:class:`HeadKnobs`) and the dropout before its classifier."""

    dropout: float = 0.5

    def __post_init__(self):
        if self.k < 1 or self.gcn_layers < 1 or self.gcn_width < 1 or self.holistic_dim < 1:
            raise ValueError("k, gcn_layers, gcn_width and holistic_dim must be >= 1")
        if self.lam < 0:
            raise ValueError(f"lam must be >= 0, got {self.lam}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation={self.activation!r} is not valid; valid: {', '.join(ACTIVATIONS)}")
        if self.readout not in READOUTS:
            raise ValueError(f"readout={self.readout!r} is not valid; valid: {', '.join(READOUTS)}")


@dataclass
class WSIDNetOutput:
    logits: torch.Tensor  # (B, n_classes): the sentiment prediction
    detection: torch.Tensor | None  # (B, C): v of Eq. 1, the emotion scores (None: holistic branch only)
    maps: torch.Tensor | None  # (B, C, h, w): the emotion maps


class WSIDNetHead(nn.Module):
    """Everything of WSIDNet after the backbone: the detection branch, the graph branch and the fusion.

    ``forward(fmap, pooled)``: the backbone's last feature map (B, n, h, w) and its pooled feature
    (B, D). ``adjacency``: the C×C sentiment graph A of Eq. 3 (normalised here, Eqs. 4–5).
    """

    def __init__(self, n_channels: int, pooled_dim: int, adjacency, n_classes: int = 2,
                 config: WSIDNetHeadConfig = WSIDNetHeadConfig(), branch: str = "full"):
        super().__init__()
        from vsalib.emotions import normalized_adjacency

        if branch not in BRANCHES:
            raise ValueError(f"branch={branch!r} is not valid; valid: {', '.join(BRANCHES)}")
        a = torch.as_tensor(adjacency, dtype=torch.float32)
        self.config, self.n_emotions, self.branch = config, a.shape[0], branch
        self.holistic = nn.Sequential(nn.Linear(pooled_dim, config.holistic_dim), nn.ReLU(inplace=True))
        self.dropout = nn.Dropout(config.dropout)
        graph_dim = 0
        if branch == "full":  # "holistic" is Table 2's Backbone: the same network without the graph branch
            self.detector = nn.Conv2d(n_channels, config.k * self.n_emotions, kernel_size=1)
            a_hat = normalized_adjacency(a)
            dims = [n_channels] + [config.gcn_width] * config.gcn_layers
            self.gcn = nn.ModuleList([GraphConvolution(a_hat, i, o, config.activation)
                                      for i, o in zip(dims, dims[1:])])
            graph_dim = config.gcn_width * (self.n_emotions if config.readout == "concat" else 1)
        self.classifier = nn.Linear(config.holistic_dim + graph_dim, n_classes)

    def forward(self, fmap: torch.Tensor, pooled: torch.Tensor) -> WSIDNetOutput:
        if self.branch == "holistic":
            return WSIDNetOutput(self.classifier(self.dropout(self.holistic(pooled))), None, None)
        fprime = self.detector(fmap)
        v = cross_spatial_pooling(fprime, self.config.k)
        maps = emotion_maps(fprime, self.config.k)
        h = node_features(fmap, maps)
        for layer in self.gcn:
            h = layer(h)
        fs = h.mean(dim=1) if self.config.readout == "mean" else h.flatten(1)
        fused = torch.cat([self.holistic(pooled), fs], dim=1)
        return WSIDNetOutput(self.classifier(self.dropout(fused)), v, maps)


def wsidnet_losses(out: WSIDNetOutput, y: torch.Tensor, y_emotion: torch.Tensor | None, lam: float) -> dict:
    """Eqs. 6–7 as named terms: ``loss_cls`` (cross-entropy of the sentiment logits) and ``loss_detect``
    (λ × the cross-entropy of v against the emotion labels, over the images that have one: ``-1`` marks
    an image without). With λ > 0 a batch must carry emotion labels, in range: binary sentiment labels
    are never fed to the C-way detector in their place."""
    losses = {"loss_cls": F.cross_entropy(out.logits, y)}
    if lam == 0 or out.detection is None:
        return losses
    n_emotions = out.detection.shape[1]
    if y_emotion is None or not bool((y_emotion >= 0).any()):
        raise ValueError(f"lam={lam} needs emotion labels for the detection branch (L_detect over {n_emotions} "
                         f"emotions), and this batch has none: set lam=0 on binary-only data, or initialise the "
                         f"detection branch from a dataset with emotion labels")
    known = y_emotion >= 0
    if bool((y_emotion[known] >= n_emotions).any()):
        raise ValueError(f"emotion labels must lie in [0, {n_emotions}) (or be -1 for none); got "
                         f"{sorted(set(y_emotion[known].tolist()))}")
    losses["loss_detect"] = lam * F.cross_entropy(out.detection[known], y_emotion[known])
    return losses


# -- the paper as data ---------------------------------------------------------------------------------

#: The k of the graph controls and of the λ sweep (the paper does not give one; the k sweep chooses on validation).
DEFAULT_K = 4
_MAIN = {"branch": "full", "graph": "auto"}  # k, the read-out, the detection branch's start: the knobs
#: The dataset whose emotion-trained detection branch starts WSIDNet on binary-only data (Twitter I, II).
DETECTOR_SOURCE = "emotionroi"

#: WSIDNet as data: citation, equations, our readings, Table 2's rows (and Table 1's WSIDNet row, the same
#: numbers), the graph controls and the claims.
CARD = PaperCard(
    key="wsidnet",
    short="WSIDNet",
    title="Weakly supervised interaction discovery network for image sentiment analysis",
    venue="ACPR 2021 (LNCS 13188, 2022)",
    table=2,
    equations={"Eq. 1": "v_c = 1/k sum_i GMP(f_{c,i})",
               "Eq. 2": "L_detect = -sum_c y_c log softmax(v)_c",
               "Eq. 3": "A_ij = 1/dis_ij + 1 (opposite polarity), 1/dis_ij (same polarity); A_ii = 0",
               "Eqs. 4-5": "H^(l+1) = sigma(D~^-1/2 A~ D~^-1/2 H^l W^l), A~ = A + I",
               "Eqs. 6-7": "L = L_class + lambda L_detect, lambda = 0.1"},
    substitutions=(
        Substitution("backbone", "VGG16, ImageNet", "EfficientNet-Lite0, ImageNet (VGG16 with -p backbone vgg16 "
                     "where its weights are cached)", "VGG16's weights cannot be downloaded on the build machine",
                     "backbone"),
        Substitution("training", "the whole network, SGD 0.01 ÷10 every 20 epochs, random crop + flip",
                     "cpu profile: the last stages, the head and the branches on cached activations of the frozen "
                     "stages, cosine schedule, early stopping on validation (paper profile: the whole network)",
                     "two CPU cores", ""),
        Substitution("k (detectors per emotion)", "not given", f"swept over 1, 2, 4, 8 and chosen on the validation "
                     f"part; k = {DEFAULT_K} in the graph controls", "the text leaves it open", "k"),
        Substitution("GCN depth, width, activation", "not given", "2 layers of 512, LeakyReLU(0.2)",
                     "the usual ML-GCN choices; each is a parameter", ""),
        Substitution("read-out of the C node vectors", "\"fused\" (not said how)", "concatenated (C × 512), so "
                     "each emotion keeps its place; the mean is a parameter (readout)", "Eq. 3's graph is regular: the "
                     "mean over the nodes of ÂHW equals the mean of HW, so with the mean the edges cancel",
                     "readout"),
        Substitution("emotion graph on EmotionROI", "Mikels' 8 emotions on FI", "Ekman's 6 (EmotionROI's folders), "
                     "Eq. 3 with dis = the distance between the classes' mean valence-arousal on the training part",
                     "Ekman's emotions are not on Mikels' wheel", "graph"),
        Substitution("L_detect on Twitter I", "the detection branch initialised from FI", "λ = 0 (maps learned "
                     "from L_class alone), and the detection branch initialised from WSIDNet trained on EmotionROI",
                     "Twitter I has binary labels only; we do not have FI", "init"),
        Substitution("Backbone (Table 2)", "VGG16 with the holistic branch only", "the same network with the graph "
                     "branch removed (holistic 2048-d feature → classifier)", "the fair comparison the paper makes", ""),
        Substitution("split", "Twitter I: 5-fold CV; EmotionROI: its fixed split", "grouped 5-fold CV (twins kept "
                     "together); EmotionROI's fixed split with a validation part carved from training, three seeds",
                     "hyper-parameters are chosen on validation data only", ""),
    ),
    rows=(
        PaperRow("Backbone", "wsidnet", {"branch": "holistic"}),
        PaperRow("WSIDNet", "wsidnet", _MAIN, table=1),
        PaperRow("WSIDNet, no emotion supervision (λ = 0)", "wsidnet", {**_MAIN, "detector_init": "none", "lam": 0.0}),
        PaperRow("WSIDNet, mean read-out", "wsidnet", {**_MAIN, "readout": "mean"}),
        PaperRow("WSIDNet, identity graph", "wsidnet", {**_MAIN, "graph": "identity"}),
        PaperRow("WSIDNet, uniform graph", "wsidnet", {**_MAIN, "graph": "uniform"}),
        PaperRow("WSIDNet, shuffled graph", "wsidnet", {**_MAIN, "graph": "shuffled"}),
    ),
    derived=(PaperRow("WSIDNet, k chosen on validation", "wsidnet", _MAIN),),
    claims=(
        Claim("WSIDNet against its Backbone (Table 2)", "WSIDNet", "Backbone", regions=True),
        Claim("the emotion graph against no edges (identity graph)", "WSIDNet", "WSIDNet, identity graph", control=True),
        Claim("the emotion graph against its weights shuffled", "WSIDNet", "WSIDNet, shuffled graph", control=True),
        Claim("the emotion graph against a uniform graph", "WSIDNet", "WSIDNet, uniform graph", control=True),
        Claim("emotion supervision of the detection branch, against none (λ = 0)", "WSIDNet",
              "WSIDNet, no emotion supervision (λ = 0)"),
    ),
    datasets={("twitter1", "five"): "twitter1-5", ("twitter1", "four"): "twitter1-4",
              ("twitter1", "three"): "twitter1-3", ("twitter2", None): "twitter2", ("emotionroi", "binary"): "emotionroi",
              ("fi", "binary"): "fi"},
)

#: The knobs every graph-branch row of a table shares (a chapter's settings); the Backbone has none of them.
SHARED_KNOBS = tuple(f.name for f in fields(HeadKnobs)) + ("wheel_plus_one", "graph_seed")


# -- the method on the fold runner -------------------------------------------------------------------

def emotion_graph(fold, graph: str = "auto", *, plus_one: bool = False, seed: int = 0):
    """``(emotion order, A, graph used)`` for ``fold``: Eq. 3 on Mikels' wheel (``mikels``; ``auto`` for a
    dataset whose emotions are Mikels' or that has none), on Ekman's six from the training part's
    valence–arousal centroids (``ekman``; ``auto`` for Emotion6 / EmotionROI), or a control with the
    same nodes: ``identity`` (no edges), ``uniform`` (every edge 1), ``shuffled`` (the faithful graph's
    edge weights permuted, seeded)."""
    import numpy as np

    from vsalib.data.labels import EKMAN_EMOTIONS, EKMAN_POLARITY
    from vsalib.emotions import MIKELS_EMOTIONS, centroid_graph, sentiment_graph_adjacency

    if graph not in GRAPHS:
        raise ValueError(f"graph={graph!r} is not valid; valid: {', '.join(GRAPHS)}")
    seen = set(fold.annotations("emotion", "train")) if fold.has_column("emotion") else set()
    if seen <= set(MIKELS_EMOTIONS):
        kind = "mikels"
    elif seen <= set(EKMAN_EMOTIONS):
        kind = "ekman"
    else:
        raise ValueError(f"{fold.dataset_name}: emotions {sorted(seen)} are neither Mikels' eight nor Ekman's six")
    if graph in ("mikels", "ekman") and graph != kind:
        raise ValueError(f"{fold.dataset_name} has {kind} emotions, not {graph}'s: use graph='auto' or '{kind}'")
    if kind == "mikels":
        order, a = MIKELS_EMOTIONS, sentiment_graph_adjacency(MIKELS_EMOTIONS, plus_one=plus_one)
    else:
        if not (fold.has_column("valence") and fold.has_column("arousal")):
            raise ValueError(f"{fold.dataset_name}: the Ekman graph needs valence and arousal per image")
        feats = np.stack([fold.annotations("valence", "train"), fold.annotations("arousal", "train")], axis=1)
        order = EKMAN_EMOTIONS
        a = centroid_graph(feats, fold.annotations("emotion", "train"), order, EKMAN_POLARITY)[0]
    if graph in ("auto", "mikels", "ekman"):
        return order, a, kind
    c = len(order)
    if graph == "identity":
        return order, np.zeros((c, c)), graph
    if graph == "uniform":
        return order, np.ones((c, c)) - np.eye(c), graph
    iu = np.triu_indices(c, 1)  # shuffled: the same weights on other edges
    w = a[iu].copy()
    np.random.default_rng(seed).shuffle(w)
    out = np.zeros_like(a)
    out[iu] = w
    return order, out + out.T, graph


class WSIDNetNet(nn.Module):
    """The backbone (trained from trunk stage ``start``) and the WSIDNet head; ``model(x)`` returns the
    sentiment logits, ``model(x, all_outputs=True)`` the :class:`WSIDNetOutput`."""

    def __init__(self, backbone, adjacency, n_classes: int, head: WSIDNetHeadConfig, start: int = 0,
                 branch: str = "full"):
        super().__init__()
        self.backbone, self.start = backbone, start
        if start:
            for p in backbone.trunk[:start].parameters():
                p.requires_grad_(False)
        self.head = WSIDNetHead(backbone.channels, backbone.pooled_dim, adjacency, n_classes, head, branch)

    def forward(self, x: torch.Tensor, all_outputs: bool = False):
        fmap = self.backbone.forward_from(x, self.start) if self.start else self.backbone(x)
        out = self.head(fmap, self.backbone.pool(fmap))
        return out if all_outputs else out.logits

    def param_groups(self) -> dict:
        groups = {"conv": list(self.backbone.trunk[self.start:].parameters()),
                  "fc": list(self.backbone.pooler.parameters()), "classifier": list(self.head.parameters())}
        return {k: v for k, v in groups.items() if v}


@dataclass(frozen=True)
class WSIDNetConfig(FinetuneConfig, HeadKnobs):
    """WSIDNet trained like the fine-tuned baseline (:class:`~vsalib.methods.global_cnn.FinetuneConfig`:
    backbone, schedule, the stages trained) with its head's knobs (:class:`HeadKnobs`), the graph
    (:func:`emotion_graph`) and the branch (``holistic``: Table 2's Backbone)."""

    graph: str = "auto"
    branch: str = "full"
    wheel_plus_one: bool = False
    graph_seed: int = 0
    detector_init: str = "none"  # or a dataset with emotion labels whose trained detection branch starts this one

    def __post_init__(self):
        super().__post_init__()
        self.head_config()  # checks k, lam, the GCN and the read-out
        if self.graph not in GRAPHS:
            raise ValueError(f"graph={self.graph!r} is not valid; valid: {', '.join(GRAPHS)}")
        if self.branch not in BRANCHES:
            raise ValueError(f"branch={self.branch!r} is not valid; valid: {', '.join(BRANCHES)}")
        if not isinstance(self.detector_init, str) or not self.detector_init:
            raise ValueError(f"detector_init must be 'none' or a dataset name, got {self.detector_init!r}")
        if self.detector_init != "none" and self.lam > 0:
            raise ValueError(f"detector_init={self.detector_init!r} takes the detection branch (and its emotions) from "
                             f"that dataset; L_detect on this one would need the same emotions: set lam=0")
        if self.detector_init != "none" and self.branch != "full":
            raise ValueError("detector_init needs branch='full' (the holistic branch has no detection branch)")

    def head_config(self) -> WSIDNetHeadConfig:
        return WSIDNetHeadConfig(**{f.name: getattr(self, f.name) for f in fields(HeadKnobs)}, dropout=self.dropout)


@register_method
class WSIDNet(GlobalFinetune):
    """WSIDNet on each fold (records ``wsidnet``): the network of :class:`WSIDNetNet` trained with
    ``L = L_class + λ L_detect`` as named losses, the emotion labels of the training and validation
    parts only (none of the test part's). ``branch="holistic"`` is Table 2's Backbone."""

    name = "wsidnet"
    version = VERSION
    Config = WSIDNetConfig
    card = CARD

    @classmethod
    def paper_values(cls, runs, dataset: str, subset: str | None = None, *, knobs: dict | None = None) -> dict:
        """Per row of the card: ``(test accuracy % per (seed, fold), the paper's %)``. The graph-branch rows
        share ``knobs`` (:data:`SHARED_KNOBS`; default: the defaults, with λ = 0.1 where the runs hold a
        WSIDNet trained with it and 0 where they do not, i.e. on binary-only data); the derived row takes, on
        each fold, the k whose model scored best on the validation part."""
        import math

        import pandas as pd

        from vsalib import report

        knobs = default_knobs(runs) if knobs is None else knobs
        col = report.paper_column(CARD, dataset, subset)
        out = {}
        for name, row in cls.paper_rows(runs, knobs).items():
            out[name] = (report.row_accuracy(row, runs), report.published_value(CARD, name, col)[0])
        d = CARD.derived[0]
        # every k the runs hold (a user's sweep may go beyond KS), in ascending order: ties go to the smaller k
        ks = sorted({int(k) for k in runs["params.k"].dropna()}) if len(runs) and "params.k" in runs else list(KS)
        per_k = {k: (report.row_accuracy(PaperRow(d.name, d.method, {**knobs, **d.params, "k": k}), runs),
                     report.row_accuracy(PaperRow(d.name, d.method, {**knobs, **d.params, "k": k},
                                                  metric="val_accuracy"), runs)) for k in ks}
        swept = sum(len(t) > 0 for t, _ in per_k.values()) >= 2  # a choice needs two values of k at least
        out[d.name] = (validation_choice(per_k)[0] if swept else pd.Series(dtype=float), math.nan)
        return out

    @classmethod
    def paper_rows(cls, runs, knobs: dict | None = None) -> dict:
        """The rows ``paper_values`` reads, with the shared knobs added to the graph-branch rows."""
        from dataclasses import replace

        knobs = default_knobs(runs) if knobs is None else knobs
        rows = {r.name: r if r.params.get("branch") == "holistic" else replace(r, params={**knobs, **r.params})
                for r in CARD.rows}
        main = rows["WSIDNet"].params  # a row that is the main row under these knobs (the mean read-out where the
        return {n: r for n, r in rows.items() if n == "WSIDNet" or r.params != main}  # runs hold no other) goes

    def __init__(self, config=None, *, source=None, **settings):
        """``source``: ``(dataset, split)`` to train the detection branch on when ``detector_init`` names a
        dataset (default: that dataset loaded from the data root, its own protocol's first split of the
        fold's seed). A run setting, like ``cache_dir``: it is not part of the records' identity."""
        super().__init__(config, **settings)
        self.source = source
        self._init: dict[int, tuple] = {}  # seed -> (emotion order, A, detector state) of the source model
        self._graphs: dict = {}  # FoldId -> (emotion order, A, graph used)

    def params(self) -> dict:
        c = self.config
        if c.branch == "holistic":  # Table 2's Backbone: none of the graph branch's knobs reach it
            own = ["holistic_dim", "branch"]
        else:
            own = [f.name for f in fields(HeadKnobs)] + ["graph", "branch", "wheel_plus_one", "graph_seed",
                                                          "detector_init"]
        return {**super().params(), **{name: getattr(c, name) for name in own}}

    def _graph(self, fold):
        """The fold's ``(emotion order, A, graph used)``, computed once per fold (the model, the step and the
        record all need it)."""
        c = self.config
        if c.detector_init != "none":
            order, a, _ = self._init[fold.id.seed]
            return order, a, f"{c.graph} ({c.detector_init}'s)"
        if fold.id not in self._graphs:
            self._graphs[fold.id] = emotion_graph(fold, c.graph, plus_one=c.wheel_plus_one, seed=c.graph_seed)
        return self._graphs[fold.id]

    def source_fold(self, seed: int):
        """The fold the detection branch is trained on (``detector_init``): the source dataset's split of
        ``seed`` (its images never meet this dataset's test images: another dataset)."""
        from vsalib.data import load_dataset, make_splits
        from vsalib.methods.base import Fold

        if self.source is not None:
            ds, split = self.source
        else:
            ds = load_dataset(self.config.detector_init)
            split = make_splits(ds, seed=seed)[0]
        if "emotion" not in ds.table.columns:
            raise ValueError(f"detector_init={self.config.detector_init!r}: {ds.name} has no emotion labels to train "
                             f"a detection branch on")
        return Fold(ds, split, ds.info.get("labels"))

    def _source_model(self, fold, store):
        """Train (or read back) WSIDNet on the source fold with L_detect (λ = 0.1, the paper's), and keep its
        graph and its detection branch's weights for this fold's model."""
        import dataclasses

        if fold.id.seed in self._init:
            return
        c = self.config
        src_fold = self.source_fold(fold.id.seed)
        src = WSIDNet(dataclasses.replace(c, detector_init="none", lam=PAPER_LAM), checkpoint_dir=self.checkpoint_dir,
                      cache_dir=self.cache_dir, device=self.device, progress=self.progress,
                      num_workers=self.num_workers)
        from vsalib.methods.base import run_fold

        rec = run_fold(src, src_fold, store, need_weights=True)[0]
        state = torch.load(rec.extra["model_path"], map_location="cpu", weights_only=True)
        detector = {k.removeprefix("head.detector."): v for k, v in state.items() if k.startswith("head.detector.")}
        order, a, _ = src._graph(src_fold)
        self._init[fold.id.seed] = (order, a, detector)

    def train(self, fold, store):
        if self.config.detector_init != "none":
            self._source_model(fold, store)
        return super().train(fold, store)

    def build_model(self, fold) -> nn.Module:
        import copy

        c = self.config
        _, a, _ = self._graph(fold)
        model = WSIDNetNet(copy.deepcopy(self.base), a, len(fold.classes), c.head_config(), c.finetune_from or 0,
                           c.branch)
        if c.detector_init != "none":
            model.head.detector.load_state_dict(self._init[fold.id.seed][2])
        return model

    def evaluate(self, fold, trained):
        """The fine-tuning record, with the emotion graph the model used (``extra.graph``: its nodes, Eq. 3's
        A and which graph it is), so that the book can draw it without the dataset."""
        records = super().evaluate(fold, trained)
        if self.config.branch == "full":
            order, a, used = self._graph(fold)
            for rec in records:
                rec.extra["graph"] = {"order": list(order), "adjacency": [[round(float(v), 6) for v in row] for row in a],
                                      "kind": used}
        return records

    def training_step(self, fold):
        """Each batch's named losses (:func:`wsidnet_losses`); its emotion labels are looked up by the
        batch's image rows in the training and validation parts' labels (the test part's stay -1)."""
        import numpy as np

        from vsalib.train.loop import StepOutput

        lam = self.config.lam if self.config.branch == "full" else 0.0
        order, _, _ = self._graph(fold)
        emo = np.full(len(fold.all_paths()), -1, dtype=np.int64)
        if lam > 0:
            if not fold.has_column("emotion"):
                raise ValueError(f"{fold.dataset_name} has no emotion labels, so L_detect is undefined: set lam=0 "
                                 f"(the detection branch then learns from L_class alone)")
            index = {e: i for i, e in enumerate(order)}
            for part in ("train", "val"):
                emo[fold.index(part)] = [index.get(e, -1) for e in fold.annotations("emotion", part)]
        table = torch.as_tensor(emo)

        def step(model, batch, device):
            x, y = batch[0].to(device, non_blocking=True), batch[1].to(device, non_blocking=True)
            out = model(x, all_outputs=True)
            return StepOutput(wsidnet_losses(out, y, table[batch[2]].to(device), lam), out.logits, y)

        return step


KS = (1, 2, 4, 8)  # the k sweep
LAMS = (0.0, 0.01, 0.1, 1.0)  # the λ sweep (where there are emotion labels)


def default_knobs(runs=None) -> dict:
    """The shared knobs of the chapter's rows (:data:`SHARED_KNOBS` and ``detector_init``): each one's value in
    the graph-branch records of ``runs`` where they hold one value, the default where they hold several (or
    none); λ is the paper's 0.1 where the runs hold a WSIDNet trained with it, else 0 (binary-only data cannot
    train L_detect), and there the main row's detection branch starts from :data:`DETECTOR_SOURCE`'s emotions
    where the runs hold such a WSIDNet (with λ = 0 the C nodes have no emotion identity: the paper starts
    Twitter I's from FI)."""
    d = WSIDNetConfig()
    knobs = {name: getattr(d, name) for name in SHARED_KNOBS} | {"detector_init": "none"}
    if runs is None or not len(runs) or "params.branch" not in runs:
        knobs["lam"] = 0.0 if runs is not None else PAPER_LAM
        return knobs
    full = runs[(runs["method"] == "wsidnet") & (runs["params.branch"] == "full")]
    for name in SHARED_KNOBS:
        col = f"params.{name}"
        seen = list(dict.fromkeys(full[col].dropna())) if col in full else []
        if len(seen) == 1:
            knobs[name] = seen[0]
    lams = set(full["params.lam"].dropna()) if "params.lam" in full else set()
    knobs["lam"] = PAPER_LAM if PAPER_LAM in lams or not lams else (0.0 if 0.0 in lams else sorted(lams)[0])
    if knobs["lam"] == 0 and "params.detector_init" in full:
        started = full[(full["params.detector_init"] == DETECTOR_SOURCE) & (full["params.readout"] == knobs["readout"])]
        if len(started):
            knobs["detector_init"] = DETECTOR_SOURCE
    return knobs


__all__ = ["ACTIVATIONS", "BRANCHES", "CARD", "DEFAULT_K", "DETECTOR_SOURCE", "mean_readout_ignores_graph", "GRAPHS", "KS", "LAMS", "PAPER_LAM", "SHARED_KNOBS",
           "default_knobs", "validation_choice", "GraphConvolution", "READOUTS", "WSIDNet", "WSIDNetConfig", "WSIDNetHead",
           "WSIDNetHeadConfig", "WSIDNetNet", "WSIDNetOutput", "emotion_graph",
           "cross_spatial_pooling", "emotion_maps", "node_features", "wsidnet_losses"]
