"""GCH and LCH (vsalib.methods.color_histogram): the histograms by hand, the SVM on the fold runner."""

import numpy as np
import pytest
from PIL import Image

from vsalib.methods import color_histogram as H


def test_gch_by_hand():
    """Four pixels: pure red (255, 0, 0) → levels (3, 0, 0) → bin 48; black → bin 0; (64, 128, 192) → levels
    (1, 2, 3) → bin 16 + 8 + 3 = 27; (63, 127, 191) → levels (0, 1, 2) → bin 6. Each a quarter of the image."""
    px = np.array([[[255, 0, 0], [0, 0, 0]], [[64, 128, 192], [63, 127, 191]]], dtype=np.uint8)
    h = H.rgb_histogram(px)
    assert h.shape == (64,) and h.sum() == pytest.approx(1.0)
    assert {int(i): float(v) for i, v in enumerate(h) if v} == {0: 0.25, 6: 0.25, 27: 0.25, 48: 0.25}
    assert H.rgb_histogram(px, levels=2)[4] == pytest.approx(0.25)  # red at 2 levels: (1, 0, 0) → bin 4
    with pytest.raises(ValueError, match="uint8"):
        H.rgb_histogram(px.astype(float))


def test_lch_is_one_gch_per_block_row_major():
    """A 4 × 8 image, left half white and right half black, on a 2 × 2 grid: the top-left and bottom-left
    blocks are all white (bin 63), the right blocks all black (bin 0)."""
    px = np.zeros((4, 8, 3), dtype=np.uint8)
    px[:, :4] = 255
    lch = H.local_histograms(px, grid=2)
    assert lch.shape == (4 * 64,)
    blocks = lch.reshape(4, 64)
    assert blocks[0, 63] == blocks[2, 63] == 1.0 and blocks[1, 0] == blocks[3, 0] == 1.0
    assert H.local_histograms(px, grid=4).shape == (1024,)  # the paper's 16 blocks of 64 bins
    # near-equal blocks where the side does not divide: 5 rows into 2 blocks of 3 and 2 rows
    odd = np.zeros((5, 4, 3), dtype=np.uint8)
    odd[3:] = 255
    b = H.local_histograms(odd, grid=2).reshape(4, 64)
    assert b[0, 0] == 1.0 and b[2, 63] == 1.0
    with pytest.raises(ValueError, match="cannot be cut"):
        H.local_histograms(np.zeros((3, 8, 3), dtype=np.uint8), grid=4)


def test_config_is_checked():
    with pytest.raises(ValueError, match="levels"):
        H.HistogramConfig(levels=1)
    with pytest.raises(ValueError, match="c_grid"):
        H.HistogramConfig(c_grid=(0.0,))
    with pytest.raises(ValueError, match="unknown histogram kind"):
        H.run_histograms(None, [], kinds=("hog",))


def test_svm_separates_colours_on_the_fold_runner(tmp_path):
    """Red images positive, blue negative (with noise): both histograms separate them; one record per fold
    with its C chosen on validation and its predictions, read back from the store on a second run."""
    from vsalib.data import Protocol, make_splits
    from vsalib.data.registry import ImageDataset
    from vsalib.results import ResultStore

    rng = np.random.default_rng(0)
    paths, labels = [], []
    for i in range(40):
        y = i % 2
        px = rng.integers(0, 60, size=(16, 16, 3)).astype(np.uint8)
        px[..., 0 if y else 2] += 180
        p = tmp_path / f"{i}.png"
        Image.fromarray(px).save(p)
        paths.append(str(p))
        labels.append(y)
    import pandas as pd

    ds = ImageDataset(name="colours", table=pd.DataFrame({"path": paths, "label": labels, "group": range(40)}),
                      classes=["negative", "positive"], root=tmp_path, protocol=Protocol("kfold", k=2))
    splits = make_splits(ds, Protocol("kfold", k=2), seed=0)
    store = ResultStore(tmp_path / "r")
    recs = H.run_histograms(ds, splits, subset="binary", store=store, progress=False)
    assert [r.method for r in recs] == ["gch", "gch", "lch", "lch"]
    assert all(r.metrics["accuracy"] == 1.0 and r.metrics["C"] in H.C_GRID for r in recs)
    assert recs[2].params["grid"] == 4 and "grid" not in recs[0].params
    again = H.run_histograms(ds, splits, subset="binary", store=store, progress=False)
    assert [r.key for r in again] == [r.key for r in recs]
