"""The model that answers `predict` and `evaluate`: a torch checkpoint or its ONNX export behind one
small interface (images in, logits out), the one softmax that turns logits into probabilities,
and the choice between the two. Importing this module imports no torch."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from mnist_cli.checkpoint.read import Checkpoint

ONNX_SUFFIX = ".onnx"


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
    """What predict and evaluate need of a model, whichever runtime runs it."""

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


@dataclass(frozen=True)
class TorchClassifier(ModelCard):
    """A loaded checkpoint, run with torch on the device it was loaded to."""

    checkpoint: Checkpoint | None = field(default=None, repr=False)
    runtime: str = "torch"

    @classmethod
    def of(cls, checkpoint: Checkpoint) -> TorchClassifier:
        return cls(**card_of(checkpoint), checkpoint=checkpoint)

    def logits(self, pixels: np.ndarray) -> np.ndarray:
        import torch

        from mnist_cli.data.store import normalise
        from mnist_cli.models import predict_logits

        device = next(self.checkpoint.model.parameters()).device
        inputs = normalise(torch.from_numpy(pixels), self.mean, self.std, device)
        return predict_logits(self.checkpoint.model, inputs).float().cpu().numpy()


def classifiers_of(models: Any) -> list[Classifier]:
    """A Classifier, a loaded Checkpoint, or a sequence of either -> a list of Classifiers (a
    Checkpoint is wrapped in a TorchClassifier)."""
    members = list(models) if isinstance(models, list | tuple) else [models]
    return [m if hasattr(m, "logits") else TorchClassifier.of(m) for m in members]


def is_export(path: Path) -> bool:
    """Whether `path` names an ONNX export (by its suffix) rather than a torch checkpoint."""
    return Path(path).suffix.lower() == ONNX_SUFFIX


def open_classifier(path: Path, device: str = "cpu", use_export_beside: bool = False) -> Classifier:
    """The model at `path`: an ONNX file on onnxruntime, else the checkpoint on torch (`device`
    is resolved only then). With `use_export_beside`, a checkpoint's own verified export
    (`ckpt.onnx` beside `ckpt.pt`, made from exactly that file) answers instead, without torch."""
    from mnist_cli.export.runtime import load_onnx, matching_export

    if is_export(path):
        return load_onnx(path)
    if use_export_beside and (export := matching_export(path)) is not None:
        return export
    from mnist_cli.checkpoint.read import load_checkpoint
    from mnist_cli.train.runtime import resolve_device

    return TorchClassifier.of(load_checkpoint(path, resolve_device(device)))
