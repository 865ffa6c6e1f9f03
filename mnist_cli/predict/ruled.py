"""Ruled lines: a long, thin horizontal line under a digit (lined paper, an underline) is wiped
from the ink before the crop, so that the digit is cropped as if it stood alone.

A line is found on a small copy as a row of ink spanning most of the width (rows are taken three
at a time, so a line tilted by a degree or two still counts). It is wiped only where it cannot be
the digit's own stroke: it must be much longer than the rest of the ink is wide (the base of a 2
or the bar of a tightly cropped 7 is not) and lie under the middle of that ink (the bar of a 7 is
at its top). Where a stroke of the digit crosses the line, the line is left, so the digit is not
cut.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from mnist_cli.predict.digit import small_copy

INK = 0.08  # what counts as ink on the small copy (digit.py's) (a thin line is faint once shrunk)
SPAN = 0.6  # a line runs along at least this fraction of the width...
LONGER = 1.5  # ...and is at least this many times as long as the rest of the ink is wide


def _runs(mask: np.ndarray) -> np.ndarray:
    """For each pixel of a boolean mask, the length of the horizontal run of True holding it."""
    height, width = mask.shape
    padded = np.pad(mask, ((0, 0), (1, 1))).astype(np.int8)
    steps = np.diff(padded, axis=1)  # +1 where a run starts, -1 just after it ends
    lengths = np.zeros(mask.shape, dtype=np.int32)
    for row in np.flatnonzero(mask.any(axis=1)):
        starts = np.flatnonzero(steps[row] == 1)
        ends = np.flatnonzero(steps[row] == -1)
        for start, end in zip(starts, ends, strict=True):
            lengths[row, start:end] = end - start
    return lengths


def _band(mask: np.ndarray) -> np.ndarray:
    """The mask grown by a pixel up and down."""
    grown = mask.copy()
    grown[1:] |= mask[:-1]
    grown[:-1] |= mask[1:]
    return grown


def _wipes(line: np.ndarray, solid: np.ndarray, small: np.ndarray) -> bool:
    """Is this line (a mask on the small copy) a ruled line: much longer than the rest of the ink
    is wide, and under the middle of it?"""
    rest = solid & ~_band(line)
    if not rest.any():
        return False  # nothing but the line: it may be the digit (a 1 lying down)
    cols = np.flatnonzero(rest.any(axis=0))
    line_cols = np.flatnonzero(line.any(axis=0))
    longer = line_cols[-1] - line_cols[0] + 1 >= LONGER * (cols[-1] - cols[0] + 1)
    rows, _ = np.nonzero(rest)
    middle = float(np.average(rows, weights=small[rest]))
    return bool(longer and np.nonzero(line)[0].mean() >= middle)


def _line_mask(small: np.ndarray) -> np.ndarray | None:
    """On the small copy: the band of the ruled lines to wipe, or None if there are none."""
    solid = small > INK
    lines = _band(_runs(_band(solid)) >= SPAN * small.shape[1]) & solid
    wiped = np.zeros_like(solid)
    line_rows = np.flatnonzero(lines.any(axis=1))
    # Rows that touch make one line (a tilted line spreads over a few).
    for group in np.split(line_rows, np.flatnonzero(np.diff(line_rows) > 1) + 1):
        if not len(group):
            continue
        line = np.zeros_like(solid)
        line[group] = lines[group]
        if _wipes(line, solid, small):
            wiped |= line
    return _band(wiped) if wiped.any() else None


def wipe_ruled_lines(ink: np.ndarray) -> np.ndarray:
    """The ink (bright on black, [0, 1]) with ruled lines under the digit set to zero."""
    height, width = ink.shape
    band = _line_mask(small_copy(ink))
    if band is None:
        return ink
    band = np.asarray(Image.fromarray(band).resize((width, height), Image.Resampling.NEAREST))
    # A column where ink goes on just above or below the band is a stroke crossing the line.
    solid = ink > 0.1
    above = np.zeros_like(band)
    above[:-1] = band[1:] & ~band[:-1]  # the pixel just above the band's top
    below = np.zeros_like(band)
    below[1:] = band[:-1] & ~band[1:]  # the pixel just under its bottom
    crossing = ((above | below) & solid).any(axis=0)
    return np.where(band & ~crossing[None, :], 0.0, ink).astype(np.float32)
