"""Synthetic "affective scenes": the embedded default dataset (generated, nothing to download).

Each image is a textured, gradient background with a few plain distractor shapes (discs,
rectangles, ellipses, bars) and ONE affective object whose *shape* carries the emotion:
one glyph family per Mikels emotion (see ``GLYPHS``), 15-35 % of the image side, at a
random position and rotated by up to 30 degrees. The object's ground-truth mask and box
are known, so region methods can be checked against the truth.

Design choices:
  - Distractors and the affective object draw their colours from the same distribution
    and have similar sizes, so neither colour nor size gives the object away; distractors
    never overlap the object, so the mask is exactly the object's visible pixels.
  - Glyphs of the same polarity share traits: positive glyphs are round and smooth
    (face, star, flower, sun), negative ones angular, irregular or broken (burst, splat,
    cross, broken heart). High-arousal emotions (excitement, anger) are both radial.
  - Global colour carries only a weak polarity cue: each image is blended towards a warm
    (positive) or cool (negative) tint by a random fraction in ``[0, 2 * colour_bias]``.
  - Each image has an adjective (like the adjective of an adjective-noun pair) drawn from
    its emotion's list in ``ADJECTIVES``, or, with probability ``adjective_noise``, from
    another emotion's list.
  - Output is deterministic for a seed: image ``i`` depends only on ``(seed, i)`` and its
    emotion; the emotions are balanced (counts differ by at most one) and shuffled.

Boxes are ``(x0, y0, x1, y1)`` pixel bounds with ``x0, y0`` inclusive and ``x1, y1``
exclusive, i.e. ``mask[y0:y1, x0:x1]`` holds the whole object.
"""

from __future__ import annotations

import colorsys
import csv
import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw
from vsalib.progress import tqdm

from vsalib.data.registry import ImageDataset, Protocol, register_dataset
from vsalib.emotions import BINARY_CLASSES, MIKELS_EMOTIONS, POLARITY

GENERATOR_VERSION = 1
CACHE_ENV = "VSALIB_CACHE"
DEFAULT_COLOUR_BIAS = 0.03
DEFAULT_ADJECTIVE_NOISE = 0.1
DEFAULT_NOISE_SD = 4.0
LABEL_KINDS = ("binary", "emotion")
LABEL_COLUMNS = ("file", "emotion", "polarity", "adjective", "x0", "y0", "x1", "y1")

# Adjectives per emotion, in the spirit of the adjectives of adjective-noun pairs (ANPs).
ADJECTIVES: dict[str, tuple[str, ...]] = {
    "amusement": ("funny", "silly", "cute"),
    "awe": ("amazing", "majestic", "magnificent"),
    "contentment": ("peaceful", "cozy", "calm"),
    "excitement": ("wild", "thrilling", "crazy"),
    "anger": ("angry", "violent", "hostile"),
    "disgust": ("dirty", "gross", "rotten"),
    "fear": ("scary", "dark", "creepy"),
    "sadness": ("sad", "lonely", "gloomy"),
}

# The glyph family that carries each emotion.
GLYPHS: dict[str, str] = {
    "amusement": "smiling face (disc with two eyes and a smile)",
    "awe": "five-pointed star",
    "contentment": "flower: a ring of eight dots around a centre dot",
    "excitement": "sun: a disc with ten detached triangular rays",
    "anger": "jagged burst: an irregular star with 9-13 sharp spikes",
    "disgust": "splat: an irregular blob with scattered droplets",
    "fear": "X cross of two thick bars",
    "sadness": "broken heart: two drooping halves split by a zig-zag crack",
}

_MAX_ROTATION = math.radians(30.0)  # glyphs stay upright-ish (a smile stays a smile)
_OBJECT_SIDE = (0.15, 0.35)  # object extent as a fraction of the image side
_N_DISTRACTORS = (3, 6)
_MIN_CONTRAST = 60.0  # RGB distance between a shape's colour and the background under it
_WARM_TINT = np.array([255.0, 190.0, 90.0], dtype=np.float32)  # positive images
_COOL_TINT = np.array([40.0, 60.0, 125.0], dtype=np.float32)  # negative images

Box = tuple[int, int, int, int]
# A drawing primitive, in a glyph's unit frame (glyphs fit in the unit disc) or in pixels:
# ("poly", role, points (k, 2)) or ("disc", role, (cx, cy, r)); role is "body" or "detail".
Primitive = tuple[str, str, object]


