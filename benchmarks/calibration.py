"""Calibration of checkpoints on the real MNIST test set: the plain softmax (the baseline) against
the probabilities `mnist` shows (each checkpoint's temperature, fitted on its validation split),
and, given several checkpoints, their ensemble.

    python -m benchmarks.calibration ckpt.pt --data-dir data
    python -m benchmarks.calibration seed0.pt seed1.pt seed2.pt --data-dir data

Prints, per row: accuracy, expected calibration error (15 bins), negative log-likelihood, and the
median top probability of the digits read right, with the targets of issue 15 (ECE <= 1.0%,
median top probability >= 99%). Nothing here looks at the test set to choose anything.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mnist_cli.data.catalog import MNIST
from mnist_cli.data.store import load_split_arrays
from mnist_cli.evaluate.calibration import expected_calibration_error, nll
from mnist_cli.inference.ensemble import check_ensemble, probabilities
from mnist_cli.inference.loader import open_classifier

ECE_TARGET = 0.010
MEDIAN_TARGET = 0.99


def figures(shown: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    confidence, predicted = shown.max(1), shown.argmax(1)
    right = predicted == labels
    return {
        "accuracy": float(right.mean()),
        "ece": expected_calibration_error(shown, labels),
        "nll": nll(shown, labels),
        "median": float(np.median(confidence[right])),
    }


def row(name: str, values: dict[str, float], baseline: dict[str, float] | None) -> str:
    text = (
        f"{name:<40} {100 * values['accuracy']:7.2f}% {100 * values['ece']:7.3f}% "
        f"{values['nll']:8.4f} {100 * values['median']:9.3f}%"
    )
    if baseline:
        ece, loss = values["ece"] / baseline["ece"], values["nll"] / baseline["nll"]
        text += f"   ECE x{ece:.3f}, NLL x{loss:.3f}"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    arguments = parser.parse_args()
    loaded = [open_classifier(path) for path in arguments.checkpoints]
    check_ensemble(loaded, arguments.checkpoints)
    images, labels = load_split_arrays(MNIST, arguments.data_dir, "test")
    print(f"{'':<40} {'accuracy':>8} {'ECE':>8} {'NLL':>8} {'median top':>10}")
    for path, checkpoint in zip(arguments.checkpoints, loaded, strict=True):
        shown, plain = probabilities([checkpoint], images)
        baseline = figures(plain, labels)
        print(row(f"{path}: plain softmax (baseline)", baseline, None))
        name = f"{path}: temperature {checkpoint.temperature:.3f}"
        print(row(name, figures(shown, labels), baseline))
    if len(loaded) > 1:
        shown, plain = probabilities(loaded, images)
        baseline = figures(plain, labels)
        print(row(f"ensemble of {len(loaded)}: plain softmax", baseline, None))
        print(row(f"ensemble of {len(loaded)}: calibrated", figures(shown, labels), baseline))
    print(
        f"targets: ECE <= {100 * ECE_TARGET:.1f}%, median top probability of right answers"
        f" >= {100 * MEDIAN_TARGET:.0f}%"
    )


if __name__ == "__main__":
    main()
