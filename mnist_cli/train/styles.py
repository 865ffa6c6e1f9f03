"""Handwriting that MNIST hardly has, added to the training images. Its writers closed few 4s:
a 4 whose two strokes meet at the top (a triangle) is read as a 9 by a model that never saw one
(docs/photos.md#handwriting-styles). `with_closed_fours` adds a copy of the training 4s whose
crossbar passes the stem (closed, any other 4 is a 9) with the tops of their two strokes joined
by a pen line, labelled 4. Done once, when the data is loaded, on uint8 tensors with batched
operations (no loop over images); which 4s and how each line leans come from the run's seed, so
a run repeats."""

from __future__ import annotations

import torch

from mnist_cli.data.catalog import DIGITS

INK = 128  # a pixel darker than this (of 255) is ink
PEN = (1.6, 2.8)  # the joining line's width in pixels, drawn at random from this range (MNIST's
# median stroke is about 2.2)
LEAN = 1.0  # each end of the line moves up to this many pixels up or down, at random
SIZE = 28
BAR = 2  # a 4 is closed only if its crossbar passes its stem by this many pixels: closed, a 4
# without that is a 9 (about a third of MNIST's training 4s pass, and 7% of its 9s would)
STEM_ROWS = (3, 7)  # the stem's edge is read this many rows below the crossbar


def _span(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The first and last index where `mask` (bool [..., L]) is true along its last axis; L and
    -1 where it never is."""
    length = mask.shape[-1]
    index = torch.arange(length)
    return (
        torch.where(mask, index, length).min(-1).values,
        torch.where(mask, index, -1).max(-1).values,
    )


def _top_points(ink: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For each image of `ink` (bool [N, H, W]): the top-most ink pixel (then the left-most of
    those) in the left half of its ink's columns and in the right half, as (left [N, 2],
    right [N, 2], found [N]); points are (x, y)."""
    count, height, width = ink.shape
    columns = torch.arange(width).expand(count, height, width)
    rows = torch.arange(height).view(1, height, 1).expand(count, height, width)
    first, last = _span(ink.any(1))  # the columns holding ink
    middle = ((first + last) / 2).view(-1, 1, 1)
    order = (rows * width + columns).flatten(1)  # row-major: the top-most, then the left-most
    never = height * width
    points = []
    for side in (ink & (columns < middle), ink & (columns >= middle)):
        index = torch.where(side.flatten(1), order, never).min(1).values
        points.append((index.clamp(max=never - 1), index < never))
    (left, left_found), (right, right_found) = points
    as_xy = lambda index: torch.stack([index % width, index // width], 1).float()  # noqa: E731
    return as_xy(left), as_xy(right), left_found & right_found


def _line(start: torch.Tensor, end: torch.Tensor, pen: torch.Tensor) -> torch.Tensor:
    """Anti-aliased pen lines with round ends, one per image: float [N, 28, 28] in [0, 1].
    `start`, `end` [N, 2] are (x, y) pixel centres, `pen` [N] the widths in pixels."""
    grid = torch.arange(SIZE, dtype=torch.float32)
    pixel = torch.stack(torch.meshgrid(grid, grid, indexing="xy"), -1).view(1, SIZE, SIZE, 2)
    a, b = start.view(-1, 1, 1, 2), end.view(-1, 1, 1, 2)
    along = b - a
    length = (along * along).sum(-1, keepdim=True).clamp(min=1e-6)
    t = (((pixel - a) * along).sum(-1, keepdim=True) / length).clamp(0, 1)
    distance = (pixel - (a + t * along)).norm(dim=-1)
    return (pen.view(-1, 1, 1) / 2 + 0.5 - distance).clamp(0, 1)


def bar_passes_stem(images: torch.Tensor) -> torch.Tensor:
    """For each 4 (uint8 [N, 28, 28]): whether its crossbar reaches at least BAR pixels past the
    right edge of its stem, as in most written 4s and few 9s. The crossbar is the widest row of
    ink; the stem's edge is read a few rows below it and carried up along the stem's slant, so a
    slanted 4 is judged as an upright one."""
    ink = images > INK
    count, height, _ = ink.shape
    first, last = _span(ink)  # [N, H]: each row's first and last ink
    bar = torch.where(last >= 0, last - first, -1).argmax(1)
    near, far = ((bar + offset).clamp(max=height - 1) for offset in STEM_ROWS)
    image = torch.arange(count)
    edge_near, edge_far = last[image, near].float(), last[image, far].float()
    slant = (edge_near - edge_far) * STEM_ROWS[0] / (STEM_ROWS[1] - STEM_ROWS[0])
    reached = last[image, bar] >= edge_near + slant + BAR
    return (edge_near >= 0) & (edge_far >= 0) & reached


def close_tops(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Copies of 4s (uint8 [N, 28, 28], white on black) with the tops of their two strokes joined
    by a pen line. An image without ink on both sides comes back unchanged."""
    if len(images) == 0:
        return images.clone()
    left, right, found = _top_points(images > INK)
    noise = torch.rand(len(images), 3, generator=generator)
    pen = PEN[0] + noise[:, 0] * (PEN[1] - PEN[0])
    left[:, 1] += (noise[:, 1] * 2 - 1) * LEAN
    right[:, 1] += (noise[:, 2] * 2 - 1) * LEAN
    stroke = (_line(left, right, pen) * 255).round().to(torch.uint8)
    stroke[~found] = 0
    return torch.maximum(images, stroke)


def four_of(class_names: tuple[str, ...]) -> int | None:
    """The class of the digit 4 in a dataset of digits; None in any other dataset."""
    return class_names.index("four") if class_names == DIGITS else None


def with_closed_fours(
    images: torch.Tensor, labels: torch.Tensor, share: float, seed: int, four: int | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The training images and labels with closed-top copies of `share` of the images labelled
    `four` whose crossbar passes the stem appended (None, or a share of 0: unchanged). The copies
    are chosen by `seed` with a generator of their own, so the rest of the run draws the same
    numbers with or without them."""
    if four is None or share <= 0:
        return images, labels
    generator = torch.Generator().manual_seed(seed)
    fours = (labels == four).nonzero().flatten()
    fours = fours[bar_passes_stem(images[fours].cpu()).to(fours.device)]
    chosen = fours[torch.randperm(len(fours), generator=generator)[: round(share * len(fours))]]
    closed = close_tops(images[chosen].cpu(), generator).to(images.device)
    return torch.cat([images, closed]), torch.cat([labels, labels[chosen]])
