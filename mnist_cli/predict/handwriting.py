"""MNIST-style preprocessing: any photo or drawing of a digit -> the 28x28 input the model expects.

MNIST digits are white ink on black, the ink fitted into a 20x20 box keeping its aspect ratio and
placed in a 28x28 field by its centre of mass. `to_mnist` does the same to a user's image:
greyscale, ink polarity, background levelling (uneven light, grey paper, faint pencil), ruled
lines under the digit wiped (ruled.py), crop to the digit (specks and edge clutter dropped, see
digit.py), stroke thickening, fit, centre.
Photos of articles are prepared as Fashion-MNIST's were instead: fashion.py.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from mnist_cli.predict.digit import keep_digit
from mnist_cli.predict.read import SIDE, resize, to_grey
from mnist_cli.predict.ruled import wipe_ruled_lines

BOX = 20
WORK_SIDE = 512  # larger images are shrunk to this first: plenty for a 20x20 result, and fast
BLOCKS = 12  # the paper's brightness is estimated on a grid of BLOCKS x BLOCKS
MIN_CONTRAST = 0.06  # ink fainter than this against its paper is a blank page
FINE = 3  # strokes are measured and thickened at FINE times the 20x20 box
STROKE = 2.2  # the median MNIST stroke width, in pixels of the 20x20 box (1.5 is thin)
SOLID = 0.1  # levelled ink at least this bright is the digit; fainter, the halo of blur and noise


def _shrink(grey: np.ndarray) -> np.ndarray:
    height, width = grey.shape
    scale = WORK_SIDE / max(height, width)
    if scale >= 1:
        return grey
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return resize(grey, *size, method=Image.Resampling.BOX)


def _block_medians(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row centres, column centres, medians) of the blocks of a BLOCKS x BLOCKS grid."""
    height, width = ink.shape
    rows = np.array_split(np.arange(height), min(BLOCKS, height))
    cols = np.array_split(np.arange(width), min(BLOCKS, width))
    medians = [[np.median(ink[r[0] : r[-1] + 1, c[0] : c[-1] + 1]) for c in cols] for r in rows]
    centres_r = np.array([r.mean() for r in rows]) / height
    centres_c = np.array([c.mean() for c in cols]) / width
    grid_r, grid_c = np.meshgrid(centres_r, centres_c, indexing="ij")
    return grid_r.ravel(), grid_c.ravel(), np.array(medians).ravel()


