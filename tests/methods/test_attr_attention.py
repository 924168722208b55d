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


def test_augmented_copies_cross_the_split_only_before_splitting():
    rng = np.random.default_rng(0)
    after = A.augmented_split(50, 2, "after", rng)
    images = [set(p[:, 0].tolist()) for p in after]
    assert not (images[0] & images[2]) and not (images[0] & images[1])  # the default: an image on one side only
    assert sum(len(p) for p in after) == 100
    before = A.augmented_split(50, 2, "before", np.random.default_rng(0))
    assert set(before[2][:, 0].tolist()) & set(before[0][:, 0].tolist())  # the paper's order: copies on both sides
    with pytest.raises(ValueError, match="order='during'"):
        A.augmented_split(10, 2, "during", rng)


@pytest.fixture(scope="module")
def synthetic_fold(tmp_path_factory):
    from vsalib.data import Protocol, load_dataset, make_splits
    from vsalib.methods.base import Fold

    tmp = tmp_path_factory.mktemp("attr")
    ds = load_dataset("synthetic", n_images=48, size=64, cache_dir=str(tmp / "c"))
    split = make_splits(ds, Protocol("kfold", k=2), seed=0)[0]
    method = A.AttrAttention(image_size=64, dim=16, iterations=10, max_epochs=2, cache_dir=tmp / "c", progress=False)
    fold = Fold(ds, split, "binary")
    return method, fold, method.train(fold, None), tmp


def test_only_the_true_and_attribute_only_variants_read_a_test_attribute(synthetic_fold, monkeypatch):
    method, fold, trained, _ = synthetic_fold
    recs = {r.params.get("variant", "augment"): r for r in method.evaluate(fold, trained)}
    assert set(recs) == {"image", "true", "predicted", "only", "augment"}
    assert [v for v, r in recs.items() if r.extra.get("reads_test_attribute")] == ["true", "only"]
    # with every test image's attribute replaced, the predicted-attribute and image-only variants predict the same
    real = method.attribute_names

    def shuffled(fold_, part, as_test_input=False):
        names = real(fold_, part, as_test_input)
        return names[::-1] if part == "test" else names

    monkeypatch.setattr(method, "attribute_names", shuffled)
    again = {r.params.get("variant", "augment"): r for r in method.evaluate(fold, trained)}
    for v in ("image", "predicted"):
        assert np.array_equal(again[v].extra["y_pred"], recs[v].extra["y_pred"]), v
    aug = recs["augment"].metrics
    assert {"accuracy_after", "accuracy_before", "test_images_seen_in_training"} <= set(aug)
    assert aug["test_images_seen_in_training"] > 0


def test_a_test_attribute_is_refused_unless_asked_for_as_an_input(synthetic_fold):
    method, fold, _, _ = synthetic_fold
    with pytest.raises(PermissionError, match="not readable"):
        fold.annotations("adjective", "test")
    assert len(method.attributes(fold, "test", as_test_input=True)) == len(fold.index("test"))
    vocab = method.vocabulary(fold)
    assert vocab[-1] == A.UNSEEN and len(vocab) > 2  # the training and validation adjectives, and one slot more


def test_a_second_train_reads_the_cached_models_and_gives_the_same_records(synthetic_fold):
    method, fold, trained, tmp = synthetic_fold
    cached = list((tmp / "c" / "attr-attention").glob("*.pt"))
    assert len(cached) == 1
    again = method.train(fold, None)
    for name in ("attend", "image"):
        a, b = trained.model[name][0].state_dict(), again.model[name][0].state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), name
        assert again.model[name][1]["history"] == trained.model[name][1]["history"]
    first = {r.params.get("variant", "augment"): r for r in method.evaluate(fold, trained)}
    second = {r.params.get("variant", "augment"): r for r in method.evaluate(fold, again)}
    for v in A.VARIANTS:
        assert np.array_equal(first[v].extra["y_pred"], second[v].extra["y_pred"]), v
    true = first["true"].metrics
    assert 0 <= true["accuracy_shuffled_attribute"] <= 1  # the same model, test attributes shuffled among the images
    assert "accuracy_shuffled_attribute" not in first["image"].metrics


def test_the_card_rows_pick_the_variants_of_the_main_attribute_source():
    rows = []
    for source, base in (("dominant", 0.6), ("folder", 0.9)):
        for seed in (0, 1):
            for variant, acc in (("image", base), ("true", base + 0.2), ("predicted", base + 0.05), ("only", base + 0.1)):
                rows.append({"method": "attr-attention", "params.variant": variant, "params.attribute": source,
                             "seed": seed, "fold": 0, "metrics.accuracy": acc + 0.01 * seed})
    runs = pd.DataFrame(rows)
    values = A.AttrAttention.paper_values(runs, "emotion6", "binary")
    assert values["AttrAttention"][1] == 99 and values["Sentiment detector"][1] == 70  # VSO's, whatever our dataset
    assert values["AttrAttention"][0].tolist() == pytest.approx([80, 81])  # the dominant emotion's records only
    folder = A.AttrAttention.paper_values(runs, "emotion6", "binary", source="folder")
    assert folder["the attribute alone"][0].tolist() == pytest.approx([100, 101])
    claims = A.AttrAttention.paper_claims(runs, "emotion6", "binary").set_index("claim")
    assert claims["our gain"].tolist() == pytest.approx([20, 5, 10])
    assert claims["paper gain"].iloc[0] == 29
    assert A.select_source(runs.iloc[:0]).empty
    assert A.profile_settings("quick")["iterations"] < A.AttrAttentionConfig().iterations
    with pytest.raises(ValueError, match="unknown profile 'gpu'"):
        A.profile_settings("gpu")
