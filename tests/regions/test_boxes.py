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