def _quadratic(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    return np.stack([np.ones_like(rows), rows, cols, rows * rows, rows * cols, cols * cols], 1)


def _background(grey: np.ndarray, ink_is_bright: bool | None) -> np.ndarray:
    """The level of the paper at every pixel: a smooth quadratic surface, which takes a gradient
    of light and a vignette, fitted to the medians of a grid of blocks. Blocks that the fit
    leaves far off on the ink's side (either side if that is not known yet) are full of ink;
    they are left out and it is fitted again."""
    rows, cols, medians = _block_medians(grey)
    terms = _quadratic(rows, cols)
    used = np.ones(len(medians), dtype=bool)
    for _ in range(3):
        if used.sum() < terms.shape[1]:
            break
        weights, *_ = np.linalg.lstsq(terms[used], medians[used], rcond=None)
        residual = medians - terms @ weights
        spread = max(float(np.median(np.abs(residual[used]))), 1e-3)
        if ink_is_bright is None:
            residual = np.abs(residual)
        used = (residual if ink_is_bright in (True, None) else -residual) < 3 * spread
    else:
        height, width = grey.shape
        r = (np.arange(height, dtype=np.float32) / height)[:, None]
        c = (np.arange(width, dtype=np.float32) / width)[None, :]
        w = weights.astype(np.float32)
        return w[0] + w[1] * r + w[2] * c + w[3] * r * r + w[4] * r * c + w[5] * c * c
    return np.full(grey.shape, float(np.median(grey)), dtype=np.float32)


def _light_paper(grey: np.ndarray) -> bool:
    """Dark ink on light paper? Ink is the minority: if the median pixel is clearly nearer one
    end of the range, that end is the paper. Otherwise (a strong gradient of light spreads the
    paper over the range) compare how far the darkest and the brightest pixels stand out from
    the paper's own smooth level, on a small copy."""
    low, median, high = np.percentile(grey, [0.2, 50, 99.8])
    if abs(median - (low + high) / 2) > 0.25 * (high - low):
        return bool(median > (low + high) / 2)
    height, width = grey.shape
    scale = min(1.0, 128 / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = resize(grey, *size, Image.Resampling.BOX)
    residual = small - _background(small, ink_is_bright=None)
    darkest, brightest = np.percentile(residual, [0.5, 99.5])
    return bool(-darkest > brightest)


def _blur(values: np.ndarray, radius: int) -> np.ndarray:
    """Two passes of a (2 * radius + 1)-wide box blur along each axis: close to a Gaussian."""
    if radius < 1:
        return values
    width = 2 * radius + 1
    for axis in (0, 1, 0, 1):
        pad = [(radius, radius) if a == axis else (0, 0) for a in (0, 1)]
        sums = np.cumsum(np.pad(values, pad, mode="edge"), axis=axis, dtype=np.float64)
        sums = np.concatenate([np.zeros_like(sums.take([0], axis=axis)), sums], axis=axis)
        size = values.shape[axis]
        upper = sums.take(np.arange(width, width + size), axis=axis)
        lower = sums.take(np.arange(size), axis=axis)
        values = ((upper - lower) / width).astype(np.float32)
    return values


def level(grey: np.ndarray) -> np.ndarray | None:
    """Bright ink on a black background, strongest strokes at 1; None for a blank page."""
    ink = 1.0 - grey if _light_paper(grey) else grey
    background = _background(ink, ink_is_bright=True)
    # As a fraction of the paper's own brightness: a shadowed corner's ink counts as much as ink
    # in full light.
    levelled = np.clip((ink - background) / np.maximum(1.0 - background, 0.05), 0.0, 1.0)
    levelled = _blur(levelled, round(max(grey.shape) / 250))  # noise, not strokes, at that size
    strength = float(np.percentile(levelled, 99.7))
    if strength < MIN_CONTRAST:
        return None
    deviation = float(np.median(np.abs(levelled - np.median(levelled))))
    floor = max(float(np.median(levelled)) + 6 * 1.4826 * deviation, 0.2 * strength)
    if floor >= strength:
        return None
    return np.clip((levelled - floor) / (strength - floor), 0.0, 1.0).astype(np.float32)


def _stroke_width(ink: np.ndarray) -> float:
    """Mean stroke width in pixels: twice the area over the outline's length."""
    solid = np.pad(ink > 0.4, 1)  # the edges of the crop are outline too
    area = int(solid.sum())
    outline = int((solid[1:] != solid[:-1]).sum() + (solid[:, 1:] != solid[:, :-1]).sum())
    return 2 * area / outline if outline else 0.0


def fit(ink: np.ndarray) -> np.ndarray:
    """The ink, cropped, scaled so that its longer side is BOX, thin strokes thickened. The ink
    holds some SOLID ink (to_mnist sees to it): the crop is to that."""
    solid = ink > SOLID  # not the faint halo of blur and noise
    rows = np.flatnonzero(solid.any(axis=1))
    cols = np.flatnonzero(solid.any(axis=0))
    ink = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    height, width = ink.shape
    scale = BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    fine = resize(ink, size[0] * FINE, size[1] * FINE)
    missing = STROKE * FINE - _stroke_width(fine)
    if missing >= 2.5:  # a pen on a big page: MNIST strokes are thicker
        reach = min(round(missing / 2), FINE)
        fine = np.pad(fine, reach)  # room to grow, or a one-pixel-wide "1" could not
        fine = np.asarray(
            Image.fromarray(fine, mode="F").filter(ImageFilter.MaxFilter(2 * reach + 1))
        )
        size = (round(fine.shape[1] / FINE), round(fine.shape[0] / FINE))
    fitted = resize(fine, *size, method=Image.Resampling.BOX)
    top = float(fitted.max())
    return fitted / top if top > 0 else fitted


def centre_by_mass(box: np.ndarray) -> np.ndarray:
    """Place the fitted ink in a 28x28 field so that its centre of mass is at the centre."""
    field = np.zeros((SIDE, SIDE), dtype=np.float32)
    height, width = box.shape
    total = float(box.sum())
    rows, cols = np.indices(box.shape)
    centre_row = float((rows * box).sum() / total) if total else (height - 1) / 2
    centre_col = float((cols * box).sum() / total) if total else (width - 1) / 2
    top = int(round((SIDE - 1) / 2 - centre_row))
    left = int(round((SIDE - 1) / 2 - centre_col))
    top = min(max(top, 0), SIDE - height)
    left = min(max(left, 0), SIDE - width)
    field[top : top + height, left : left + width] = box
    return field


def to_mnist(image: Image.Image, preprocess: bool = True) -> np.ndarray:
    """A 28x28 float32 array in [0, 1], white ink on black, as the model was trained on.

    preprocess=False only converts to grey and resizes, for images that are already MNIST-like.
    """
    grey = to_grey(image)
    if not preprocess:
        return grey if grey.shape == (SIDE, SIDE) else resize(grey, SIDE, SIDE)
    ink = level(_shrink(grey))
    if ink is None:
        return np.zeros((SIDE, SIDE), dtype=np.float32)  # a blank page: nothing to centre
    ink = keep_digit(_without_ruled_lines(ink))
    if not (ink > SOLID).any():  # what fit crops to: only a faint halo is a blank page too
        return np.zeros((SIDE, SIDE), dtype=np.float32)
    return centre_by_mass(fit(ink))


def _without_ruled_lines(ink: np.ndarray) -> np.ndarray:
    """The ink with ruled lines wiped (ruled.py), unless the wipe would leave no solid ink: what
    looked like a line was then the picture itself, a wide and flat shape (a shoe, a bar) whose
    every row spans the page, and it stays."""
    wiped = wipe_ruled_lines(ink)
    return wiped if (wiped > SOLID).any() else ink
