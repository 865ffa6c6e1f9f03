"""Predicting the class in users' images with a loaded model (a checkpoint on torch or its ONNX
export, inference/), or an ensemble of them: read each source, prepare it as the model's
dataset was prepared, one batch through the model (or each model of an ensemble), its calibrated
probabilities; and keeping what it saw. Imports no torch."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from mnist_cli.data.store import find_dataset
from mnist_cli.errors import ImageError, OutputError
from mnist_cli.files import create_new
from mnist_cli.inference.card import Classifier
from mnist_cli.inference.ensemble import probabilities
from mnist_cli.inference.loader import classifiers_of
from mnist_cli.predict.fashion import to_fashion
from mnist_cli.predict.handwriting import to_mnist
from mnist_cli.predict.read import SIDE, read_image
from mnist_cli.predict.sources import Source

if TYPE_CHECKING:
    from mnist_cli.checkpoint.read import Checkpoint

# How a user's image becomes a model input: (image, preprocess?) -> 28x28 float32 in [0, 1].
Preparer = Callable[[Image.Image, bool], np.ndarray]

# Dataset.preprocessing -> its Preparer.
PREPARERS: dict[str, Preparer] = {"handwriting": to_mnist, "object": to_fashion}


def preparer_for(dataset_name: str) -> Preparer:
    """The preparation for photos of a dataset's classes; handwriting for an unknown dataset."""
    dataset = find_dataset(dataset_name)
    return PREPARERS[dataset.preprocessing] if dataset else to_mnist


@dataclass(frozen=True)
class Guess:
    """One of the model's answers for an image: the class index, its name, its probability
    (temperature applied; for an ensemble, the mean of its models')."""

    prediction: int
    label: str
    probability: float


@dataclass(frozen=True)
class Prediction:
    """The answer for one image: `top_k` guesses, best first, and the 28x28 input the model saw
    (white ink on black, in [0, 1]); or the error that stopped it."""

    file: str
    top_k: list[Guess] = field(default_factory=list)
    pixels: np.ndarray | None = field(default=None, repr=False)
    error: str | None = None

    @property
    def best(self) -> Guess:
        return self.top_k[0]


def _prepare(source: Source, prepare: Preparer, preprocess: bool) -> np.ndarray:
    """The model's input for one source, or an ImageError naming it: whatever goes wrong in
    preparing one image (a bug of ours too) costs that image its answer, never the batch's."""
    if source.error:
        raise ImageError(source.error)
    image = read_image(source.data if source.path is None else source.path, source.name)
    try:
        pixels = np.asarray(prepare(image, preprocess), dtype=np.float32)
        if pixels.shape != (SIDE, SIDE) or not np.isfinite(pixels).all():
            raise ImageError(f"could not be prepared (not {SIDE}x{SIDE} finite pixels)")
    except ImageError as error:  # from the pixels: the message does not name the file yet
        raise ImageError(f"{source.name}: {error}") from None
    except Exception as error:  # not ours to expect: said in the image's row, not a crash
        why = (str(error).strip().splitlines() or [""])[0][:160]
        raise ImageError(
            f"{source.name}: could not be prepared (unexpected {type(error).__name__}"
            f"{': ' + why if why else ''}; please report it)"
        ) from None
    return pixels


def predict_files(
    model: Classifier | Checkpoint | Sequence[Classifier | Checkpoint],
    sources: list[Source],
    top_k: int = 3,
    preprocess: bool = True,
) -> list[Prediction]:
    """One Prediction per source, in order; one that cannot be read gets its error instead.
    All readable images go through the model as one batch. Several models (of one dataset,
    ensemble.check_ensemble): their calibrated probabilities averaged."""
    members = classifiers_of(model)
    model = members[0]
    results: list[Prediction | None] = [None] * len(sources)
    ready: list[tuple[int, np.ndarray]] = []
    prepare = preparer_for(model.dataset)  # digits and articles are prepared differently
    for index, source in enumerate(sources):
        try:
            ready.append((index, _prepare(source, prepare, preprocess)))
        except ImageError as error:
            results[index] = Prediction(file=source.name, error=str(error))
    if ready:
        shown, _ = probabilities(members, np.stack([pixels for _, pixels in ready]))
        k = max(1, min(top_k, shown.shape[1]))
        best_first = np.argsort(-shown, axis=1, kind="stable")[:, :k]
        for (index, pixels), row, order in zip(ready, shown, best_first, strict=True):
            guesses = [Guess(int(i), model.class_names[int(i)], float(row[i])) for i in order]
            results[index] = Prediction(sources[index].name, guesses, pixels)
    return [result for result in results if result is not None]


def _unique_name(name: str, taken: set[str], directory: Path) -> str:
    """`<stem>.png`, or `<stem>-2.png`... where that is taken: by this run, or by any file
    already in `directory` (never replaced: the user's originals may live there)."""
    stem = Path(name).stem or "image"
    candidate, number = f"{stem}.png", 1
    while candidate in taken or os.path.lexists(directory / candidate):
        number += 1
        candidate = f"{stem}-{number}.png"
    taken.add(candidate)
    return candidate


def save_preprocessed(predictions: list[Prediction], directory: Path) -> list[Path]:
    """Write each 28x28 input the model saw as an 8-bit PNG named after its file into
    `directory`, created if needed; a name already used (by this run or by a file there) gets
    `-2`, `-3`: no file is ever replaced. The paths written, in order."""
    taken: set[str] = set()
    written = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for prediction in predictions:
            if prediction.pixels is None:
                continue
            path = directory / _unique_name(prediction.file, taken, directory)
            pixels = np.round(prediction.pixels * 255).astype(np.uint8)
            with create_new(path) as out:
                Image.fromarray(pixels).save(out, format="PNG")
            written.append(path)
    except OSError as error:
        raise OutputError(
            f"cannot save preprocessed images in {directory}: {error.strerror or error}"
        ) from None
    return written