# --------------------------------------------------------------------------- glyphs


def _arc_band(a0: float, a1: float, radius: float, width: float, n: int = 16) -> np.ndarray:
    """A thick circular arc (angles in radians, y pointing down) as a polygon."""
    t = np.linspace(a0, a1, n)
    outer = np.stack([np.cos(t), np.sin(t)], 1) * (radius + width / 2)
    inner = np.stack([np.cos(t[::-1]), np.sin(t[::-1])], 1) * (radius - width / 2)
    return np.concatenate([outer, inner])


def _star(
    n_points: int,
    outer: np.ndarray | float,
    inner: np.ndarray | float,
    angles: np.ndarray | None = None,
) -> np.ndarray:
    """A star polygon alternating ``outer`` (tips) and ``inner`` radii."""
    if angles is None:
        angles = -math.pi / 2 + np.arange(n_points) * 2 * math.pi / n_points
    half = math.pi / n_points
    tip_r = np.broadcast_to(outer, (n_points,))
    in_r = np.broadcast_to(inner, (n_points,))
    pts = []
    for a, ro, ri in zip(angles, tip_r, in_r):
        pts.append((ro * math.cos(a), ro * math.sin(a)))
        pts.append((ri * math.cos(a + half), ri * math.sin(a + half)))
    return np.asarray(pts)


def _rect(cx: float, cy: float, length: float, width: float, angle: float) -> np.ndarray:
    """A rectangle centred at (cx, cy), ``length`` along ``angle``."""
    c, s = math.cos(angle), math.sin(angle)
    u = np.array([c, s]) * length / 2
    v = np.array([-s, c]) * width / 2
    ctr = np.array([cx, cy])
    return np.stack([ctr + u + v, ctr - u + v, ctr - u - v, ctr + u - v])


def _glyph_amusement(rng: np.random.Generator) -> list[Primitive]:
    return [
        ("disc", "body", (0.0, 0.0, 1.0)),
        ("disc", "detail", (-0.36, -0.3, 0.15)),
        ("disc", "detail", (0.36, -0.3, 0.15)),
        ("poly", "detail", _arc_band(math.radians(25), math.radians(155), 0.56, 0.16)),
    ]


def _glyph_awe(rng: np.random.Generator) -> list[Primitive]:
    return [("poly", "body", _star(5, 1.0, 0.42))]


def _glyph_contentment(rng: np.random.Generator) -> list[Primitive]:
    prims: list[Primitive] = [("disc", "body", (0.0, 0.0, 0.3))]
    for k in range(8):
        a = k * math.pi / 4
        prims.append(("disc", "body", (0.74 * math.cos(a), 0.74 * math.sin(a), 0.22)))
    return prims


def _glyph_excitement(rng: np.random.Generator) -> list[Primitive]:
    prims: list[Primitive] = [("disc", "body", (0.0, 0.0, 0.48))]
    for k in range(10):
        a = k * 2 * math.pi / 10
        da = 0.14
        tri = np.array(
            [
                (0.62 * math.cos(a - da), 0.62 * math.sin(a - da)),
                (1.0 * math.cos(a), 1.0 * math.sin(a)),
                (0.62 * math.cos(a + da), 0.62 * math.sin(a + da)),
            ]
        )
        prims.append(("poly", "body", tri))
    return prims


def _glyph_anger(rng: np.random.Generator) -> list[Primitive]:
    n = int(rng.integers(9, 14))
    angles = -math.pi / 2 + (np.arange(n) + rng.uniform(-0.25, 0.25, n)) * 2 * math.pi / n
    outer = rng.uniform(0.7, 1.0, n)
    inner = rng.uniform(0.28, 0.42, n)
    return [("poly", "body", _star(n, outer, inner, angles))]


def _glyph_disgust(rng: np.random.Generator) -> list[Primitive]:
    t = np.linspace(0, 2 * math.pi, 28, endpoint=False)
    r = np.full_like(t, 0.55)
    for freq in (2, 3, 5):
        r += rng.uniform(0.04, 0.1) * np.sin(freq * t + rng.uniform(0, 2 * math.pi))
    r += rng.uniform(-0.03, 0.03, t.size)
    blob = np.stack([r * np.cos(t), r * np.sin(t)], 1)
    prims: list[Primitive] = [("poly", "body", blob)]
    for _ in range(int(rng.integers(4, 7))):
        a = rng.uniform(0, 2 * math.pi)
        d = rng.uniform(0.74, 0.86)
        prims.append(("disc", "body", (d * math.cos(a), d * math.sin(a), rng.uniform(0.07, 0.12))))
    return prims


