"""Finding the digit among the ink: specks of dirt and clutter along the edges are dropped.

The ink is split into connected pieces on a small copy of the image. Clutter is a piece that
lies along one edge (a ruled line, the shadow of a page's edge) or rings the whole picture (a
dark frame); it is dropped only when a piece that is not clutter remains, so that a tightly
cropped digit that touches the edges is never lost. Of the rest, the largest piece is the digit;
other pieces stay if they are large, or small but near it (the dot-like end of a broken
stroke); far, small ones are specks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

SMALL_SIDE = 128  # pieces are found on a copy at most this large
INK = 0.15  # what counts as ink on that copy
EDGE_BAND = 0.12  # clutter lies within this fraction of the side from an edge...
EDGE_LENGTH = 0.3  # ...and runs along it for at least this fraction
LARGE = 0.2  # a piece with this share of the digit's ink is part of it wherever it is
NEAR = 0.3  # a smaller one is part of it within this fraction of the digit's size


@dataclass
class Piece:
    label: int
    top: int
    left: int
    bottom: int  # inclusive
    right: int  # inclusive
    pixels: int
    mass: float = 0.0  # the sum of its ink
    inside: float = 0.0  # the part of that ink away from the edges (the middle 60%)


def _label(mask: np.ndarray) -> tuple[np.ndarray, list[Piece]]:
    """8-connected pieces of a boolean mask, by flood fill (small masks only)."""
    height, width = mask.shape
    inside = mask.tolist()
    labels = [[0] * width for _ in range(height)]
    pieces = []
    for row, col in zip(*np.nonzero(mask), strict=True):
        if labels[row][col]:
            continue
        label = len(pieces) + 1
        labels[row][col] = label
        stack, members = [(int(row), int(col))], []
        while stack:
            r, c = stack.pop()
            members.append((r, c))
            for rr in (r - 1, r, r + 1):
                for cc in (c - 1, c, c + 1):
                    if 0 <= rr < height and 0 <= cc < width and inside[rr][cc]:
                        if not labels[rr][cc]:
                            labels[rr][cc] = label
                            stack.append((rr, cc))
        rs = [m[0] for m in members]
        cs = [m[1] for m in members]
        pieces.append(Piece(label, min(rs), min(cs), max(rs), max(cs), len(members)))
    return np.array(labels, dtype=np.int32).reshape(height, width), pieces


def _is_clutter(piece: Piece, height: int, width: int) -> bool:
    tall = piece.bottom - piece.top + 1
    wide = piece.right - piece.left + 1
    band_rows, band_cols = EDGE_BAND * height, EDGE_BAND * width
    along_top = piece.top == 0 and piece.bottom < band_rows
    along_bottom = piece.bottom == height - 1 and piece.top >= height - band_rows
    along_left = piece.left == 0 and piece.right < band_cols
    along_right = piece.right == width - 1 and piece.left >= width - band_cols
    if (along_top or along_bottom) and wide >= EDGE_LENGTH * width:
        return True
    if (along_left or along_right) and tall >= EDGE_LENGTH * height:
        return True
    rings = tall == height and wide == width and piece.pixels < 0.35 * height * width
    return rings and piece.inside < 0.1 * piece.mass


def _gap(a: Piece, b: Piece) -> int:
    rows = max(0, max(a.top, b.top) - min(a.bottom, b.bottom))
    cols = max(0, max(a.left, b.left) - min(a.right, b.right))
    return max(rows, cols)


def _chosen(pieces: list[Piece], height: int, width: int) -> list[Piece]:
    digits = [p for p in pieces if not _is_clutter(p, height, width)] or pieces
    main = max(digits, key=lambda p: p.mass)
    size = max(main.bottom - main.top, main.right - main.left) + 1
    return [p for p in digits if p.mass >= LARGE * main.mass or _gap(p, main) <= NEAR * size]


def small_copy(ink: np.ndarray) -> np.ndarray:
    """The ink shrunk (by averaging) to at most SMALL_SIDE a side, where pieces are found."""
    height, width = ink.shape
    scale = min(1.0, SMALL_SIDE / max(height, width))
    small_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(
        Image.fromarray(ink, mode="F").resize(small_size, Image.Resampling.BOX), dtype=np.float32
    )


def keep_digit(ink: np.ndarray) -> np.ndarray:
    """The ink (bright on black) with everything that is not the digit set to zero."""
    height, width = ink.shape
    small = small_copy(ink)
    labels, pieces = _label(small > INK)
    if len(pieces) <= 1:
        return ink
    rows, cols = small.shape
    middle = (slice(rows // 5, rows - rows // 5), slice(cols // 5, cols - cols // 5))
    masses = np.bincount(labels.ravel(), weights=small.ravel(), minlength=len(pieces) + 1)
    inside = np.bincount(
        labels[middle].ravel(), weights=small[middle].ravel(), minlength=len(pieces) + 1
    )
    for piece in pieces:
        piece.mass = float(masses[piece.label])
        piece.inside = float(inside[piece.label])
    kept = np.zeros(len(pieces) + 1, dtype=bool)
    for piece in _chosen(pieces, rows, cols):
        kept[piece.label] = True
    keep = kept[labels]
    # One pixel of margin on the small copy, so that the digit's faint edges survive the upscale.
    padded = np.pad(keep, 1)
    grown = np.zeros_like(keep)
    for i in range(3):
        for j in range(3):
            grown |= padded[i : i + rows, j : j + cols]
    mask = Image.fromarray(grown.astype(np.uint8) * 255).resize((width, height), Image.NEAREST)
    return ink * (np.asarray(mask) > 0)
