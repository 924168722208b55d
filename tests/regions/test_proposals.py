"""Object proposals (Sun2016 step 1): EdgeBoxes on model-free gradient edges, selective search."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.ops import box_iou

from vsalib.data.registry import UnknownNameError
from vsalib.regions import proposals as P
from vsalib.regions.proposals import (
    Proposals,
    edge_boxes,
    gradient_edges,
    list_proposers,
    propose,
    selective_search,
    structured_edges,
)

METHODS = ("edgeboxes", "selective_search")
ODD_SIZES = [(1, 37), (37, 1), (3, 3), (5, 400), (400, 5), (63, 47), (128, 128), (1, 1), (2, 500)]


def pattern(h: int, w: int) -> np.ndarray:
    """Two coloured rectangles on a dark background, scaled to ``h x w`` (RGB uint8)."""
    img = np.full((h, w, 3), 30, np.uint8)
    img[h // 4: max(h // 4 + 1, 3 * h // 4), w // 4: max(w // 4 + 1, 3 * w // 4)] = (220, 180, 40)
    img[h // 8: max(h // 8 + 1, h // 3), w // 2: max(w // 2 + 1, 7 * w // 8)] = (40, 90, 230)
    return img


def square_image(h: int, w: int, box: tuple[int, int, int, int], fg=220, bg=40) -> np.ndarray:
    x0, y0, x1, y1 = box
    img = np.full((h, w, 3), bg, np.uint8)
    img[y0:y1, x0:x1] = fg
    return img


def assert_valid(p: Proposals, w: int, h: int, n: int | None = None) -> None:
    assert isinstance(p, Proposals)
    assert p.image_size == (w, h)
    assert p.boxes.dtype == torch.float32 and p.objectness.dtype == torch.float32
    assert p.boxes.ndim == 2 and p.boxes.shape[1] == 4
    assert p.objectness.shape == (len(p),)
    if n is not None:
        assert len(p) <= n
    if len(p) == 0:
        assert p.note, "an empty result must say why"
        return
    b = p.boxes
    assert torch.isfinite(b).all() and torch.isfinite(p.objectness).all()
    assert (b[:, 0] >= 0).all() and (b[:, 1] >= 0).all(), b
    assert (b[:, 2] <= w).all() and (b[:, 3] <= h).all(), b
    assert (b[:, 0] < b[:, 2]).all() and (b[:, 1] < b[:, 3]).all(), b
    assert (p.objectness[:-1] >= p.objectness[1:]).all(), "sorted by decreasing objectness"


def run(method: str, image, n: int = 50, **kw) -> Proposals:
    return propose(image, method, n=n, **kw)


# --------------------------------------------------------------------------------------- validity
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("hw", ODD_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_boxes_valid_inside_image_for_odd_sizes(method, hw):
    h, w = hw
    for kw in ({}, {"min_box_area": 16}):
        p = run(method, pattern(h, w), n=40, **kw)
        assert_valid(p, w, h, n=40)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("hw", [(63, 47), (128, 128)])
def test_structured_small_images_do_get_proposals(method, hw):
    h, w = hw
    p = run(method, pattern(h, w), n=40, min_box_area=16)
    assert len(p) > 0
    assert_valid(p, w, h, n=40)


def test_tiny_edgeboxes_input_is_empty_and_says_why():
    p = edge_boxes(pattern(2, 500), n=10)
    assert len(p) == 0 and "too small" in p.note


def test_downscaled_boxes_map_back_to_the_input():
    box = (300, 200, 620, 520)
    img = square_image(800, 1000, box)
    p = edge_boxes(img, n=10, max_side=250)
    assert_valid(p, 1000, 800, n=10)
    assert float(box_iou(p.boxes[:1], torch.tensor([box], dtype=torch.float32))) >= 0.5
    q = selective_search(img, n=10, max_side=250)
    assert_valid(q, 1000, 800, n=10)
    assert float(box_iou(q.boxes, torch.tensor([box], dtype=torch.float32)).max()) >= 0.8


# ------------------------------------------------------------------------------- edge boxes: quality
@pytest.mark.parametrize("hw, box", [((240, 320), (100, 60, 180, 140)),
                                     ((128, 128), (40, 40, 88, 88)),
                                     ((240, 320), (30, 120, 150, 220))])
def test_top_edge_box_finds_a_bright_square(hw, box):
    h, w = hw
    p = edge_boxes(square_image(h, w, box), n=20)
    assert len(p) > 0
    iou = float(box_iou(p.boxes[:1], torch.tensor([box], dtype=torch.float32)))
    assert iou >= 0.5, (p.boxes[:3], iou)


def test_selective_search_contains_the_square():
    box = (100, 60, 180, 140)
    p = selective_search(square_image(240, 320, box), n=20)
    assert float(box_iou(p.boxes, torch.tensor([box], dtype=torch.float32)).max()) >= 0.8


# -------------------------------------------------------------------------------- gradient edges
def test_vertical_step_edge_is_thin_and_oriented_zero():
    img = np.zeros((24, 40), np.uint8)
    img[:, 20:] = 200  # step between columns 19 and 20
    e, o = gradient_edges(img)
    assert e.dtype == np.float32 and o.dtype == np.float32 and e.shape == o.shape == (24, 40)
    assert e.min() >= 0 and e.max() <= 1 and o.min() >= 0 and o.max() < np.pi
    for r in range(2, 22):
        row = e[r]
        assert set(np.flatnonzero(row > 0.5)) <= {19, 20} and row.argmax() in (19, 20)
        assert (row > 0).sum() <= 2, row  # thinned to at most 2 px
    on = e > 0.5
    # edge normal along x: orientation 0 (== pi modulo pi) in the EdgeBoxes convention
    d = np.minimum(o[on], np.pi - o[on])
    assert d.max() < 0.05


@pytest.mark.parametrize("kind, expected", [("horizontal", np.pi / 2), ("diag_down", np.pi / 4),
                                            ("diag_up", 3 * np.pi / 4)])
def test_orientation_convention_is_the_edge_normal_with_y_down(kind, expected):
    yy, xx = np.mgrid[0:48, 0:48]
    mask = {"horizontal": yy >= 24, "diag_down": xx + yy > 48, "diag_up": xx - yy > 0}[kind]
    e, o = gradient_edges((mask * 200).astype(np.uint8))
    on = e > 0.5
    assert on.sum() > 20
    assert abs(float(np.median(o[on])) - expected) < 0.05
    assert (e > 0).sum(axis=0).max() <= 3  # thin across the edge, column by column


def test_gradient_edges_of_a_flat_image_are_zero_and_tiny_images_work():
    e, o = gradient_edges(np.full((30, 30, 3), 77, np.uint8))
    assert not e.any()
    for hw in [(1, 1), (1, 9), (9, 1), (2, 2)]:
        e, o = gradient_edges(pattern(*hw))
        assert e.shape == o.shape == hw and np.isfinite(e).all() and np.isfinite(o).all()


# ------------------------------------------------------------------------------- empty results
def test_flat_image_gives_empty_edgeboxes_result():
    flat = np.full((100, 120, 3), 128, np.uint8)
    p = edge_boxes(flat, n=50)
    assert len(p) == 0 and p.is_empty
    assert p.boxes.shape == (0, 4) and p.objectness.shape == (0,)
    assert p.boxes.dtype == torch.float32 and p.objectness.dtype == torch.float32
    assert "no edges" in p.note
    assert p.normalized_objectness().shape == (0,) and len(p.top(5)) == 0


def test_flat_image_selective_search_is_at_most_the_whole_image():
    p = selective_search(np.full((100, 120, 3), 128, np.uint8), n=50, min_box_area=0)
    assert len(p) <= 1
    if len(p):
        assert p.boxes[0].tolist() == [0.0, 0.0, 120.0, 100.0]


def test_n_zero_is_empty():
    for m in METHODS:
        p = run(m, pattern(64, 64), n=0)
        assert len(p) == 0 and p.boxes.shape == (0, 4)


# ------------------------------------------------------------------------------- objectness
def test_normalized_objectness_readings():
    p = Proposals(torch.tensor([[0, 0, 2, 2], [1, 1, 3, 3], [0, 0, 4, 4]]), torch.tensor([2.0, 1.0, 0.5]),
                  "test", (4, 4))
    torch.testing.assert_close(p.normalized_objectness("max"), torch.tensor([1.0, 0.5, 0.25]))
    torch.testing.assert_close(p.normalized_objectness(), torch.tensor([1.0, 0.5, 0.25]))
    torch.testing.assert_close(p.normalized_objectness("minmax"), torch.tensor([1.0, 1 / 3, 0.0]))
    torch.testing.assert_close(p.normalized_objectness("none"), torch.tensor([2.0, 1.0, 0.5]))
    with pytest.raises(ValueError, match="max.*minmax.*none"):
        p.normalized_objectness("softmax")
    same = Proposals(torch.zeros(2, 4) + torch.tensor([0, 0, 1, 1]), torch.tensor([0.3, 0.3]), "t", (1, 1))
    torch.testing.assert_close(same.normalized_objectness("minmax"), torch.ones(2))
    zero = Proposals(torch.tensor([[0, 0, 1, 1]]), torch.tensor([0.0]), "t", (1, 1))
    torch.testing.assert_close(zero.normalized_objectness("max"), torch.zeros(1))
    neg = Proposals(torch.tensor([[0, 0, 1, 1]] * 2), torch.tensor([-1.0, 1.0]), "t", (1, 1))
    with pytest.raises(ValueError, match="minmax"):
        neg.normalized_objectness("max")


@pytest.mark.parametrize("method", METHODS)
def test_normalized_objectness_on_real_output(method):
    p = run(method, pattern(160, 200), n=30, min_box_area=64)
    assert len(p) >= 3
    mx = p.normalized_objectness("max")
    assert float(mx.max()) == pytest.approx(1.0) and float(mx.min()) >= 0
    mm = p.normalized_objectness("minmax")
    assert float(mm.max()) == pytest.approx(1.0) and float(mm.min()) == pytest.approx(0.0)
    assert torch.equal(p.normalized_objectness("none"), p.objectness)


def test_selective_search_objectness_is_rank_based():
    p = selective_search(pattern(160, 200), n=1000, min_box_area=0)
    total = p.params["n_total"]
    assert len(p) == total  # nothing filtered: every rank 1 - r / N_total present
    np.testing.assert_allclose(p.objectness.numpy(), 1 - np.arange(total) / total, rtol=1e-6)


def test_proposals_container():
    p = Proposals(np.array([[0, 0, 2, 2], [1, 1, 3, 3], [0, 0, 4, 4]]), [0.1, 0.9, 0.5], "t", (4, 4))
    t = p.top(2)
    assert t.objectness.tolist() == pytest.approx([0.9, 0.5]) and t.boxes[0].tolist() == [1, 1, 3, 3]
    assert len(p) == 3 and len(t) == 2 and t.source == "t" and t.image_size == (4, 4)
    assert [float(s) for _, s in p] == pytest.approx([0.1, 0.9, 0.5])
    torch.testing.assert_close(p.areas(), torch.tensor([4.0, 4.0, 16.0]))
    with pytest.raises(ValueError, match="objectness"):
        Proposals(torch.zeros(2, 4), torch.zeros(3), "t", (1, 1))


# ---------------------------------------------------------------------------- n, determinism
@pytest.mark.parametrize("method", METHODS)
def test_n_caps_the_count_and_keeps_the_best(method):
    img = pattern(160, 200)
    many = run(method, img, n=60, min_box_area=64)
    few = run(method, img, n=3, min_box_area=64)
    assert len(many) > 3 and len(few) == 3
    assert torch.equal(few.boxes, many.boxes[:3]) and torch.equal(few.objectness, many.objectness[:3])


@pytest.mark.parametrize("method", METHODS)
def test_deterministic(method):
    img = pattern(150, 170)
    a = run(method, img, n=40, min_box_area=64)
    if method == "selective_search":  # stir the C library's rand() state in between
        selective_search(img, n=5, seed=None)
    b = run(method, img, n=40, min_box_area=64)
    assert torch.equal(a.boxes, b.boxes) and torch.equal(a.objectness, b.objectness)


def test_extra_nms_and_given_edges():
    img = pattern(160, 200)
    p = edge_boxes(img, n=30, nms_iou=0.3, min_box_area=64)
    assert_valid(p, 200, 160, n=30)
    if len(p) > 1:
        iou = box_iou(p.boxes, p.boxes).fill_diagonal_(0)
        assert float(iou.max()) <= 0.3 + 1e-6
    e, o = gradient_edges(img)
    q = edge_boxes(img, n=30, edges=(e, o), min_box_area=64)
    r = edge_boxes(img, n=30, min_box_area=64)
    assert q.source == "edgeboxes/given" and r.source == "edgeboxes/gradient"
    assert torch.equal(q.boxes, r.boxes)


# ---------------------------------------------------------------------------- inputs, errors
def test_input_conversions_agree():
    rgb = pattern(90, 110)
    ref = edge_boxes(rgb, n=20, min_box_area=64)
    assert len(ref) > 0
    rgba = np.concatenate([rgb, np.full((90, 110, 1), 255, np.uint8)], axis=2)
    for im in (Image.fromarray(rgb), Image.fromarray(rgba), rgba, rgb.astype(np.float32) / 255):
        p = edge_boxes(im, n=20, min_box_area=64)
        assert torch.equal(p.boxes, ref.boxes)
    gray = rgb[:, :, 0]
    g1 = edge_boxes(gray, n=20, min_box_area=64)
    g2 = edge_boxes(Image.fromarray(gray), n=20, min_box_area=64)
    g3 = edge_boxes(np.repeat(gray[:, :, None], 3, axis=2), n=20, min_box_area=64)
    assert torch.equal(g1.boxes, g3.boxes) and torch.equal(g2.boxes, g3.boxes)
    with pytest.raises(TypeError):
        edge_boxes(rgb.astype(np.int32), n=5)
    with pytest.raises(ValueError):
        edge_boxes(np.zeros((4, 4, 2), np.uint8), n=5)


def test_missing_structured_model_says_where_to_get_it(tmp_path):
    missing = tmp_path / "nope" / "model.yml.gz"
    with pytest.raises(FileNotFoundError, match="model.yml.gz") as err:
        structured_edges(pattern(40, 40), missing)
    assert "opencv_extra" in str(err.value)
    with pytest.raises(FileNotFoundError, match="model.yml.gz"):
        edge_boxes(pattern(40, 40), n=5, model_path=missing)
    with pytest.raises(FileNotFoundError, match="model.yml.gz"):
        propose(pattern(2, 2), "edgeboxes", n=5, model_path=missing)


def test_structured_path_plumbing(tmp_path, monkeypatch):
    """The learned-model path with a stand-in detector (the real model file is not available)."""
    calls = []

    class FakeSED:
        def detectEdges(self, rgb):
            calls.append(("detect", rgb.shape, rgb.dtype, float(rgb.max())))
            e, _ = gradient_edges((rgb * 255).astype(np.uint8), nms_radius=0)
            return e

        def computeOrientation(self, e):
            calls.append(("orient", e.shape))
            return np.zeros_like(e)

        def edgesNms(self, e, o):
            calls.append(("nms", e.shape))
            return e

    model = tmp_path / "model.yml.gz"
    model.write_bytes(b"stand-in")
    P._load_structured_model.cache_clear()
    monkeypatch.setattr(P.cv2.ximgproc, "createStructuredEdgeDetection", lambda path: FakeSED())
    try:
        p = edge_boxes(pattern(120, 150), n=10, model_path=model, min_box_area=64)
        e, o = structured_edges(pattern(10, 12), model)  # padded to 32 px for the forest, cropped back
    finally:
        P._load_structured_model.cache_clear()
    assert p.source == "edgeboxes/structured" and len(p) > 0
    assert_valid(p, 150, 120, n=10)
    assert calls[0][0] == "detect" and calls[0][1] == (120, 150, 3) and calls[0][2] == np.float32
    assert calls[0][3] <= 1.0
    assert [c[0] for c in calls[:3]] == ["detect", "orient", "nms"]
    assert e.shape == o.shape == (10, 12) and calls[3][1] == (32, 32, 3)


def test_unknown_method_lists_valid_ones():
    assert set(METHODS) <= set(list_proposers())
    with pytest.raises(UnknownNameError, match="edgeboxes.*selective_search"):
        propose(pattern(20, 20), "rpn")
    with pytest.raises(ValueError, match="fast"):
        selective_search(pattern(20, 20), mode="turbo")
    assert propose(pattern(64, 64), "selective_search", n=5, min_box_area=0).source == "selective_search/fast"


def test_edgeboxes_rejects_zero_min_box_area():
    with pytest.raises(ValueError, match="min_box_area"):
        edge_boxes(pattern(64, 64), n=5, min_box_area=0)


# ---------------------------------------------------------------------------- real images
def _twitter_images() -> list[Path]:
    try:
        from vsalib.data.registry import find_dataset_dir

        root = find_dataset_dir("twitter1")
    except Exception:
        return []
    return sorted(p for p in (root / "images").glob("*") if p.is_file())[:3]


@pytest.mark.realdata
def test_real_twitter_images_valid_and_timed():
    files = _twitter_images()
    if not files:
        pytest.skip("Twitter I images not found (set VSALIB_DATA)")
    from vsalib.data.images import open_image

    for f in files:
        im = open_image(f)
        s = 400 / max(im.size)
        im = im.resize((max(1, round(im.size[0] * s)), max(1, round(im.size[1] * s))), Image.BILINEAR)
        for m in METHODS:
            t = time.perf_counter()
            p = propose(im, m, n=100)
            dt = time.perf_counter() - t
            assert_valid(p, *im.size, n=100)
            assert len(p) > 0
            print(f"{f.name} {im.size[0]}x{im.size[1]} {m}: {len(p)} proposals in {dt:.2f} s")


# ---------------------------------------------------------------------------- TMM 2018 preset filters
def test_filter_sides_keeps_exactly_the_boxes_in_bounds():
    # sides (w, h): (10, 10), (30, 5), (28, 28), (501, 40), (60, 10), (60, 11)
    boxes = [[0, 0, 10, 10], [0, 0, 30, 5], [0, 0, 28, 28], [0, 0, 501, 40], [0, 0, 60, 10], [0, 0, 66, 11]]
    p = Proposals(np.array(boxes, dtype=float), [6, 5, 4, 3, 2, 1], "t", (600, 600))
    kept = P.filter_sides(p, min_side=10, max_side=500, max_aspect=6)
    # (30, 5): side 5 < 10; (501, 40): 501 > 500; (60, 10): aspect exactly 6 is kept; (66, 11): aspect 6 kept
    assert kept.boxes[:, 2].tolist() == [10, 28, 60, 66] and kept.objectness.tolist() == [6, 4, 2, 1]
    assert len(P.filter_sides(p, max_aspect=5.9)) == 2  # only the squares
    assert len(P.filter_sides(p)) == 6  # every bound off
    none = P.filter_sides(p, min_side=600)
    assert len(none) == 0 and "no proposal" in none.note
    with pytest.raises(ValueError, match="max_aspect"):
        P.filter_sides(p, max_aspect=0.5)
    with pytest.raises(ValueError, match="min_side"):
        P.filter_sides(p, min_side=20, max_side=10)


def test_cluster_proposals_by_hand():
    # two overlapping boxes (IoU 0.81) and one apart; scores 3, 1, 2
    boxes = [[0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 60, 60]]
    p = Proposals(np.array(boxes, dtype=float), [3.0, 1.0, 2.0], "t", (100, 100))
    c = P.cluster_proposals(p, n_clusters=5, iou=0.5)
    # cluster 1: weights 3/4, 1/4 -> mean box (0.25, 0.25, 10, 10), score 3; cluster 2: the lone box, score 2
    torch.testing.assert_close(c.boxes, torch.tensor([[0.25, 0.25, 10, 10], [50, 50, 60, 60]]))
    assert c.objectness.tolist() == [3.0, 2.0]
    assert P.cluster_proposals(p, n_clusters=1).objectness.tolist() == [3.0]  # the best cluster first
    assert len(P.cluster_proposals(p, iou=0.9)) == 3  # IoU 0.81 < 0.9: nothing merges
    assert len(P.cluster_proposals(Proposals(torch.zeros(0, 4), torch.zeros(0), "t", (4, 4)))) == 0
    with pytest.raises(ValueError, match="n_clusters"):
        P.cluster_proposals(p, n_clusters=0)
