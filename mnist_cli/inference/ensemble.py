"""Models read together: each model's probabilities, with its own temperature applied
(card.softmax), averaged over the models. Serves `evaluate` and `predict`, for one model
or an ensemble of several trained on the same dataset, whichever runtime runs each member
(a checkpoint on torch, an ONNX export on onnxruntime). numpy only: imports no torch."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mnist_cli.errors import MnistError
from mnist_cli.inference.card import Classifier, ModelCard, softmax


def check_ensemble(models: Sequence[ModelCard | Classifier], paths: Sequence[Path]) -> None:
    """Refuse, in one line, models that do not answer the same question: an ensemble averages
    class by class, so its members must share a dataset (and so its classes)."""
    first, first_path = models[0], paths[0]
    for model, path in zip(models[1:], paths[1:], strict=True):
        if model.dataset == first.dataset and model.class_names != first.class_names:
            raise MnistError(
                f"cannot average {first_path} ({len(first.class_names)} classes) with {path}"
                f" ({len(model.class_names)} classes"
                f"{'' if len(model.class_names) != len(first.class_names) else ', other names'}):"
                " both say they are models of "
                f"{first.dataset}, but an ensemble's members must answer with the same classes"
            )
        if model.dataset != first.dataset:
            raise MnistError(
                f"cannot average {first_path} ({first.dataset}) with {path} "
                f"({model.dataset}): the checkpoints of an ensemble must be trained on "
                "the same dataset"
            )


def describe(paths: Sequence[Path]) -> str:
    """What was asked for, in words: 'a.pt', or 'an ensemble of a.pt, b.pt'."""
    names = ", ".join(str(path) for path in paths)
    return names if len(paths) == 1 else f"an ensemble of {names}"


def probabilities(
    models: Sequence[Classifier], pixels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For images [N, 28, 28] (uint8, or float in [0, 1]): (the calibrated probabilities, each
    model's softmax of logits / temperature, averaged; the same without the temperatures), both
    float64 [N, classes]."""
    calibrated = plain = np.zeros(())
    for model in models:
        logits = model.logits(pixels)
        calibrated = calibrated + softmax(logits, model.temperature)
        plain = plain + softmax(logits)
    return calibrated / len(models), plain / len(models)


def log_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """Their logarithms, which softmax turns back into them: what `score` takes as logits."""
    return np.log(np.maximum(probabilities, 1e-300))
