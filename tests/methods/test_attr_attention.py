"""AttrAttention's Eqs. 1-6 by hand on a 2 x 2 grid with a 2-d embedding, and where its attributes come from."""

import numpy as np
import pandas as pd
import pytest
import torch

from vsalib.methods import attr_attention as A


def _hand_model():
    """Eq. 1 the identity on 2 channels; Eq. 2 maps attribute 0 to a_E = (2, 1) and attribute 1 to (0, 0) (ReLU
    of negative numbers); the classifier the identity."""
    m = A.AttributeAttention(in_channels=2, n_attributes=2, n_classes=2, dim=2, embedding="onehot")
    with torch.no_grad():
        m.encode_cells.weight.copy_(torch.eye(2).reshape(2, 2, 1, 1))
        m.encode_cells.bias.zero_()
        m.encode_attribute.weight.copy_(torch.tensor([[2.0, -1.0], [1.0, -3.0]]))  # columns: attributes 0, 1
        m.encode_attribute.bias.zero_()
        m.classifier.weight.copy_(torch.eye(2))
        m.classifier.bias.zero_()
    return m


# the four cells, row by row: (1, 0), (0, 1), (1, 1), (0, 0)
GRID = torch.tensor([[[1.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [1.0, 0.0]]])[None]


def test_attention_on_a_2x2_grid_by_hand():
    m = _hand_model()
    logits, o = m(GRID, torch.tensor([0]))
    # ô = a_E · v_E,i = (2, 1, 3, 0); o = ô / 6
    assert o[0].tolist() == pytest.approx([2 / 6, 1 / 6, 3 / 6, 0.0])
    # Σ o_i v_E,i = 2/6 (1, 0) + 1/6 (0, 1) + 3/6 (1, 1) = (5/6, 4/6): the logits through the identity classifier
    assert logits[0].tolist() == pytest.approx([5 / 6, 4 / 6])


def test_weights_are_a_distribution_and_the_all_zero_case_is_uniform():
    m = _hand_model()
    logits, o = m(GRID, torch.tensor([1]))  # a_E = (0, 0): every score 0
    assert torch.isfinite(o).all() and o[0].tolist() == pytest.approx([0.25] * 4)
    assert logits[0].tolist() == pytest.approx([0.5, 0.5])  # the mean of the cells
    torch.manual_seed(0)
    m = A.AttributeAttention(in_channels=8, n_attributes=5, dim=16, embedding="learned")
    _, o = m(torch.randn(3, 8, 14, 14), torch.tensor([0, 3, 4]))
    assert o.shape == (3, 196) and (o >= 0).all() and torch.allclose(o.sum(1), torch.ones(3))
    _, uniform = m(torch.randn(3, 8, 14, 14))  # the image-only model: no attribute, uniform weights
    assert torch.allclose(uniform, torch.full((3, 196), 1 / 196))
    with pytest.raises(ValueError, match="attribute indices"):
        m(torch.randn(1, 8, 2, 2), torch.tensor([5]))
    with pytest.raises(ValueError, match="embedding='glove'"):
        A.AttributeAttention(8, 5, embedding="glove")


def test_gradients_reach_both_encoders():
    torch.manual_seed(0)
    m = A.AttributeAttention(in_channels=4, n_attributes=3, dim=8)
    logits, _ = m(torch.rand(2, 4, 3, 3), torch.tensor([0, 2]))
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1])).backward()  # Eq. 6
    assert m.encode_cells.weight.grad.abs().sum() > 0 and m.encode_attribute.weight.grad.abs().sum() > 0


def test_attribute_codes_from_each_source():
    t = pd.DataFrame({"adjective": ["cute", "dirty", "cute"], "emotion": ["joy", "fear", "joy"],
                      "p_anger": [0.1, 0.0, 0.4], "p_joy": [0.6, 0.2, 0.4], "p_fear": [0.3, 0.8, 0.2]})
    codes, vocab = A.attribute_codes(t, "adjective")
    assert vocab == ["cute", "dirty"] and codes.tolist() == [0, 1, 0]
    codes, vocab = A.attribute_codes(t, "dominant")  # the most votes; a tie goes to the first column (anger)
    assert [vocab[c] for c in codes] == ["joy", "fear", "anger"]
    codes, vocab = A.attribute_codes(t, "folder")
    assert [vocab[c] for c in codes] == ["joy", "fear", "joy"]
    with pytest.raises(KeyError, match="no 'adjective' column"):
        A.attribute_codes(t.drop(columns="adjective"), "adjective")
    with pytest.raises(KeyError, match="vote columns"):
        A.attribute_codes(t[["adjective"]], "dominant")
    with pytest.raises(ValueError, match="valid: adjective, dominant, folder"):
        A.attribute_codes(t, "noun")
    assert isinstance(codes, np.ndarray) and codes.dtype == np.int64
