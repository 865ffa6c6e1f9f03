"""Which runtime answers for a model a user names, on which device: an ONNX file on onnxruntime;
a checkpoint's own verified export (`ckpt.onnx` beside `ckpt.pt`) when asked for, without torch;
else the checkpoint on torch. predict, evaluate and serve all open their models here. Importing
this module imports no torch."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mnist_cli.inference.card import Classifier

if TYPE_CHECKING:
    from mnist_cli.checkpoint.read import Checkpoint

ONNX_SUFFIX = ".onnx"


def is_export(path: Path) -> bool:
    """Whether `path` names an ONNX export (by its suffix) rather than a torch checkpoint."""
    return Path(path).suffix.lower() == ONNX_SUFFIX


def open_classifier(
    path: Path,
    device: str = "cpu",
    use_export_beside: bool = False,
    loaded: Checkpoint | None = None,
) -> Classifier:
    """The model at `path`: an ONNX file on onnxruntime, else the checkpoint on torch (`device`
    is resolved only then). With `use_export_beside`, a checkpoint's own verified export
    (`ckpt.onnx` beside `ckpt.pt`, made from exactly that file) answers instead, without torch.
    `loaded`: the checkpoint at `path`, already read by the caller, so it is not read twice."""
    from mnist_cli.inference.onnx_model import load_onnx, matching_export

    if is_export(path):
        return load_onnx(path)
    if use_export_beside and (export := matching_export(path)) is not None:
        return export
    from mnist_cli.inference.torch_model import TorchClassifier

    if loaded is not None:
        return TorchClassifier.of(loaded)
    from mnist_cli.checkpoint.read import load_checkpoint
    from mnist_cli.inference.device import resolve_device

    return TorchClassifier.of(load_checkpoint(path, resolve_device(device)))


def classifiers_of(models: Any) -> list[Classifier]:
    """A Classifier, a loaded Checkpoint, or a sequence of either -> a list of Classifiers (a
    Checkpoint is wrapped in a TorchClassifier)."""
    members = list(models) if isinstance(models, list | tuple) else [models]
    if all(hasattr(m, "logits") for m in members):
        return members
    from mnist_cli.inference.torch_model import TorchClassifier

    return [m if hasattr(m, "logits") else TorchClassifier.of(m) for m in members]
