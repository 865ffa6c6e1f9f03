"""Real MNIST test digits rendered as a phone would see them: dark ink on light, unevenly lit
paper, enlarged to a few hundred pixels, off-centre, with noise, blur and JPEG compression.

`render_photo` is deterministic for a given seed; `photo_set` makes a labelled set from the real
test split. Used by benchmarks/photo_accuracy.py and by tests/test_photos.py.
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


def _ink(digit: np.ndarray, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """The 28x28 digit enlarged so that it spans 30-70% of the shorter side, placed off-centre."""
    side = int(min(height, width) * rng.uniform(0.3, 0.7) * 28 / 20)
    side = min(side, height, width)
    enlarged = Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC)
    top = int(rng.integers(0, height - side + 1))
    left = int(rng.integers(0, width - side + 1))
    ink = np.zeros((height, width), dtype=np.float32)
    ink[top : top + side, left : left + side] = np.asarray(enlarged, dtype=np.float32) / 255
    return np.clip(ink, 0.0, 1.0)


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


def render_photo(digit: np.ndarray, seed: int, clutter: bool = False) -> bytes:
    """A JPEG of one MNIST digit (28x28 uint8, white on black) photographed on paper."""
    rng = np.random.default_rng(seed)
    height, width = (int(v) for v in rng.integers(240, 481, size=2))
    paper = _paper(height, width, rng)
    ink = _ink(digit, height, width, rng)
    if clutter:
        _clutter(ink, rng)
    darkness = rng.uniform(0.35, 0.9)  # 0.35: faint pencil; 0.9: a black pen
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
