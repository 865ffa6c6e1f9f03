"""Accuracy of a checkpoint on synthetic phone photos of real MNIST test digits: our
preprocessing against a plain resize to 28x28 (as most tutorials do), and a plain resize of the
inverted photo (the fairest plain baseline: it at least gets the ink white).

    python -m benchmarks.photo_accuracy --checkpoint ckpt.pt --data-dir data --count 1000

Prints a table; `--clutter` adds specks and a dark band along one edge; `--save DIR` writes the
photos as JPEG to look at.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.photos import Photo, photo_set
from mnist_cli.checkpoint.read import Checkpoint, load_checkpoint
from mnist_cli.data.catalog import MNIST
from mnist_cli.data.store import load_split, normalise
from mnist_cli.inference.torch_model import predict_logits
from mnist_cli.predict.handwriting import to_mnist
from mnist_cli.predict.read import read_image

METHODS = {
    "preprocessing (mnist predict)": lambda image: to_mnist(image),
    "plain resize to 28x28 (--no-preprocess)": lambda image: to_mnist(image, preprocess=False),
    "plain resize of the inverted photo": lambda image: 1.0 - to_mnist(image, preprocess=False),
}


def accuracy(checkpoint: Checkpoint, photos: list[Photo], method) -> tuple[float, float]:
    """(fraction right, seconds per photo for decoding and preparing)."""
    start = time.perf_counter()
    pixels = np.stack([method(read_image(photo.data)) for photo in photos])
    seconds = (time.perf_counter() - start) / len(photos)
    inputs = normalise(torch.from_numpy(pixels), checkpoint.mean, checkpoint.std)
    predicted = predict_logits(checkpoint.model, inputs).argmax(1)
    labels = torch.tensor([photo.label for photo in photos])
    return float((predicted == labels).float().mean()), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=Path("ckpt.pt"))
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clutter", action="store_true")
    parser.add_argument("--save", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    checkpoint = load_checkpoint(args.checkpoint, torch.device("cpu"))
    images, labels = load_split(MNIST, args.data_dir, "test")
    photos = photo_set(images.numpy(), labels.numpy(), args.count, args.seed, args.clutter)
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
        for index, photo in enumerate(photos):
            (args.save / f"{index:05d}-{photo.label}.jpg").write_bytes(photo.data)
    kind = "with clutter" if args.clutter else "clean"
    print(f"{len(photos)} synthetic photos ({kind}, seed {args.seed}) of MNIST test digits,")
    print(f"checkpoint {args.checkpoint} ({checkpoint.model_name})")
    print(f"{'method':<42}{'accuracy':>10}{'ms/photo':>10}")
    for name, method in METHODS.items():
        right, seconds = accuracy(checkpoint, photos, method)
        print(f"{name:<42}{100 * right:>9.2f}%{1000 * seconds:>10.1f}")


if __name__ == "__main__":
    main()
