"""Control region sets by hand: a 3 × 3 grid, seeded random boxes inside the image."""

import pytest
import torch

from vsalib.regions.controls import grid_boxes, random_boxes


def test_grid_cells_cover_the_image_row_by_row():
    g = grid_boxes(90, 60, n=3)
    assert g.shape == (9, 4)
    assert g[0].tolist() == [0, 0, 30, 20] and g[1].tolist() == [30, 0, 60, 20] and g[8].tolist() == [60, 40, 90, 60]
    areas = (g[:, 2] - g[:, 0]) * (g[:, 3] - g[:, 1])
    assert float(areas.sum()) == pytest.approx(90 * 60)
    assert grid_boxes(10, 10, n=1).tolist() == [[0, 0, 10, 10]]
    with pytest.raises(ValueError):
        grid_boxes(10, 10, n=0)


def test_random_boxes_are_seeded_and_inside():
    a, b = random_boxes(200, 100, k=10, seed=3), random_boxes(200, 100, k=10, seed=3)
    assert torch.equal(a, b) and not torch.equal(a, random_boxes(200, 100, k=10, seed=4))
    assert (a[:, 0] >= 0).all() and (a[:, 2] <= 200).all() and (a[:, 1] >= 0).all() and (a[:, 3] <= 100).all()
    assert ((a[:, 2] - a[:, 0]) >= 0.2 * 200 - 1e-4).all() and ((a[:, 3] - a[:, 1]) >= 0.2 * 100 - 1e-4).all()
    with pytest.raises(ValueError):
        random_boxes(10, 10, k=0)