def _glyph_fear(rng: np.random.Generator) -> list[Primitive]:
    return [
        ("poly", "body", _rect(0.0, 0.0, 1.9, 0.34, math.pi / 4)),
        ("poly", "body", _rect(0.0, 0.0, 1.9, 0.34, -math.pi / 4)),
    ]


def _heart_halves() -> tuple[np.ndarray, np.ndarray]:
    """The two halves of a broken heart, normalised to the unit disc (computed once)."""
    t_right = np.linspace(0.0, math.pi, 24)
    t_left = np.linspace(math.pi, 2 * math.pi, 24)

    def heart(t: np.ndarray) -> np.ndarray:
        x = 16 * np.sin(t) ** 3
        y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        return np.stack([x, y], 1)

    # zig-zag crack from the top notch (y=-5) to the bottom tip (y=17)
    ys = np.linspace(-5.0, 17.0, 7)
    xs = np.array([0.0, 2.2, -2.2, 2.2, -2.2, 2.2, 0.0])
    crack_down = np.stack([xs, ys], 1)
    right = np.concatenate([heart(t_right), crack_down[::-1][1:-1]])
    left = np.concatenate([heart(t_left), crack_down[1:-1]])
    # the halves droop apart: move outwards, the right one also downwards
    left = left + np.array([-2.5, 1.0])
    right = right + np.array([2.5, 3.0])
    both = np.concatenate([left, right])
    centre = (both.max(0) + both.min(0)) / 2
    scale = np.linalg.norm(both - centre, axis=1).max()
    return (left - centre) / scale, (right - centre) / scale


_HEART_LEFT, _HEART_RIGHT = _heart_halves()


def _glyph_sadness(rng: np.random.Generator) -> list[Primitive]:
    return [("poly", "body", _HEART_LEFT), ("poly", "body", _HEART_RIGHT)]


_GLYPH_FUNCS: dict[str, Callable[[np.random.Generator], list[Primitive]]] = {
    "amusement": _glyph_amusement,
    "awe": _glyph_awe,
    "contentment": _glyph_contentment,
    "excitement": _glyph_excitement,
    "anger": _glyph_anger,
    "disgust": _glyph_disgust,
    "fear": _glyph_fear,
    "sadness": _glyph_sadness,
}


# --------------------------------------------------------------------------- drawing


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), dtype=np.float32) * 255.0


def _shape_colour(rng: np.random.Generator) -> np.ndarray:
    """A colour for any foreground shape (distractor or affective object alike)."""
    return _hsv(rng.uniform(), rng.uniform(0.45, 1.0), rng.uniform(0.35, 1.0))


