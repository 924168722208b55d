import pytest
import torch

from vsalib.regions import fusion as fu

YG = torch.tensor([0.6, 0.4])
YR = torch.tensor([[0.2, 0.8], [0.4, 0.6]])


def test_late_fusion_hand_computed():
    r = fu.late_fusion(YG, YR, beta=0.5)
    # 0.6 + 0.5/2 * 0.6 = 0.75 ; 0.4 + 0.5/2 * 1.4 = 0.75
    torch.testing.assert_close(r.scores, torch.tensor([0.75, 0.75]))
    assert (r.used_regions, r.fallback, r.reason) == (2, False, "")
    torch.testing.assert_close(fu.late_fusion_scores(YG, YR), torch.tensor([0.75, 0.75]))


def test_late_fusion_nominal_k():
    # one region, nominal K = 4: 0.6 + 0.5/4 * 0.2, 0.4 + 0.5/4 * 0.8
    r = fu.late_fusion(YG, YR[:1], beta=0.5, k=4)
    torch.testing.assert_close(r.scores, torch.tensor([0.625, 0.5]))
    assert r.prediction == 0
    with pytest.raises(ValueError, match="k=1"):
        fu.late_fusion(YG, YR, k=1)


def test_late_fusion_zero_regions_falls_back():
    for empty in (torch.zeros(0, 2), [], None):
        r = fu.late_fusion(YG, empty)
        torch.testing.assert_close(r.scores, YG)
        assert r.fallback and r.used_regions == 0 and "no regions" in r.reason
    assert fu.late_fusion_scores(YG, torch.zeros(0, 2)).tolist() == pytest.approx([0.6, 0.4])


def test_late_fusion_space_check():
    with pytest.raises(ValueError, match="on='logits'"):
        fu.late_fusion(torch.tensor([2.0, -1.0]), YR)
    r = fu.late_fusion(torch.tensor([2.0, -1.0]), torch.tensor([[1.0, 3.0]]), beta=0.5, on="logits")
    torch.testing.assert_close(r.scores, torch.tensor([2.5, 0.5]))
    torch.testing.assert_close(fu.as_space(torch.tensor([0.0, 0.0])), torch.tensor([0.5, 0.5]))
    with pytest.raises(ValueError, match="on="):
        fu.late_fusion(YG, YR, on="probabilities")
    with pytest.raises(ValueError, match="M = 2"):
        fu.late_fusion(YG, torch.ones(2, 3) / 3)


def test_late_fusion_batch_variable_counts():
    yg = torch.tensor([[0.6, 0.4], [0.1, 0.9]])
    res = fu.late_fusion_batch(yg, [YR, torch.zeros(0, 2)], beta=0.5)
    torch.testing.assert_close(res.scores, torch.tensor([[0.75, 0.75], [0.1, 0.9]]))
    assert res.used_regions.tolist() == [2, 0]
    assert res.fallback.tolist() == [False, True]
    assert res.reasons[0] == "" and "no regions" in res.reasons[1]
    assert res.predictions.tolist() == [0, 1]


def test_yang_fusion_hand_computed():
    r = fu.yang_fusion(YG, YR)
    # 0.7 * (0.6, 0.4) + 0.3 * (0.3, 0.7) = (0.51, 0.49)
    torch.testing.assert_close(r.scores, torch.tensor([0.51, 0.49]))
    z = fu.yang_fusion(YG, torch.zeros(0, 2))
    torch.testing.assert_close(z.scores, YG)
    assert z.fallback


def test_area_weighted_fusion_hand_computed():
    areas = fu.box_areas([[0, 0, 50, 20], [0, 0, 10, 20]])  # 1000, 200 of a 100 x 20 = 2000 image
    assert areas.tolist() == [1000.0, 200.0]
    r = fu.area_weighted_fusion(YG, YR, areas, 2000)
    # weights 0.5, 0.1: (0.6 + 0.1 + 0.04, 0.4 + 0.4 + 0.06) = (0.74, 0.86)
    torch.testing.assert_close(r.scores, torch.tensor([0.74, 0.86]))
    # the "weighted averaging" reading: weights 1000/1200, 200/1200 among the regions, plus the image:
    # (0.6 + 5/6 * 0.2 + 1/6 * 0.4, 0.4 + 5/6 * 0.8 + 1/6 * 0.6) = (0.8333, 1.1667): another prediction
    n = fu.area_weighted_fusion(YG, YR, areas, 2000, reading="average")
    torch.testing.assert_close(n.scores, torch.tensor([0.6 + 0.7 / 3, 0.4 + 2.3 / 3]))
    # regions covering 1.5 images: sum (0.6 + 1.5 * 0.42, 0.4 + 1.5 * 0.58) = (1.23, 1.27) -> class 1;
    # average (1.02, 0.98) -> class 0
    YR2 = torch.tensor([[0.42, 0.58], [0.42, 0.58]])
    assert fu.area_weighted_fusion(YG, YR2, [2000, 1000], 2000).prediction == 1
    assert fu.area_weighted_fusion(YG, YR2, [2000, 1000], 2000, reading="average").prediction == 0
    with pytest.raises(ValueError, match="reading"):
        fu.area_weighted_fusion(YG, YR, areas, 2000, reading="mean")
    z = fu.area_weighted_fusion(YG, torch.zeros(0, 2), [], 2000)
    assert z.fallback and torch.equal(z.scores, YG)
    with pytest.raises(ValueError, match="areas"):
        fu.area_weighted_fusion(YG, YR, [1.0], 2000)


