"""Real MNIST test digits rendered as a phone would see them: dark ink on light, unevenly lit
paper, enlarged to a few hundred pixels, off-centre, with noise, blur and JPEG compression.

`render_photo` is deterministic for a given seed; `photo_set` makes a labelled set from the real
test split. Used by benchmarks/photo_accuracy.py, benchmarks/handwriting_styles.py (which adds a
ruled line under the digit, or a thin, faint ballpoint stroke) and tests/test_photos.py.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter


@dataclass(frozen=True)
class Photo:
    data: bytes  # a JPEG file, as it would arrive from a phone
    label: int


def _paper(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Paper brightness: a base level, a linear gradient in a random direction, a soft vignette."""
    base = rng.uniform(0.55, 0.95)
    angle = rng.uniform(0, 2 * np.pi)
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    along = (np.cos(angle) * cols / width + np.sin(angle) * rows / height) - 0.5
    gradient = rng.uniform(0.0, 0.3) * along
    radius = ((rows / height - 0.5) ** 2 + (cols / width - 0.5) ** 2) * 2
    vignette = rng.uniform(0.0, 0.15) * radius
    return np.clip(base + gradient - vignette, 0.25, 1.0)


@dataclass(frozen=True)
class Pen:
    """What is on the paper besides the digit, and how it was written."""

    darkness: tuple[float, float] = (0.35, 0.9)  # 0.35: faint pencil; 0.9: a black pen
    ruled: bool = False  # a printed line under the digit, across the whole page
    thin: bool = False  # a ballpoint: strokes a fraction of MNIST's width, parts of them missing


def _ink(
    digit: np.ndarray, height: int, width: int, rng: np.random.Generator
) -> tuple[np.ndarray, int, int]:
    """The 28x28 digit enlarged so that it spans 30-70% of the shorter side, placed off-centre;
    with the top row and the side of the enlarged field."""
    side = int(min(height, width) * rng.uniform(0.3, 0.7) * 28 / 20)
    side = min(side, height, width)
    enlarged = Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC)
    top = int(rng.integers(0, height - side + 1))
    left = int(rng.integers(0, width - side + 1))
    ink = np.zeros((height, width), dtype=np.float32)
    ink[top : top + side, left : left + side] = np.asarray(enlarged, dtype=np.float32) / 255
    return np.clip(ink, 0.0, 1.0), top, side


def _ruled_line(ink: np.ndarray, digit: np.ndarray, top: int, side: int, rng) -> None:
    """A thin printed line across the page, a little tilted, touching the digit's lowest ink or
    just under it."""
    height, width = ink.shape
    last_row = int(np.flatnonzero(digit.max(axis=1) > 64)[-1])
    base = top + (last_row + 1) * side / 28 + rng.uniform(-0.02, 0.06) * side
    thickness = max(1.0, side / 28 * rng.uniform(0.4, 0.9))
    slope = np.tan(np.radians(rng.uniform(-1.5, 1.5)))
    rows = np.arange(height, dtype=np.float32)[:, None]
    centre = base + slope * (np.arange(width, dtype=np.float32)[None, :] - width / 2)
    line = np.clip(thickness / 2 + 0.5 - np.abs(rows - centre), 0.0, 1.0)
    np.maximum(ink, line * rng.uniform(0.5, 0.9), out=ink)


def _ballpoint(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The strokes thinned to about a third of their width and broken where the pen skipped."""
    solid = ink > 0.5
    outline = (solid[1:] != solid[:-1]).sum() + (solid[:, 1:] != solid[:, :-1]).sum()
    stroke = 2 * solid.sum() / max(int(outline), 1)  # the digit's own mean stroke width
    reach = max(1, int(stroke * rng.uniform(0.25, 0.35)))
    image = Image.fromarray((solid * 255).astype(np.uint8))
    thin = np.asarray(image.filter(ImageFilter.MinFilter(2 * reach + 1)), dtype=np.float32) / 255
    # Skips: a smooth random field, low over about a tenth of the page.
    height, width = ink.shape
    coarse = Image.fromarray(rng.uniform(0, 1, size=(8, 8)).astype(np.float32), mode="F")
    field = np.asarray(coarse.resize((width, height), Image.Resampling.BICUBIC))
    return thin * (field > np.quantile(field, 0.1))


def _clutter(ink: np.ndarray, rng: np.random.Generator) -> None:
    """Specks of dirt away from the digit and a dark band along one edge (a photo's frame)."""
    height, width = ink.shape
    for _ in range(int(rng.integers(2, 6))):
        row, col = int(rng.integers(0, height - 4)), int(rng.integers(0, width - 4))
        if ink[max(0, row - 20) : row + 24, max(0, col - 20) : col + 24].max() == 0:
            size = int(rng.integers(1, 4))
            ink[row : row + size, col : col + size] = 1.0
    band = int(rng.integers(3, max(4, min(height, width) // 25)))
    edge = int(rng.integers(0, 4))
    view = ink if edge < 2 else ink.T
    if edge % 2:
        view[-band:] = np.maximum(view[-band:], 0.9)
    else:
        view[:band] = np.maximum(view[:band], 0.9)


def render_photo(digit: np.ndarray, seed: int, clutter: bool = False, pen: Pen = Pen()) -> bytes:
    """A JPEG of one MNIST digit (28x28 uint8, white on black) photographed on paper."""
    rng = np.random.default_rng(seed)
    height, width = (int(v) for v in rng.integers(240, 481, size=2))
    paper = _paper(height, width, rng)
    ink, top, side = _ink(digit, height, width, rng)
    if clutter:
        _clutter(ink, rng)
    # The pen draws from its own numbers: the same seed with and without it gives the same paper,
    # light and camera.
    pen_rng = np.random.default_rng((seed, 1))
    if pen.thin:
        ink = _ballpoint(ink, pen_rng)
    if pen.ruled:
        _ruled_line(ink, digit, top, side, pen_rng)
    darkness = rng.uniform(*pen.darkness)
    grey = paper * (1 - darkness * ink) + rng.normal(0, rng.uniform(0.01, 0.05), ink.shape)
    image = Image.fromarray((np.clip(grey, 0, 1) * 255).astype(np.uint8))
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.0, 2.0)))
    tint = rng.uniform(0.85, 1.0, size=3)  # warm or cool light: a colour photo
    rgb = (np.asarray(image, dtype=np.float32)[..., None] * tint).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=int(rng.integers(30, 91)))
    return buffer.getvalue()


def photo_set(
    images: np.ndarray, labels: np.ndarray, count: int, seed: int = 0, clutter: bool = False
) -> list[Photo]:
    """`count` photos of the first `count` digits (uint8 [N, 28, 28]), photo i seeded seed + i."""
    return [
        Photo(render_photo(images[i], seed + i, clutter), int(labels[i]))
        for i in range(min(count, len(images)))
    ]
