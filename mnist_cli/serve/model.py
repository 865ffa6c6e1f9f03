"""The model `mnist serve` answers with, and what it says of it, opened without torch wherever
something else can answer: an ONNX export given directly, or the checkpoint's verified
`ckpt.onnx` (inference/onnx_model.py) with `/api/info` read from the checkpoint's header
(serve/header.py); torch loads the checkpoint only when neither can. An image's answer is a row
of `mnist predict --json` with the 28x28 the model saw added."""

from __future__ import annotations

import base64
import importlib.util
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mnist_cli.documents import checkpoint_info, prediction_row
from mnist_cli.errors import ImageError
from mnist_cli.inference.card import Classifier, card_of
from mnist_cli.inference.export_info import ExportInfo
from mnist_cli.inference.loader import is_export, open_classifier
from mnist_cli.predict.pipeline import predict_files
from mnist_cli.predict.sources import Source
from mnist_cli.serve.header import CheckpointFacts, read_facts

TOP_K = 3  # as `mnist predict`'s default


@dataclass(frozen=True)
class ServedModel:
    """The model a server answers with, and what it says of it."""

    checkpoint: Path  # as the user gave it: the rows' `checkpoints`
    classifier: Classifier
    info: dict[str, Any]  # the document `mnist info --json` prints
    # Which runtime answers and why, for the start-up line: "onnxruntime (ckpt.onnx, verified
    # against ckpt.pt)", "torch (no export beside it)".
    answered_by: str

    @classmethod
    def open(cls, path: Path) -> ServedModel:
        """The model at `path` (a checkpoint, or an ONNX export), as predict opens it; a
        CheckpointError if it is not one of ours."""
        path = Path(path)
        if is_export(path):
            return _export_given(path)
        return _verified_export(path) or _on_torch(path)

    def answer(self, name: str, data: bytes) -> dict[str, Any]:
        """The row `mnist predict --json` gives for these bytes, plus `input`; an ImageError
        with predict's one-line reason when they are not an image it can read."""
        (prediction,) = predict_files(self.classifier, [Source(name, data=data)], TOP_K)
        if prediction.error:
            raise ImageError(prediction.error)
        row = prediction_row(prediction, [self.checkpoint])
        return {**row, "input": png_data_url(prediction.pixels)}


def _export_given(path: Path) -> ServedModel:
    """An ONNX file, run as the file it is: what its metadata says, the rest unknown."""
    from mnist_cli.inference.onnx_model import load_onnx

    model = load_onnx(path)
    card = model.info
    facts = CheckpointFacts(card.model_name, card.dataset, card.class_names, card.temperature)
    info = checkpoint_info(path, facts, path.stat().st_size)
    return ServedModel(path, model, info, f"onnxruntime ({path}, given directly)")


def _verified_export(path: Path) -> ServedModel | None:
    """The checkpoint's own export, and its info from its header, when both agree; else None."""
    from mnist_cli.inference.onnx_model import matching_export

    export = matching_export(path)
    facts = read_facts(path) if export is not None else None
    if facts is None or not _agree(facts, export.info):
        return None
    info = checkpoint_info(path, facts, path.stat().st_size)
    beside = f"{export.path}, verified against {path}"
    return ServedModel(path, export, info, f"onnxruntime ({beside})")


def _agree(facts: CheckpointFacts, export: ExportInfo) -> bool:
    """Whether the header says of the model what its export says (both read without torch;
    matching_export has already checked that the export names this checkpoint's sha256)."""
    card = card_of(export)
    return all(
        getattr(facts, name) == card[name]
        for name in ("model_name", "dataset", "class_names", "temperature")
    )


def _on_torch(path: Path) -> ServedModel:
    """The checkpoint loaded with torch (checked in full), and why nothing else answers."""
    from mnist_cli.checkpoint.read import load_checkpoint

    loaded = load_checkpoint(path)
    info = checkpoint_info(path, loaded, path.stat().st_size)
    classifier = open_classifier(path, loaded=loaded)
    return ServedModel(path, classifier, info, f"torch ({_why_torch(path)})")


def _why_torch(path: Path) -> str:
    from mnist_cli.inference.onnx_model import RUNTIME_INSTALL

    beside = path.with_suffix(".onnx")
    if beside == path or not beside.is_file():
        return "no export beside it"
    if importlib.util.find_spec("onnxruntime") is None:
        return f"onnxruntime is not installed to run {beside}: {RUNTIME_INSTALL}"
    return f"{beside} does not match {path}"


def png_data_url(pixels: np.ndarray) -> str:
    """A 28x28 array in [0, 1] as a `data:image/png;base64,...` URL (8-bit grey)."""
    buffer = io.BytesIO()
    Image.fromarray(np.round(pixels * 255).astype(np.uint8)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
