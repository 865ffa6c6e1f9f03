"""Accuracy per handwriting style: real MNIST test digits changed into the kinds that real
handwriting is misread in (issue 15), each kind photographed as benchmarks/photos.py does and read
through `mnist predict`'s preprocessing (`to_mnist`).

    python -m benchmarks.handwriting_styles --checkpoint ckpt.pt --data-dir data --count 500

Kinds: a 1 with a long lead-in stroke and a base (European), a 7 with a crossbar, a 4 with its
top closed, thin faint ballpoint strokes with parts missing, a ruled line under the digit, and
plain photos for reference. The first three are also scored as 28x28 images (drawn in MNIST's
format, no photo), which separates the model from the preprocessing. Everything is seeded:
digit i of a kind is changed and photographed with seed + i.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from benchmarks.photos import Pen, render_photo
from mnist_cli.checkpoint.read import Checkpoint, load_checkpoint
from mnist_cli.data.catalog import MNIST
from mnist_cli.data.store import load_split, normalise
from mnist_cli.inference.torch_model import predict_logits
from mnist_cli.predict.handwriting import centre_by_mass, fit, to_mnist
from mnist_cli.predict.read import read_image

UP = 4  # strokes are drawn at 4x and shrunk back, so they are as smooth as MNIST's
STROKE = 2.2  # MNIST's median stroke width at 28x28
Change = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _ink_points(digit: np.ndarray, rows: slice) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) of the ink pixels of `digit` (28x28 uint8) within `rows`."""
    ink = np.zeros_like(digit, dtype=bool)
    ink[rows] = digit[rows] > 128
    return np.nonzero(ink)


def _draw(digit: np.ndarray, lines: list[tuple[float, float, float, float]]) -> np.ndarray:
    """`digit` with pen strokes added, each (x0, y0, x1, y1) in 28x28 pixel coordinates."""
    big = Image.fromarray(digit).resize((28 * UP, 28 * UP), Image.Resampling.BICUBIC)
    pen = Image.new("L", big.size, 0)
    draw = ImageDraw.Draw(pen)
    for x0, y0, x1, y1 in lines:
        points = [(x0 * UP, y0 * UP), (x1 * UP, y1 * UP)]
        draw.line(points, fill=255, width=round(STROKE * UP))
        for x, y in points:  # round ends, as a pen leaves them
            r = STROKE * UP / 2
            draw.ellipse([x - r, y - r, x + r, y + r], fill=255)
    both = np.maximum(np.asarray(big), np.asarray(pen))
    return np.asarray(Image.fromarray(both).resize((28, 28), Image.Resampling.BOX))