def _contrasting_colour(rng: np.random.Generator, under: np.ndarray) -> np.ndarray:
    """A shape colour that stands out from the background colour ``under`` it."""
    best, best_d = None, -1.0
    for _ in range(12):
        c = _shape_colour(rng)
        d = float(np.linalg.norm(c - under))
        if d >= _MIN_CONTRAST:
            return c
        if d > best_d:
            best, best_d = c, d
    return best


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A two-colour linear gradient with low-frequency blotchy texture (float32 HxWx3)."""
    c1 = _hsv(rng.uniform(), rng.uniform(0.0, 0.4), rng.uniform(0.2, 0.9))
    c2 = _hsv(rng.uniform(), rng.uniform(0.0, 0.4), rng.uniform(0.2, 0.9))
    a = rng.uniform(0, 2 * math.pi)
    coords = np.arange(size, dtype=np.float32) / max(size - 1, 1)
    t = (coords[None, :] * math.cos(a) + coords[:, None] * math.sin(a))
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    bg = c1 * (1 - t[..., None]) + c2 * t[..., None]
    cells = int(rng.integers(3, 7))
    coarse = rng.normal(0.0, 1.0, (cells, cells)).astype(np.float32)
    texture = np.asarray(Image.fromarray(coarse).resize((size, size), Image.BICUBIC))
    bg += texture[..., None] * rng.uniform(8.0, 22.0)
    return bg


def _place(prims: list[Primitive], cx: float, cy: float, radius: float, angle: float) -> list[Primitive]:
    """Map unit-frame primitives to pixel coordinates (rotate, scale, translate)."""
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, s], [-s, c]]) * radius  # row vectors: p @ rot
    out = []
    for kind, role, data in prims:
        if kind == "disc":
            x, y, r = data
            px, py = np.array([x, y]) @ rot
            out.append((kind, role, (cx + px, cy + py, r * radius)))
        else:
            pts = np.asarray(data) @ rot + np.array([cx, cy])
            out.append((kind, role, pts))
    return out


def _draw(draw: ImageDraw.ImageDraw, prim: Primitive, fill) -> None:
    kind, _, data = prim
    if kind == "disc":
        x, y, r = data
        draw.ellipse([x - r, y - r, x + r, y + r], fill=fill)
    else:
        draw.polygon([tuple(p) for p in np.asarray(data).tolist()], fill=fill)


def _distractor(rng: np.random.Generator, size: int) -> tuple[list[Primitive], float]:
    """One plain geometric distractor in pixel coordinates, centred at the origin, and its radius."""
    kind = int(rng.integers(4))
    angle = rng.uniform(0, math.pi)
    if kind == 0:  # disc
        r = rng.uniform(0.05, 0.15) * size
        return [("disc", "body", (0.0, 0.0, r))], r
    if kind == 1:  # rectangle
        w, h = rng.uniform(0.08, 0.25, 2) * size
        return [("poly", "body", _rect(0, 0, w, h, angle))], math.hypot(w, h) / 2
    if kind == 2:  # ellipse
        a, b = rng.uniform(0.06, 0.15) * size, rng.uniform(0.03, 0.09) * size
        t = np.linspace(0, 2 * math.pi, 24, endpoint=False)
        pts = np.stack([a * np.cos(t), b * np.sin(t)], 1)
        c, s = math.cos(angle), math.sin(angle)
        pts = pts @ np.array([[c, s], [-s, c]])
        return [("poly", "body", pts)], a
    length, width = rng.uniform(0.2, 0.45) * size, rng.uniform(0.02, 0.05) * size  # bar
    return [("poly", "body", _rect(0, 0, length, width, angle))], length / 2


def _shift(prims: list[Primitive], dx: float, dy: float) -> list[Primitive]:
    out = []
    for kind, role, data in prims:
        if kind == "disc":
            x, y, r = data
            out.append((kind, role, (x + dx, y + dy, r)))
        else:
            out.append((kind, role, np.asarray(data) + np.array([dx, dy])))
    return out


def generate_scene(
    rng: np.random.Generator,
    emotion: str,
    size: int,
    *,
    colour_bias: float = DEFAULT_COLOUR_BIAS,
    noise_sd: float = DEFAULT_NOISE_SD,
) -> tuple[np.ndarray, np.ndarray, Box]:
    """One scene: ``(image uint8 HxWx3, mask bool HxW, box (x0, y0, x1, y1))``.

    The mask is the affective object's visible pixels; the box its tight bounds
    (x1, y1 exclusive).
    """
    if emotion not in _GLYPH_FUNCS:
        raise ValueError(f"emotion must be one of {', '.join(MIKELS_EMOTIONS)}; got {emotion!r}")
    _check_int("size", size, 32)
    _check_unit("colour_bias", colour_bias, upper=0.5)
    if not noise_sd >= 0:
        raise ValueError(f"noise_sd must be >= 0; got {noise_sd!r}")

    bg = _background(rng, size)

    # the affective object: position, scale, rotation
    radius = rng.uniform(*_OBJECT_SIDE) * size / 2
    lo, hi = radius + 1.0, size - 1.0 - radius
    ocx, ocy = rng.uniform(lo, hi, 2)
    angle = rng.uniform(-_MAX_ROTATION, _MAX_ROTATION)
    glyph = _place(_GLYPH_FUNCS[emotion](rng), ocx, ocy, radius, angle)

    # distractors: anywhere (edges may be cut) but never touching the object
    distractors = []
    for _ in range(int(rng.integers(_N_DISTRACTORS[0], _N_DISTRACTORS[1] + 1))):
        prims, r = _distractor(rng, size)
        for _try in range(10):
            x, y = rng.uniform(0, size, 2)
            if math.hypot(x - ocx, y - ocy) > r + radius + 2.0:
                distractors.append((_shift(prims, x, y), (x, y)))
                break

    img = Image.fromarray(np.clip(bg, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)

    def under(x: float, y: float) -> np.ndarray:
        xi, yi = int(np.clip(x, 0, size - 1)), int(np.clip(y, 0, size - 1))
        return bg[yi, xi]

    for prims, (x, y) in distractors:
        colour = tuple(int(v) for v in _contrasting_colour(rng, under(x, y)))
        for p in prims:
            _draw(draw, p, colour)

    body = _contrasting_colour(rng, under(ocx, ocy))
    detail = body * 0.3 if body.max() > 150 else body + (255 - body) * 0.7
    fills = {"body": tuple(int(v) for v in body), "detail": tuple(int(v) for v in detail)}
    mask_img = Image.new("L", (size, size), 0)
    mask_draw = ImageDraw.Draw(mask_img)
    for p in glyph:
        _draw(draw, p, fills[p[1]])
        _draw(mask_draw, p, 255)

    image = np.asarray(img, dtype=np.float32)
    # weak global colour cue: blend towards a warm (positive) or cool (negative) tint
    tint = _WARM_TINT if POLARITY[emotion] == 1 else _COOL_TINT
    strength = rng.uniform(0.0, 2.0 * colour_bias)
    image = image * (1.0 - strength) + tint * strength
    if noise_sd > 0:
        image += rng.normal(0.0, noise_sd, image.shape).astype(np.float32)
    image = np.clip(np.rint(image), 0, 255).astype(np.uint8)

    mask = np.asarray(mask_img) > 0
    ys, xs = np.nonzero(mask)
    box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    return image, mask, box


def draw_adjective(
    rng: np.random.Generator, emotion: str, noise: float = DEFAULT_ADJECTIVE_NOISE
) -> str:
    """An adjective for ``emotion``; with probability ``noise`` one of another emotion's."""
    _check_unit("adjective_noise", noise)
    if rng.uniform() < noise:
        others = [e for e in MIKELS_EMOTIONS if e != emotion]
        emotion = others[int(rng.integers(len(others)))]
    words = ADJECTIVES[emotion]
    return words[int(rng.integers(len(words)))]


