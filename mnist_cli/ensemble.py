"""Checkpoints read together: each model's probabilities, with its own temperature applied
(checkpoint.py), averaged over the models. Serves `evaluate` and `predict`, for one checkpoint
or an ensemble of several trained on the same dataset."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from mnist_cli.checkpoint import Checkpoint
from mnist_cli.data.store import normalise
from mnist_cli.errors import MnistError
from mnist_cli.models import predict_logits


def check_ensemble(checkpoints: Sequence[Checkpoint], paths: Sequence[Path]) -> None:
    """Refuse, in one line, models that do not answer the same question: an ensemble averages
    class by class, so its members must share a dataset (and so its classes)."""
    first, first_path = checkpoints[0], paths[0]
    for checkpoint, path in zip(checkpoints[1:], paths[1:], strict=True):
        if checkpoint.dataset != first.dataset or checkpoint.class_names != first.class_names:
            raise MnistError(
                f"cannot average {first_path} ({first.dataset}) with {path} "
                f"({checkpoint.dataset}): the checkpoints of an ensemble must be trained on "
                "the same dataset"
            )


def describe(paths: Sequence[Path]) -> str:
    """What was asked for, in words: 'a.pt', or 'an ensemble of a.pt, b.pt'."""
    names = ", ".join(str(path) for path in paths)
    return names if len(paths) == 1 else f"an ensemble of {names}"


@torch.inference_mode()
def probabilities(
    checkpoints: Sequence[Checkpoint], images: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """For images [N, 28, 28] (uint8, or float in [0, 1]): (the calibrated probabilities, each
    model's softmax of logits / temperature, averaged; the same without the temperatures), both
    float64 [N, classes] on the CPU."""
    calibrated = plain = torch.zeros(())
    for checkpoint in checkpoints:
        device = next(checkpoint.model.parameters()).device
        inputs = normalise(images, checkpoint.mean, checkpoint.std, device)
        logits = predict_logits(checkpoint.model, inputs).double().cpu()
        calibrated = calibrated + (logits / checkpoint.temperature).softmax(1)
        plain = plain + logits.softmax(1)
    return calibrated / len(checkpoints), plain / len(checkpoints)


def log_probabilities(probabilities: torch.Tensor) -> torch.Tensor:
    """Their logarithms, which softmax turns back into them: what `score` takes as logits."""
    return probabilities.clamp(min=1e-300).log()
