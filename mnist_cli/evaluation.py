"""Inference and scoring, kept apart: `predict_logits` serves training, evaluate and predict."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mnist_cli.metrics import (
    ClassScore,
    Mistake,
    class_scores,
    confusion_matrix,
    wilson_interval,
    worst_mistakes,
)


def to_inputs(images: torch.Tensor, mean: float, std: float, device=None) -> torch.Tensor:
    """uint8 (0-255) or float (0-1) images [N, 28, 28] -> normalised float [N, 1, 28, 28]."""
    images = images.to(device) if device is not None else images
    pixels = images.float() / 255 if images.dtype == torch.uint8 else images.float()
    return ((pixels - mean) / std).unsqueeze(1)


@torch.inference_mode()
def predict_logits(model: nn.Module, inputs: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    """Logits for normalised inputs [N, 1, 28, 28], computed in eval mode in batches."""
    was_training = model.training
    model.eval()
    try:
        return torch.cat(
            [model(inputs[i : i + batch_size]) for i in range(0, len(inputs), batch_size)]
        )
    finally:
        model.train(was_training)


@dataclass(frozen=True)
class Metrics:
    """How a model scores on a labelled set."""

    accuracy: float  # fraction correct, in [0, 1]
    loss: float  # mean cross-entropy
    count: int  # images scored
    correct: int
    confusion: list[list[int]]  # rows are the true classes, columns the predictions
    per_class: list[ClassScore]
    accuracy_interval: tuple[float, float]  # 95% Wilson score interval of the accuracy

    @property
    def per_class_accuracy(self) -> list[float]:
        """The share of each class read right: its recall."""
        return [scores.recall for scores in self.per_class]


def score(logits: torch.Tensor, labels: torch.Tensor, num_classes: int) -> Metrics:
    labels = labels.to(logits.device)
    confusion = confusion_matrix(logits.argmax(1), labels, num_classes)
    correct = int(confusion.trace().item())
    return Metrics(
        accuracy=correct / len(labels),
        loss=F.cross_entropy(logits.float(), labels).item(),
        count=len(labels),
        correct=correct,
        confusion=confusion.tolist(),
        per_class=class_scores(confusion),
        accuracy_interval=wilson_interval(correct, len(labels)),
    )


def evaluate(
    model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, num_classes: int
) -> Metrics:
    return score(predict_logits(model, inputs), labels, num_classes)


def load_inputs(dataset, data_dir, split: str, mean: float, std: float, device):
    """A verified split as (normalised inputs, labels), both already on the device."""
    from mnist_cli.datasets import load_split

    images, labels = load_split(dataset, data_dir, split)
    return to_inputs(images, mean, std, device), labels.to(device)


@dataclass(frozen=True)
class Evaluation:
    """A checkpoint's scores on a test split and, if asked for, its most confident mistakes with
    their images."""

    metrics: Metrics
    mistakes: list[Mistake]
    images: list[torch.Tensor]  # uint8 [28, 28] on the CPU, one per mistake


def evaluate_checkpoint(checkpoint, data_dir, mistakes: int = 0) -> Evaluation:
    """Score a loaded checkpoint on the test split of the dataset it was trained on, keeping up
    to `mistakes` of its most confident wrong answers."""
    from mnist_cli.datasets import get_dataset, load_split

    device = next(checkpoint.model.parameters()).device
    images, labels = load_split(get_dataset(checkpoint.dataset), data_dir, "test")
    inputs = to_inputs(images, checkpoint.mean, checkpoint.std, device)
    logits = predict_logits(checkpoint.model, inputs)
    metrics = score(logits, labels, len(checkpoint.class_names))
    worst = worst_mistakes(logits, labels, mistakes) if mistakes > 0 else []
    return Evaluation(metrics, worst, [images[m.index] for m in worst])
