import numpy as np
import pytest

from vsalib.regions.boxes import box_after_center_crop, resize_crop_geometry


def test_geometry_landscape_hand_computed():
    # 400x200 image, size 224 → resize 256 (shorter side): scale 1.28, 512x256, crop offsets 144, 16
    scale, dx, dy = resize_crop_geometry((400, 200), 224)
    assert (scale, dx, dy) == (pytest.approx(1.28), 144, 16)


def test_box_after_center_crop_hand_computed():
    b = box_after_center_crop([150, 50, 250, 150], (400, 200), 224)
    np.testing.assert_allclose(b, [150 * 1.28 - 144, 50 * 1.28 - 16, 250 * 1.28 - 144, 150 * 1.28 - 16])


def test_box_is_clipped_to_the_crop():
    b = box_after_center_crop([0, 0, 400, 200], (400, 200), 224)
    np.testing.assert_allclose(b, [0, 0, 224, 224])


def test_square_image_scales_only():
    b = box_after_center_crop([32, 32, 96, 96], (128, 128), 128, resize=128)
    np.testing.assert_allclose(b, [32, 32, 96, 96])


def test_boxes_to_input_rounds_outward_and_clips():
    from vsalib.regions.boxes import boxes_to_input

    # found at half size: (1.2, 0.5, 3.0, 4.9) -> (2.4, 1, 6, 9.8) -> outward (2, 1, 6, 10); the second is clipped
    b = boxes_to_input([[1.2, 0.5, 3.0, 4.9], [-1, 2, 60, 40]], 0.5, width=100, height=50)
    assert b.tolist() == [[2, 1, 6, 10], [0, 4, 100, 50]]
    # exact edges stay put despite float error (1 / (1/3) = 3.0000000000000004); scale 1 only clips
    assert boxes_to_input([[1, 1, 2, 2]], 1 / 3, 10, 10).tolist() == [[3, 3, 6, 6]]
    assert boxes_to_input([[0.5, 0, 7.5, 5]], 1.0, 5, 5).tolist() == [[0.5, 0, 5, 5]]


def test_jitter_boxes_moves_each_coordinate_within_bounds():
    from vsalib.regions.boxes import jitter_boxes

    b = np.array([[10, 10, 50, 40], [0, 0, 100, 80], [98, 5, 100, 7]], dtype=float)
    j = jitter_boxes(b, 2, 100, 80, seed=3)
    assert np.array_equal(j, jitter_boxes(b, 2, 100, 80, seed=3))  # seeded
    assert np.abs(j - b).max() <= 2 and not np.array_equal(j, b)
    assert (j[:, [0, 2]] >= 0).all() and (j[:, [0, 2]] <= 100).all() and (j[:, [1, 3]] <= 80).all()
    assert (j[:, 2] > j[:, 0]).all() and (j[:, 3] > j[:, 1]).all()
    assert np.array_equal(jitter_boxes(b, 0, 100, 80), b)
    # a 1-px box that a 5-px move would often collapse stays a box: moved where it can, else as it was
    tiny = np.array([[50, 50, 51, 51]], dtype=float)
    moved = np.concatenate([jitter_boxes(tiny, 5, 100, 100, seed=s) for s in range(40)])
    assert (moved[:, 2] > moved[:, 0]).all() and (moved[:, 3] > moved[:, 1]).all()
    assert (moved == tiny).all(axis=1).any() and not (moved == tiny).all(axis=1).all()
    with pytest.raises(ValueError, match="pixels"):
        jitter_boxes(b, -1, 100, 80)