# --------------------------------------------------------------------------- datasets


@dataclass
class Scene:
    """One generated image with its ground truth."""

    index: int
    emotion: str
    polarity: int
    adjective: str
    image: np.ndarray  # uint8 HxWx3
    mask: np.ndarray  # bool HxW
    box: Box  # (x0, y0, x1, y1), x1/y1 exclusive

    @property
    def name(self) -> str:
        return f"{self.index:05d}"


def balanced_emotions(n_images: int, seed: int) -> list[str]:
    """``n_images`` emotions, balanced (counts differ by at most one) and shuffled by ``seed``."""
    _check_int("n_images", n_images, len(MIKELS_EMOTIONS))
    _check_seed(seed)
    base, extra = divmod(n_images, len(MIKELS_EMOTIONS))
    emotions = [e for i, e in enumerate(MIKELS_EMOTIONS) for _ in range(base + (i < extra))]
    order = np.random.default_rng([seed, 0]).permutation(n_images)
    return [emotions[i] for i in order]


def iter_scenes(
    n_images: int = 1000,
    size: int = 128,
    seed: int = 0,
    *,
    colour_bias: float = DEFAULT_COLOUR_BIAS,
    adjective_noise: float = DEFAULT_ADJECTIVE_NOISE,
    noise_sd: float = DEFAULT_NOISE_SD,
) -> Iterator[Scene]:
    """Generate the dataset's scenes in order, in memory (scene ``i`` depends on ``(seed, i)``)."""
    _validate(n_images, size, seed, colour_bias, adjective_noise)
    for i, emotion in enumerate(balanced_emotions(n_images, seed)):
        rng = np.random.default_rng([seed, 1, i])
        image, mask, box = generate_scene(rng, emotion, size, colour_bias=colour_bias, noise_sd=noise_sd)
        adjective = draw_adjective(rng, emotion, adjective_noise)
        yield Scene(i, emotion, POLARITY[emotion], adjective, image, mask, box)


def _is_complete(folder: Path) -> bool:
    return (folder / "labels.csv").is_file()


