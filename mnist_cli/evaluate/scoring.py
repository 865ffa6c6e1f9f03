"""Scoring a model on a labelled split: during training (each epoch's test pass) and for
`mnist evaluate`, which scores one model or an ensemble on the test set with the probabilities
it shows (temperatures applied), their calibration, and the most confident mistakes with their
images. A model is a checkpoint or its ONNX export (inference/); an export imports no torch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mnist_cli.data.store import LabelledImages, get_dataset, load_split_arrays
from mnist_cli.evaluate.calibration import Calibration, calibration
from mnist_cli.evaluate.metrics import Metrics, Mistake, score, worst_mistakes
from mnist_cli.inference.ensemble import log_probabilities, probabilities
from mnist_cli.inference.loader import classifiers_of

if TYPE_CHECKING:
    from torch import nn

    from mnist_cli.checkpoint.read import Checkpoint
    from mnist_cli.inference.card import Classifier


def evaluate(model: nn.Module, split: LabelledImages, num_classes: int) -> Metrics:
    """Score `model` on a split already normalised and on the model's device."""
    from mnist_cli.inference.torch_model import predict_logits

    return score(predict_logits(model, split.images), split.labels, num_classes)


@dataclass(frozen=True)
class Evaluation:
    """Scores on a test split (of the probabilities shown: temperatures applied, an ensemble's
    averaged), their calibration, and, if asked for, the most confident mistakes with their
    images."""

    metrics: Metrics
    calibration: Calibration
    mistakes: list[Mistake]
    images: list[np.ndarray]  # uint8 [28, 28], one per mistake


def evaluate_checkpoints(models: list[Classifier], data_dir: Path, mistakes: int = 0) -> Evaluation:
    """Score loaded models of one dataset (ensemble.check_ensemble), as one model, on its test
    split, keeping up to `mistakes` of the surest wrong answers."""
    first = models[0]
    images, labels = load_split_arrays(get_dataset(first.dataset), data_dir, "test")
    shown, plain = probabilities(models, images)
    log_shown = log_probabilities(shown)
    metrics = score(log_shown, labels, len(first.class_names))
    worst = worst_mistakes(log_shown, labels, mistakes) if mistakes > 0 else []
    return Evaluation(
        metrics, calibration(shown, plain, labels), worst, [images[m.index] for m in worst]
    )


def evaluate_checkpoint(
    model: Classifier | Checkpoint, data_dir: Path, mistakes: int = 0
) -> Evaluation:
    """Score one loaded model (or checkpoint) on the test split of the dataset it was trained
    on."""
    return evaluate_checkpoints(classifiers_of(model), data_dir, mistakes)
