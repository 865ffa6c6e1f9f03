"""Scoring a model on a labelled split: during training (each epoch's test pass) and for
`mnist evaluate`, which also keeps the most confident mistakes with their images."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from mnist_cli.checkpoint import Checkpoint
from mnist_cli.data.store import LabelledImages, get_dataset, load_split, normalise
from mnist_cli.evaluate.metrics import Metrics, Mistake, score, worst_mistakes
from mnist_cli.models import predict_logits


def evaluate(model: nn.Module, split: LabelledImages, num_classes: int) -> Metrics:
    """Score `model` on a split already normalised and on the model's device."""
    return score(predict_logits(model, split.images), split.labels, num_classes)


@dataclass(frozen=True)
class Evaluation:
    """A checkpoint's scores on a test split and, if asked for, its most confident mistakes with
    their images."""

    metrics: Metrics
    mistakes: list[Mistake]
    images: list[torch.Tensor]  # uint8 [28, 28] on the CPU, one per mistake


def evaluate_checkpoint(checkpoint: Checkpoint, data_dir: Path, mistakes: int = 0) -> Evaluation:
    """Score a loaded checkpoint on the test split of the dataset it was trained on, keeping up
    to `mistakes` of its most confident wrong answers."""
    device = next(checkpoint.model.parameters()).device
    images, labels = load_split(get_dataset(checkpoint.dataset), data_dir, "test")
    inputs = normalise(images, checkpoint.mean, checkpoint.std, device)
    logits = predict_logits(checkpoint.model, inputs)
    metrics = score(logits, labels, len(checkpoint.class_names))
    worst = worst_mistakes(logits, labels, mistakes) if mistakes > 0 else []
    return Evaluation(metrics, worst, [images[m.index] for m in worst])
