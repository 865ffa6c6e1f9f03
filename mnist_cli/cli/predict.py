"""`mnist predict`: images in, the classes a checkpoint reads in them out."""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path

import typer

from mnist_cli import render
from mnist_cli.cli.app import (
    JSON,
    app,
    emit_json,
    handled,
)
from mnist_cli.config import (
    DEFAULT_CHECKPOINT,
)


@app.command(
    epilog="Examples:\n\n  mnist predict digit.png\n\n"
    "  mnist predict photos/ 'scans/*.jpg' --show\n\n"
    "  cat digit.png | mnist predict -\n\n"
    "  mnist predict a.png b.jpg --top-k 5 --checkpoint runs/big.pt --json"
)
def predict(
    images: list[str] = typer.Argument(
        ...,
        help="Image files (PNG, JPEG, BMP, GIF, TIFF, WebP), directories (the images in them),"
        " glob patterns, or - for stdin.",
        show_default=False,
    ),
    checkpoint: Path = typer.Option(DEFAULT_CHECKPOINT, "--checkpoint", help="The model to use."),
    top_k: int = typer.Option(3, "--top-k", min=1, max=10, help="Guesses to show per image."),
    preprocess: bool = typer.Option(
        True,
        "--preprocess/--no-preprocess",
        help="Prepare photos like the checkpoint's dataset: digits have their ink centred,"
        " Fashion-MNIST articles are fitted to the frame; --no-preprocess only resizes.",
    ),
    show: bool = typer.Option(
        False, "--show", help="Draw the 28x28 image the model saw beside each answer."
    ),
    save_preprocessed: Path | None = typer.Option(
        None, "--save-preprocessed", metavar="DIR", help="Write the 28x28 images as PNG here."
    ),
    as_json: bool = JSON,
) -> None:
    """Say which digit (or article, or character: the checkpoint's classes) each image shows."""
    with handled():
        from mnist_cli.checkpoint import load_checkpoint
        from mnist_cli.inputs import expand_inputs
        from mnist_cli.prediction import predict_files
        from mnist_cli.prediction import save_preprocessed as save

        sources = expand_inputs(images, sys.stdin.buffer.read)
        loaded = load_checkpoint(checkpoint)
        predictions = predict_files(loaded, sources, top_k, preprocess)
        if save_preprocessed is not None:
            save(predictions, save_preprocessed)
    failed = [p for p in predictions if p.error]
    for prediction in failed:
        render.error_line(prediction.error)
    if show:
        render.show_predictions(predictions, to_stderr=as_json)
    if as_json:
        emit_json([_prediction_json(p) for p in predictions])
    elif len(failed) < len(predictions) and not show:
        from mnist_cli.datasets import find_dataset

        dataset = find_dataset(loaded.dataset)
        render.prediction_table(predictions, dataset.class_noun if dataset else "class")
    if failed:
        raise typer.Exit(1)


def _prediction_json(prediction) -> dict:
    if prediction.error:
        return {"file": prediction.file, "error": prediction.error}
    return {
        "file": prediction.file,
        "prediction": prediction.best.prediction,
        "label": prediction.best.label,
        "probability": prediction.best.probability,
        "top_k": [asdict(guess) for guess in prediction.top_k],
    }
