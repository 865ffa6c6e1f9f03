"""Inference and scoring, kept apart: `predict_logits` serves training, evaluate and predict."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


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
    per_class_accuracy: list[float]  # recall of each class, in [0, 1]
    per_class_count: list[int]


def score(logits: torch.Tensor, labels: torch.Tensor, num_classes: int) -> Metrics:
    labels = labels.to(logits.device)
    loss = F.cross_entropy(logits.float(), labels).item()
    hits = logits.argmax(1) == labels
    per_class_count = torch.bincount(labels, minlength=num_classes)
    per_class_correct = torch.bincount(labels[hits], minlength=num_classes)
    per_class = (per_class_correct / per_class_count.clamp(min=1)).tolist()
    return Metrics(
        accuracy=hits.float().mean().item(),
        loss=loss,
        count=len(labels),
        correct=int(hits.sum().item()),
        per_class_accuracy=per_class,
        per_class_count=per_class_count.tolist(),
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


def evaluate_checkpoint(checkpoint, data_dir) -> Metrics:
    """Score a loaded checkpoint on the test split of the dataset it was trained on."""
    from mnist_cli.datasets import get_dataset

    device = next(checkpoint.model.parameters()).device
    inputs, labels = load_inputs(
        get_dataset(checkpoint.dataset), data_dir, "test", checkpoint.mean, checkpoint.std, device
    )
    return evaluate(checkpoint.model, inputs, labels, len(checkpoint.class_names))