def write_synthetic(
    out_dir: str | os.PathLike,
    n_images: int = 1000,
    size: int = 128,
    seed: int = 0,
    *,
    colour_bias: float = DEFAULT_COLOUR_BIAS,
    adjective_noise: float = DEFAULT_ADJECTIVE_NOISE,
    noise_sd: float = DEFAULT_NOISE_SD,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Write the dataset to ``out_dir``: ``images/<i:05d>.png``, ``masks/<i:05d>.png``,
    ``labels.csv`` (columns file, emotion, polarity, adjective, x0, y0, x1, y1) and
    ``params.json``.

    The files are byte-identical for the same arguments. The folder appears atomically:
    everything is written to a temporary folder beside ``out_dir`` that is then renamed,
    so a half-written folder never sits at ``out_dir``. An existing non-empty ``out_dir``
    is replaced only with ``overwrite=True``.
    """
    _validate(n_images, size, seed, colour_bias, adjective_noise)
    out_dir = Path(out_dir).expanduser()
    if out_dir.exists() and not overwrite:
        if not out_dir.is_dir() or any(out_dir.iterdir()):
            raise FileExistsError(
                f"{out_dir} already exists and is not empty; pass overwrite=True to replace it"
            )
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        os.chmod(tmp, 0o755)
        (tmp / "images").mkdir()
        (tmp / "masks").mkdir()
        rows = []
        scenes = iter_scenes(
            n_images, size, seed,
            colour_bias=colour_bias, adjective_noise=adjective_noise, noise_sd=noise_sd,
        )
        desc = f"synthetic scenes -> {out_dir.name}"
        for scene in tqdm(scenes, total=n_images, desc=desc, disable=not progress):
            file = f"images/{scene.name}.png"
            _save_png(scene.image, tmp / file)
            _save_png(scene.mask.astype(np.uint8) * 255, tmp / "masks" / f"{scene.name}.png")
            rows.append((file, scene.emotion, scene.polarity, scene.adjective, *scene.box))
        params = {
            "generator": "vsalib.data.synthetic",
            "version": GENERATOR_VERSION,
            "n_images": n_images,
            "size": size,
            "seed": seed,
            "colour_bias": colour_bias,
            "adjective_noise": adjective_noise,
            "noise_sd": noise_sd,
        }
        (tmp / "params.json").write_text(json.dumps(params, indent=1, sort_keys=True) + "\n")
        with open(tmp / "labels.csv", "w", newline="") as f:  # last: it marks the folder complete
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(LABEL_COLUMNS)
            writer.writerows(rows)
        _install(tmp, out_dir, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def _save_png(array: np.ndarray, path: Path) -> None:
    Image.fromarray(array).save(path, format="PNG", compress_level=1)


def _install(tmp: Path, out_dir: Path, overwrite: bool) -> None:
    """Rename the finished ``tmp`` folder to ``out_dir`` (replacing it if ``overwrite``)."""
    old = None
    if overwrite and out_dir.exists():
        old = out_dir.parent / f".{out_dir.name}.old-{tmp.name.rsplit('-', 1)[-1]}"
        os.replace(out_dir, old)
    try:
        os.replace(tmp, out_dir)
    except OSError:
        if _is_complete(out_dir):  # another process finished the same folder first: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
        elif old is not None:
            os.replace(old, out_dir)  # put back what was there
            old = None
            raise
        else:
            raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def synthetic_cache_dir(
    n_images: int, size: int, seed: int, cache_dir: str | os.PathLike | None = None
) -> Path:
    """Where ``load_synthetic`` keeps a generated dataset:
    ``<cache>/synthetic/n{n_images}_s{size}_seed{seed}_v1``.

    ``<cache>`` is ``cache_dir``, else the ``VSALIB_CACHE`` environment variable, else
    ``~/.cache/vsalib``.
    """
    if cache_dir is not None:
        base = Path(cache_dir)
    elif os.environ.get(CACHE_ENV):
        base = Path(os.environ[CACHE_ENV])
    else:
        base = Path.home() / ".cache" / "vsalib"
    name = f"n{n_images}_s{size}_seed{seed}_v{GENERATOR_VERSION}"
    return base.expanduser() / "synthetic" / name


@register_dataset(
    "synthetic",
    folder="synthetic",
    marker="labels.csv",
    how_to_get="Generated by vsalib; nothing to download.",
    description=(
        "Synthetic affective scenes: one emotion-bearing glyph (one shape family per Mikels "
        "emotion) among plain distractors on a textured background, with ground-truth boxes "
        "and masks, an adjective per image and only a weak global colour cue."
    ),
    options={"n_images": None, "size": None, "seed": None, "labels": LABEL_KINDS, "cache_dir": None},
    needs_files=False,
)
def load_synthetic(
    root: str | os.PathLike | None = None,
    n_images: int = 1000,
    size: int = 128,
    seed: int = 0,
    labels: str = "binary",
    cache_dir: str | os.PathLike | None = None,
) -> ImageDataset:
    """Load (generating and caching on first use) the synthetic affective scenes.

    ``root`` is ignored (the data is generated, see ``synthetic_cache_dir``).
    ``labels="binary"``: label = polarity (0 negative, 1 positive); ``"emotion"``: label =
    index into ``MIKELS_EMOTIONS``.
    """
    if labels not in LABEL_KINDS:
        raise ValueError(f"labels must be one of {LABEL_KINDS}; got {labels!r}")
    _validate(n_images, size, seed, DEFAULT_COLOUR_BIAS, DEFAULT_ADJECTIVE_NOISE)
    folder = synthetic_cache_dir(n_images, size, seed, cache_dir)
    if not _is_complete(folder):
        # a folder there without labels.csv is incomplete (not written by write_synthetic):
        # regenerate over it
        try:
            write_synthetic(folder, n_images, size, seed, overwrite=folder.exists())
        except FileExistsError:
            # another process installed the same folder between our look and write_synthetic's: it is
            # byte-identical to ours, so read theirs
            if not _is_complete(folder):
                raise
    raw = pd.read_csv(folder / "labels.csv", dtype={"file": str, "emotion": str, "adjective": str})
    if list(raw.columns) != list(LABEL_COLUMNS) or len(raw) != n_images:
        raise RuntimeError(
            f"{folder / 'labels.csv'} does not describe {n_images} images with columns "
            f"{', '.join(LABEL_COLUMNS)}; delete {folder} to regenerate it"
        )
    ids = raw["file"].map(lambda f: Path(f).stem)
    if labels == "binary":
        label = raw["polarity"].astype(int)
        classes = list(BINARY_CLASSES)
    else:
        label = raw["emotion"].map({e: i for i, e in enumerate(MIKELS_EMOTIONS)}).astype(int)
        classes = list(MIKELS_EMOTIONS)
    table = pd.DataFrame(
        {
            "path": [str((folder / f).resolve()) for f in raw["file"]],
            "label": label.to_numpy(),
            "group": ids.to_numpy(),
            "emotion": raw["emotion"].to_numpy(),
            "polarity": raw["polarity"].astype(int).to_numpy(),
            "adjective": raw["adjective"].to_numpy(),
            **{c: raw[c].astype(int).to_numpy() for c in ("x0", "y0", "x1", "y1")},
            "mask_path": [str((folder / "masks" / f"{i}.png").resolve()) for i in ids],
        }
    )
    params_file = folder / "params.json"
    params = json.loads(params_file.read_text()) if params_file.exists() else {}
    info = {
        **params,
        "labels": labels,
        "folder": str(folder),
        "box_convention": "x0, y0 inclusive; x1, y1 exclusive (pixels)",
        "glyphs": dict(GLYPHS),
    }
    return ImageDataset(
        name="synthetic",
        table=table,
        classes=classes,
        root=folder,
        protocol=Protocol(kind="kfold", k=5, note="synthetic scenes: 5-fold cross-validation"),
        info=info,
    )


# --------------------------------------------------------------------------- validation


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int >= {minimum}; got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")


def _check_seed(seed) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int; got {seed!r}")


def _check_unit(name: str, value, upper: float = 1.0) -> None:
    is_number = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool)
    if not is_number or not 0.0 <= value <= upper:
        raise ValueError(f"{name} must be a number in [0, {upper}]; got {value!r}")


def _validate(n_images, size, seed, colour_bias, adjective_noise) -> None:
    _check_int("n_images", n_images, len(MIKELS_EMOTIONS))
    _check_int("size", size, 32)
    _check_seed(seed)
    _check_unit("colour_bias", colour_bias, upper=0.5)
    _check_unit("adjective_noise", adjective_noise)
