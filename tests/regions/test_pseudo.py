"""Pseudo emotional regions from a class-activation map, by hand."""

import numpy as np
import pytest

from vsalib.regions.pseudo import cam_boxes


def test_components_above_the_threshold_become_boxes_largest_first():
    cam = np.zeros((10, 10))
    cam[1:3, 1:4] = 1.0    # 2 x 3 = 6 cells at the maximum
    cam[5:9, 6:9] = 0.6    # 4 x 3 = 12 cells at 0.6 of it
    cam[9, 0] = 0.55       # one cell: under min_area (2 % of 100 cells = 2)
    boxes = cam_boxes(cam, threshold=0.5, min_area=0.02)
    assert boxes.tolist() == [[6, 5, 9, 9], [1, 1, 4, 3]]  # x0, y0, x1, y1; the larger first
    assert cam_boxes(cam, threshold=0.7).tolist() == [[1, 1, 4, 3]]  # 0.6 < 0.7 of the maximum
    # on a 200 x 100 image (width, height) the 10 x 10 grid scales by 20 and 10
    assert cam_boxes(cam, 0.7, image_size=(200, 100)).tolist() == [[20, 10, 80, 30]]
    assert cam_boxes(cam, 0.5, min_area=0.02, max_boxes=1).tolist() == [[6, 5, 9, 9]]


def test_empty_and_bad_maps():
    assert cam_boxes(np.zeros((4, 4))).shape == (0, 4)
    with pytest.raises(ValueError, match="threshold"):
        cam_boxes(np.ones((4, 4)), threshold=0.0)
    with pytest.raises(ValueError, match="2-d"):
        cam_boxes(np.ones((2, 4, 4)))
