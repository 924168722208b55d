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

import numpy as np
import pandas as pd
import torch
from torch import nn

EMBEDDINGS = ("onehot", "learned")
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


__all__ = ["ATTRIBUTE_SOURCES", "AttributeAttention", "EMBEDDINGS", "attention_weights", "attribute_codes",
           "uniform_weights"]
