"""What every model that answers is, whichever runtime runs it: the model card (what a model says
of itself), the `Classifier` interface (images in, logits out), and the one softmax that turns
logits into the probabilities a user reads. numpy only: imports no torch."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class ModelCard:
    """What a model says of itself, whichever file it came from."""

    model_name: str
    dataset: str  # registry name in data/catalog.py
    class_names: list[str]  # in the order of the logits
    mean: float  # the normalisation the model was trained with
    std: float
    # Divides the logits before the softmax (checkpoint/; fitted on the validation split).
    # 1.0: none fitted, or an export written before calibration.
    temperature: float = 1.0


def card_of(source: Any) -> dict[str, Any]:
    """The ModelCard fields of anything that has them (a Checkpoint, an ExportInfo)."""
    return {name.name: getattr(source, name.name) for name in fields(ModelCard)}


class Classifier(Protocol):
    """What predict, evaluate and serve need of a model, whichever runtime runs it."""

    model_name: str
    dataset: str
    class_names: list[str]
    mean: float
    std: float
    temperature: float
    runtime: str  # "torch" or "onnxruntime"

    def logits(self, pixels: np.ndarray) -> np.ndarray:
        """Images [N, 28, 28] (uint8, or float in [0, 1]) -> float32 logits [N, classes]."""
        ...


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Probabilities [N, classes] from logits, softmax(logits / temperature), in float64: the one
    place either runtime's logits become the probabilities a user reads (ensemble.py)."""
    logits = np.asarray(logits, dtype=np.float64) / temperature
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)
