"""Predicting the digit in users' image files with a loaded checkpoint."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from mnist_cli.checkpoint import LoadedCheckpoint
from mnist_cli.errors import ImageError
from mnist_cli.evaluation import predict_logits, to_inputs
from mnist_cli.images import read_image
from mnist_cli.objects import preparer_for


@dataclass(frozen=True)
class Guess:
    prediction: int
    label: str
    probability: float


@dataclass(frozen=True)
class Prediction:
    """The answer for one file: `top_k` guesses, best first, or the error that stopped it."""

    file: str
    top_k: list[Guess] = field(default_factory=list)
    error: str | None = None

    @property
    def best(self) -> Guess:
        return self.top_k[0]


def predict_files(
    checkpoint: LoadedCheckpoint, files: list[Path], top_k: int = 3, preprocess: bool = True
) -> list[Prediction]:
    """One Prediction per file, in order; a file that cannot be read gets its error instead."""
    results: list[Prediction | None] = [None] * len(files)
    ready: list[tuple[int, np.ndarray]] = []
    prepare = preparer_for(checkpoint.dataset)  # digits and articles are prepared differently
    for index, path in enumerate(files):
        try:
            ready.append((index, prepare(read_image(Path(path), str(path)), preprocess)))
        except ImageError as error:
            results[index] = Prediction(file=str(path), error=str(error))
    if ready:
        batch = torch.from_numpy(np.stack([pixels for _, pixels in ready]))
        device = next(checkpoint.model.parameters()).device
        inputs = to_inputs(batch, checkpoint.mean, checkpoint.std, device)
        probabilities = predict_logits(checkpoint.model, inputs).float().softmax(dim=1).cpu()
        k = max(1, min(top_k, probabilities.shape[1]))
        values, indices = probabilities.topk(k, dim=1)
        for (index, _), row_values, row_indices in zip(ready, values, indices, strict=True):
            guesses = [
                Guess(int(i), checkpoint.class_names[int(i)], float(v))
                for v, i in zip(row_values, row_indices, strict=True)
            ]
            results[index] = Prediction(file=str(files[index]), top_k=guesses)
    return [result for result in results if result is not None]
