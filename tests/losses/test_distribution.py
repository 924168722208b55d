"""MultiLevelRCNN's losses against numbers worked by hand (Eqs. 6, 8, 10)."""

import math

import pytest
import torch

from vsalib.emotions import MIKELS_EMOTIONS, emotion_distribution
from vsalib.losses import distribution_loss, multi_loss, p_scaled_loss, polarity_distribution


def test_distribution_loss_is_eq8():
    # uniform prediction: -(0.8 + 0.2) log 0.5 = log 2, whatever the target
    assert distribution_loss(torch.zeros(1, 2), torch.tensor([[0.8, 0.2]])).item() == pytest.approx(math.log(2))
    # p = (0.75, 0.25): -(0.8 log 0.75 + 0.2 log 0.25)
    logits = torch.tensor([[math.log(3.0), 0.0]])
    want = -(0.8 * math.log(0.75) + 0.2 * math.log(0.25))
    assert distribution_loss(logits, torch.tensor([[0.8, 0.2]])).item() == pytest.approx(want)
    with pytest.raises(ValueError, match="differ in shape"):
        distribution_loss(logits, torch.tensor([[1.0, 0.0, 0.0]]))


def test_multi_loss_is_eq6():
    logits, y, f = torch.tensor([[math.log(3.0), 0.0]]), torch.tensor([0]), torch.tensor([[0.8, 0.2]])
    ce, led = -math.log(0.75), -(0.8 * math.log(0.75) + 0.2 * math.log(0.25))
    assert multi_loss(logits, y, f, lam=0.4).item() == pytest.approx(0.6 * ce + 0.4 * led)
    assert multi_loss(logits, y, f, lam=0.0).item() == pytest.approx(ce)
    with pytest.raises(ValueError, match="lam"):
        multi_loss(logits, y, f, lam=1.5)


def test_p_scaled_loss_is_eq10_on_logits_and_as_printed():
    logits, y = torch.tensor([[2.0, 0.0]]), torch.tensor([0])
    # p* = 0.5: the logits scaled by 0.25 -> (0.5, 0): -log(e^0.5 / (e^0.5 + 1)) = log(1 + e^-0.5)
    assert p_scaled_loss(logits, y, torch.tensor([0.5])).item() == pytest.approx(math.log(1 + math.exp(-0.5)))
    # as printed: the probabilities (0.8808, 0.1192) scaled by 0.25 -> nearly uniform
    p = [math.exp(2) / (math.exp(2) + 1), 1 / (math.exp(2) + 1)]
    want = math.log(1 + math.exp(0.25 * (p[1] - p[0])))
    got = p_scaled_loss(logits, y, torch.tensor([0.5]), on="probabilities").item()
    assert got == pytest.approx(want) and got > 0.6  # close to log 2: the printed reading barely trains
    with pytest.raises(ValueError, match="on="):
        p_scaled_loss(logits, y, torch.tensor([0.5]), on="scores")


def test_p_scaled_loss_as_eq11s_printed_approximation():
    """Eq. 11: p*² · L_cls + ln(1/p*²), worked by hand on two images; the added term moves the loss, not the
    gradient, and p* = 0 stays finite."""
    logits, y = torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0])
    ce = [math.log(1 + math.exp(-2.0)), math.log(1 + math.exp(1.0))]  # -log softmax of the true class
    want = (0.25 * ce[0] + math.log(1 / 0.25) + 0.64 * ce[1] + math.log(1 / 0.64)) / 2  # p* = 0.5 and 0.8
    got = p_scaled_loss(logits, y, torch.tensor([0.5, 0.8]), on="approximation")
    assert got.item() == pytest.approx(want)
    a = logits.clone().requires_grad_(True)
    p_scaled_loss(a, y, torch.tensor([0.5, 0.8]), on="approximation").backward()
    b = logits.clone().requires_grad_(True)
    (torch.nn.functional.cross_entropy(b, y, reduction="none") * torch.tensor([0.25, 0.64])).mean().backward()
    assert torch.allclose(a.grad, b.grad)  # a p*²-weighted cross-entropy
    zero = p_scaled_loss(logits[:1], y[:1], torch.tensor([0.0]), on="approximation").item()
    assert math.isfinite(zero) and zero == pytest.approx(-math.log(1e-12))
    assert p_scaled_loss(logits, y, torch.ones(2), on="approximation").item() == pytest.approx(sum(ce) / 2)


