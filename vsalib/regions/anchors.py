"""The emotional-region proposer's anchors (Rao et al., Sec. 3.1): one square size per pyramid level, in pixels
or scaled with the image.

Faster R-CNN with a feature pyramid (the paper's proposer) puts one anchor size on each of P2..P5, 32² to 256²,
on images whose shorter side is 800 px. Our images are 224 px on their shorter side, so the same sizes in
pixels cover about 3.6 times more of the image than the paper's did: :func:`anchor_sizes` offers both readings.
No torch here, so that a config can check its reading without importing the detector.
"""

from __future__ import annotations

ANCHOR_SIZES = (32, 64, 128, 256)  # one per level, P2..P5
PAPER_SHORT_SIDE = 800  # the shorter image side Faster R-CNN (and so the paper's proposer) sees by default
ANCHOR_READINGS = ("fixed", "image")  # the sizes above in pixels, or scaled with the image as the paper's were


def anchor_sizes(reading: str, short_side: int) -> tuple[int, ...]:
    """The four anchor sizes (P2..P5) for images whose shorter side is ``short_side``: ``fixed`` keeps
    :data:`ANCHOR_SIZES` in pixels (at 224 px they cover about 3.6 times more of the image than the paper's
    did at 800 px); ``image`` scales them by ``short_side / 800`` so that each covers the paper's share of the
    image (224 px: 9, 18, 36, 72), each at least 4 px (P2's stride)."""
    if reading not in ANCHOR_READINGS:
        raise ValueError(f"anchors={reading!r} is not valid; valid: {', '.join(ANCHOR_READINGS)}")
    if reading == "fixed":
        return ANCHOR_SIZES
    return tuple(max(4, round(s * short_side / PAPER_SHORT_SIDE)) for s in ANCHOR_SIZES)


__all__ = ["ANCHOR_READINGS", "ANCHOR_SIZES", "PAPER_SHORT_SIDE", "anchor_sizes"]
