"""Scoring a model on a labelled split: during training (each epoch's test pass) and for
`mnist evaluate`, which also keeps the most confident mistakes with their images. `mnist
evaluate` takes a checkpoint or its ONNX export (classifier.py), and imports no torch for an
export."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mnist_cli.data.store import LabelledImages, get_dataset, load_split_arrays
from mnist_cli.evaluate.metrics import Metrics, Mistake, score, worst_mistakes

if TYPE_CHECKING:
    from torch import nn

    from mnist_cli.classifier import Classifier


def evaluate(model: nn.Module, split: LabelledImages, num_classes: int) -> Metrics:
    """Score `model` on a split already normalised and on the model's device."""
    from mnist_cli.models import predict_logits

    return score(predict_logits(model, split.images), split.labels, num_classes)


@dataclass(frozen=True)
class Evaluation:
    """A checkpoint's scores on a test split and, if asked for, its most confident mistakes with
    their images."""

    metrics: Metrics
    mistakes: list[Mistake]
    images: list[np.ndarray]  # uint8 [28, 28], one per mistake


def evaluate_checkpoint(model: Classifier, data_dir: Path, mistakes: int = 0) -> Evaluation:
    """Score a loaded model on the test split of the dataset it was trained on, keeping up
    to `mistakes` of its most confident wrong answers."""
    images, labels = load_split_arrays(get_dataset(model.dataset), data_dir, "test")
    logits = model.logits(images)
    metrics = score(logits, labels, len(model.class_names))
    worst = worst_mistakes(logits, labels, mistakes) if mistakes > 0 else []
    return Evaluation(metrics, worst, [images[m.index] for m in worst])