def test_with_p_star_one_the_three_losses_coincide():
    torch.manual_seed(0)
    logits, y = torch.randn(4, 8), torch.tensor([0, 3, 5, 7])
    f = emotion_distribution(y, torch.ones(4), order=MIKELS_EMOTIONS)  # p* = 1: one-hot
    ce = torch.nn.functional.cross_entropy(logits, y)
    assert multi_loss(logits, y, f, lam=0.4).item() == pytest.approx(ce.item(), rel=1e-6)
    assert p_scaled_loss(logits, y, torch.ones(4)).item() == pytest.approx(ce.item(), rel=1e-6)


def test_gradients_come_from_autograd():
    logits = torch.tensor([[1.0, -1.0]], requires_grad=True)
    multi_loss(logits, torch.tensor([0]), torch.tensor([[0.6, 0.4]]), lam=0.5).backward()
    # d/da of (1-λ) CE + λ L_ed = p - ((1-λ) y + λ f): p = softmax(1, -1), y = (1, 0), f = (0.6, 0.4)
    p0 = math.exp(1) / (math.exp(1) + math.exp(-1))
    assert logits.grad[0, 0].item() == pytest.approx(p0 - (0.5 * 1 + 0.5 * 0.6))


def test_polarity_distribution_is_eq4_with_two_classes():
    f = polarity_distribution(torch.tensor([1, 0, 1]), torch.tensor([1.0, 0.8, 0.6]))
    assert torch.allclose(f, torch.tensor([[0.0, 1.0], [0.8, 0.2], [0.4, 0.6]]))
    with pytest.raises(ValueError, match="p\\* must lie"):
        polarity_distribution(torch.tensor([1]), torch.tensor([1.2]))
    with pytest.raises(ValueError, match="two classes"):
        polarity_distribution(torch.tensor([1]), torch.tensor([0.5]), n_classes=8)


def test_label_distribution_follows_the_datasets_classes():
    from vsalib.losses import label_distribution

    # two classes: the label gets p*, the other 1 - p*
    assert label_distribution([1, 0], [0.8, 0.6], ["negative", "positive"]).flatten().tolist() == pytest.approx(
        [0.2, 0.8, 0.6, 0.4])
    # Mikels' eight in a dataset's own (alphabetical) order: amusement's wheel neighbours are contentment and
    # anger (distance 1), so with p* = 0.5 each gets 0.5 * 1 / (1+1+1/2+1/2+1/3+1/3+1/4) = 0.5 / 3.9167
    mikels = ["amusement", "anger", "awe", "contentment", "disgust", "excitement", "fear", "sadness"]
    f = label_distribution([0], [0.5], mikels)[0]
    assert float(f.sum()) == pytest.approx(1.0) and float(f[0]) == pytest.approx(0.5)
    assert float(f[mikels.index("contentment")]) == pytest.approx(0.5 / (47 / 12))
    assert float(f[mikels.index("anger")]) == pytest.approx(0.5 / (47 / 12))
    assert float(f[mikels.index("fear")]) == pytest.approx(0.5 * 0.25 / (47 / 12))  # four steps away
    # Ekman's six have no wheel: the other five share 1 - p* equally
    ekman = ["anger", "disgust", "fear", "joy", "sadness", "surprise"]
    assert label_distribution([3], [0.5], ekman)[0].tolist() == pytest.approx([0.1, 0.1, 0.1, 0.5, 0.1, 0.1])
