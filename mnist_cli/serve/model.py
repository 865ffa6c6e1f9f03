"""The model `mnist serve` answers with: the checkpoint opened as `mnist predict` opens it (its
verified `ckpt.onnx` when there is one, inference/loader.py), what `mnist info` says of it, and an
image's answer as a row of `mnist predict --json` with the 28x28 the model saw added."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mnist_cli.documents import checkpoint_info, prediction_row
from mnist_cli.errors import ImageError
from mnist_cli.inference.card import Classifier
from mnist_cli.inference.loader import open_classifier
from mnist_cli.predict.pipeline import predict_files
from mnist_cli.predict.sources import Source

TOP_K = 3  # as `mnist predict`'s default


@dataclass(frozen=True)
class ServedModel:
    checkpoint: Path  # as the user gave it: the rows' `checkpoints`
    classifier: Classifier
    info: dict[str, Any]  # the document `mnist info --json` prints

    @classmethod
    def open(cls, checkpoint: Path) -> ServedModel:
        """Load the checkpoint (a CheckpointError if it is not one of ours) and its info."""
        from mnist_cli.checkpoint.read import load_checkpoint

        loaded = load_checkpoint(checkpoint)
        info = checkpoint_info(checkpoint, loaded, checkpoint.stat().st_size)
        # As predict: the export made from exactly this file answers, else torch does.
        classifier = open_classifier(checkpoint, use_export_beside=True, loaded=loaded)
        return cls(checkpoint, classifier, info)

    def answer(self, name: str, data: bytes) -> dict[str, Any]:
        """The row `mnist predict --json` gives for these bytes, plus `input`; an ImageError
        with predict's one-line reason when they are not an image it can read."""
        (prediction,) = predict_files(self.classifier, [Source(name, data=data)], TOP_K)
        if prediction.error:
            raise ImageError(prediction.error)
        row = prediction_row(prediction, [self.checkpoint])
        return {**row, "input": png_data_url(prediction.pixels)}


def png_data_url(pixels: np.ndarray) -> str:
    """A 28x28 array in [0, 1] as a `data:image/png;base64,...` URL (8-bit grey)."""
    buffer = io.BytesIO()
    Image.fromarray(np.round(pixels * 255).astype(np.uint8)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