def lead_in_one(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A European 1: a long stroke leading down-left from the top, and a base."""
    rows, cols = _ink_points(digit, slice(None))
    top, bottom = rows.min(), rows.max()
    height = bottom - top
    top_x = cols[rows <= top + 1].mean()
    bottom_x = cols[rows >= bottom - 1].mean()
    reach = height * rng.uniform(0.3, 0.45)
    lead = (top_x, top, top_x - reach, top + reach * rng.uniform(0.6, 0.9))
    half = height * rng.uniform(0.2, 0.3)
    base = (bottom_x - half, bottom, bottom_x + half, bottom)
    return _draw(digit, [lead, base])


def crossbar_seven(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 7 with a short bar across its stem, a little below half its height."""
    rows, _ = _ink_points(digit, slice(None))
    top, bottom = rows.min(), rows.max()
    row = int(round(top + (bottom - top) * rng.uniform(0.5, 0.6)))
    _, cols = _ink_points(digit, slice(row, row + 1))
    if not len(cols):
        return digit
    centre = cols.mean()
    half = (bottom - top) * rng.uniform(0.18, 0.25)
    return _draw(digit, [(centre - half, row, centre + half, row)])


def closed_four(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 4 with the tops of its two strokes joined: a closed triangle, easily taken for a 9."""
    rows, cols = _ink_points(digit, slice(None))
    middle = (cols.min() + cols.max()) / 2
    left, right = cols < middle, cols >= middle
    if not left.any() or not right.any():
        return digit
    left_top = np.argmin(np.where(left, rows, 99))
    right_top = np.argmin(np.where(right, rows, 99))
    lean = rng.uniform(-0.5, 0.5)
    line = (cols[left_top], rows[left_top] + lean, cols[right_top], rows[right_top] + lean)
    return _draw(digit, [line])


def unchanged(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return digit


@dataclass(frozen=True)
class Kind:
    name: str
    digits: tuple[int, ...]  # the classes it applies to
    change: Change  # done to the 28x28 digit
    pen: Pen = Pen()  # how the photo is written
    flat: bool = True  # also scored as a 28x28 image (no photo)


KINDS = (
    Kind("plain photo (reference)", tuple(range(10)), unchanged, flat=False),
    Kind("1 with lead-in and base", (1,), lead_in_one),
    Kind("7 with crossbar", (7,), crossbar_seven),
    Kind("4 with closed top", (4,), closed_four),
    Kind("thin faint ballpoint", tuple(range(10)), unchanged, Pen((0.25, 0.5), thin=True), False),
    Kind("ruled line under", tuple(range(10)), unchanged, Pen(ruled=True), flat=False),
)


@dataclass(frozen=True)
class Sample:
    digit: np.ndarray  # the changed 28x28 uint8 digit, white on black
    photo: bytes  # a JPEG of it
    label: int


def style_set(
    kind: Kind, images: np.ndarray, labels: np.ndarray, count: int, seed: int = 0
) -> list[Sample]:
    """The first `count` digits of `kind`'s classes, changed and photographed; sample i seeded
    seed + i."""
    chosen = np.flatnonzero(np.isin(labels, kind.digits))[:count]
    samples = []
    for i, index in enumerate(chosen):
        digit = kind.change(images[index], np.random.default_rng(seed + i))
        photo = render_photo(digit, seed + i, pen=kind.pen)
        samples.append(Sample(digit, photo, int(labels[index])))
    return samples


def as_mnist(digit: np.ndarray) -> np.ndarray:
    """A changed digit refitted the MNIST way (its ink may now reach past the 20x20 box)."""
    return centre_by_mass(fit(digit.astype(np.float32) / 255))


def read(checkpoint: Checkpoint, pixels: np.ndarray) -> np.ndarray:
    """The model's answers for [N, 28, 28] float images in [0, 1]."""
    inputs = normalise(torch.from_numpy(pixels), checkpoint.mean, checkpoint.std)
    return predict_logits(checkpoint.model, inputs).argmax(1).numpy()


def score(checkpoint: Checkpoint, kind: Kind, samples: list[Sample]) -> dict:
    """Accuracy as photos through `to_mnist`, and as 28x28 images where the kind has that."""
    labels = np.array([s.label for s in samples])
    photos = np.stack([to_mnist(read_image(s.photo)) for s in samples])
    answers = read(checkpoint, photos)
    wrong = answers[answers != labels]
    result = {
        "photo": float((answers == labels).mean()),
        "misread_as": int(np.bincount(wrong).argmax()) if len(wrong) else None,
    }
    if kind.flat:
        flat = np.stack([as_mnist(s.digit) for s in samples])
        result["28x28"] = float((read(checkpoint, flat) == labels).mean())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=Path("ckpt.pt"))
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--count", type=int, default=500, help="digits per kind")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", type=Path, help="write each kind's first photos here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    checkpoint = load_checkpoint(args.checkpoint, torch.device("cpu"))
    images, labels = load_split(MNIST, args.data_dir, "test")
    images, labels = images.numpy(), labels.numpy()
    print(f"MNIST test digits changed into handwriting styles, seed {args.seed},")
    print(f"checkpoint {args.checkpoint} ({checkpoint.model_name})")
    print(f"{'kind':<26}{'count':>6}{'28x28':>9}{'photo':>9}  most often misread as")
    for number, kind in enumerate(KINDS):
        samples = style_set(kind, images, labels, args.count, args.seed)
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            for i, sample in enumerate(samples[:20]):
                (args.save / f"{number}-{i:02d}-{sample.label}.jpg").write_bytes(sample.photo)
        result = score(checkpoint, kind, samples)
        flat = f"{100 * result['28x28']:>8.2f}%" if "28x28" in result else f"{'-':>9}"
        misread = "-" if result["misread_as"] is None else str(result["misread_as"])
        print(f"{kind.name:<26}{len(samples):>6}{flat}{100 * result['photo']:>8.2f}%  {misread}")


if __name__ == "__main__":
    main()
