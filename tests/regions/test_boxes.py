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