def test_area_weighted_fusion_on_logits_by_hand():
    # R-CNNGSR Eq. 3 with f = the last layer's activations: global logits (1, 0), regions (0, 2) and (1, 1) of
    # 25 and 50 px in a 100 px image: (1 + 0.25 * 0 + 0.5 * 1, 0 + 0.25 * 2 + 0.5 * 1) = (1.5, 1.0) -> class 0
    g, r = torch.tensor([1.0, 0.0]), torch.tensor([[0.0, 2.0], [1.0, 1.0]])
    s = fu.area_weighted_fusion(g, r, [25, 50], 100, on="logits")
    torch.testing.assert_close(s.scores, torch.tensor([1.5, 1.0]))
    assert s.prediction == 0 and s.used_regions == 2
    # the average reading: (25 * (0, 2) + 50 * (1, 1)) / 75 = (2/3, 4/3), plus (1, 0) = (5/3, 4/3)
    torch.testing.assert_close(fu.area_weighted_fusion(g, r, [25, 50], 100, reading="average", on="logits").scores,
                               torch.tensor([5 / 3, 4 / 3]))
    with pytest.raises(ValueError, match="on='logits'"):  # logits are not probability rows
        fu.area_weighted_fusion(g, r, [25, 50], 100)


def test_probs_and_logits_readings_can_disagree():
    # global logits (0, 0); a small region sure of class 1 in logits (0, 20), a large one leaning to class 0 (1, 0);
    # areas 10 and 90 of 100. Logits: (0.9 * 1, 0.1 * 20) = (0.9, 2.0) -> class 1. Probabilities (softmax
    # saturates the sure region at 1): (0.5 + 0.1 * 2e-9 + 0.9 * 0.7311, 0.5 + 0.1 * 1.0 + 0.9 * 0.2689)
    # = (1.15795, 0.84205) -> class 0
    g, r = torch.tensor([0.0, 0.0]), torch.tensor([[0.0, 20.0], [1.0, 0.0]])
    on_logits = fu.area_weighted_fusion(g, r, [10, 90], 100, on="logits")
    torch.testing.assert_close(on_logits.scores, torch.tensor([0.9, 2.0]))
    on_probs = fu.area_weighted_fusion(fu.as_space(g), fu.as_space(r), [10, 90], 100, on="probs")
    torch.testing.assert_close(on_probs.scores, torch.tensor([1.1579527, 0.8420473]))
    assert (on_logits.prediction, on_probs.prediction) == (1, 0)


def test_fuse_batch_per_image_arguments():
    yg = torch.stack([YG, YG])
    res = fu.fuse_batch(fu.area_weighted_fusion, yg, [YR, YR[:1]],
                        per_image={"region_areas": [[1000, 200], [2000]], "image_area": [2000, 2000]})
    torch.testing.assert_close(res.scores, torch.tensor([[0.74, 0.86], [0.8, 1.2]]))


def test_early_fusion_concat_shapes_and_padding():
    g = torch.tensor([1.0, 2.0])
    r = torch.tensor([[3.0, 4.0]])
    assert fu.early_fusion_features(g, r, k=1).tolist() == [1, 2, 3, 4]
    assert fu.early_fusion_features(g, r, k=3).tolist() == [1, 2, 3, 4, 0, 0, 0, 0]
    assert fu.early_fusion_features(g, r, k=3, pad="global").tolist() == [1, 2, 3, 4, 1, 2, 1, 2]
    assert fu.early_fusion_features(g, torch.zeros(0, 2), k=2).tolist() == [1, 2, 0, 0, 0, 0]
    with pytest.raises(ValueError, match="k=1"):
        fu.early_fusion_features(g, torch.ones(2, 2), k=1)


def test_early_fusion_mean_and_batch():
    g = torch.tensor([1.0, 2.0])
    r = torch.tensor([[3.0, 4.0], [5.0, 8.0]])
    assert fu.early_fusion_features(g, r, how="mean").tolist() == [1, 2, 4, 6]
    assert fu.early_fusion_features(g, [], how="mean", pad="global").tolist() == [1, 2, 1, 2]
    b = fu.early_fusion_batch(torch.stack([g, g]), [r, r[:1]], k=2)
    assert b.shape == (2, 6)
    assert b[1].tolist() == [1, 2, 3, 4, 0, 0]
    assert fu.early_fusion_batch(torch.zeros(0, 2), [], k=2).shape == (0, 6)
