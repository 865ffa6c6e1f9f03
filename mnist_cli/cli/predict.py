"""`mnist predict`: images in, the classes a checkpoint reads in them out."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mnist_cli.cli.options import MODEL, OUTPUT, Json, Quiet
from mnist_cli.cli.output import output_of
from mnist_cli.cli.prediction_report import prediction_table, show_predictions
from mnist_cli.config import DEFAULT_CHECKPOINT
from mnist_cli.documents import prediction_row
from mnist_cli.paths import check_checkpoint_file

if TYPE_CHECKING:
    from mnist_cli.predict.pipeline import Prediction

EXAMPLES = (
    "Examples:\n\n  mnist predict digit.png\n\n"
    "  mnist predict photos/ 'scans/*.jpg' --show\n\n"
    "  cat digit.png | mnist predict -\n\n"
    "  mnist predict a.png b.jpg --top-k 5 --checkpoint runs/big.pt --json\n\n"
    "  mnist predict digit.png --checkpoint a.pt --checkpoint b.pt   (an ensemble)"
)


def predict(
    ctx: typer.Context,
    images: Annotated[
        list[str],
        typer.Argument(
            metavar="IMAGE",
            help="Image files (PNG, JPEG, BMP, GIF, TIFF, WebP), directories (the images in"
            " them), glob patterns, or - for stdin.",
            show_default=False,
        ),
    ],
    checkpoints: Annotated[
        list[Path] | None,
        typer.Option(
            "--checkpoint",
            metavar="FILE",
            help="The model to use: a checkpoint, or an ONNX export (.onnx, runs without torch);"
            " give it again for an ensemble of models trained on the"
            " same dataset (their calibrated probabilities averaged)."
            f" \\[default: {DEFAULT_CHECKPOINT}]",
            show_default=False,
            rich_help_panel=MODEL,
        ),
    ] = None,
    preprocess: Annotated[
        bool,
        typer.Option(
            "--preprocess/--no-preprocess",
            help="Prepare photos like the checkpoint's dataset: digits have their ink centred,"
            " Fashion-MNIST articles are fitted to the frame; --no-preprocess only resizes.",
            rich_help_panel=MODEL,
        ),
    ] = True,
    top_k: Annotated[
        int,
        typer.Option(
            "--top-k",
            metavar="N",
            min=1,
            max=10,
            help="Guesses to show per image.",
            rich_help_panel=OUTPUT,
        ),
    ] = 3,
    show: Annotated[
        bool,
        typer.Option(
            "--show",
            help="Draw the 28x28 image the model saw beside each answer.",
            rich_help_panel=OUTPUT,
        ),
    ] = False,
    save_preprocessed: Annotated[
        Path | None,
        typer.Option(
            "--save-preprocessed",
            metavar="DIR",
            help="Write the 28x28 images as PNG here.",
            rich_help_panel=OUTPUT,
        ),
    ] = None,
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Say which digit (or article, or character: the checkpoint's classes) each image shows."""
    output = output_of(ctx, quiet)
    paths = checkpoints or [DEFAULT_CHECKPOINT]
    with output.handled():
        from mnist_cli.inference.loader import is_export, open_classifier

        for path in paths:  # before torch is imported: a typo costs no time
            if not is_export(path):  # an export is checked as it loads (inference/onnx_model.py)
                check_checkpoint_file(path)
        from mnist_cli.predict.sources import expand_sources, stdin_reader

        sources = expand_sources(images, stdin_reader(sys.stdin))
        from mnist_cli.data.store import find_dataset
        from mnist_cli.inference.ensemble import check_ensemble, describe
        from mnist_cli.predict.pipeline import predict_files
        from mnist_cli.predict.pipeline import save_preprocessed as save

        loaded = [open_classifier(path, use_export_beside=True) for path in paths]
        check_ensemble(loaded, paths)
        predictions = predict_files(loaded, sources, top_k, preprocess)
        if save_preprocessed is not None:
            _note_saved(output, predictions, save(predictions, save_preprocessed))
    failed = [p for p in predictions if p.error]
    for prediction in failed:
        output.error_line(prediction.error)
    if show:
        show_predictions(output, predictions, to_stderr=as_json)
    if as_json:
        output.json([prediction_row(p, paths) for p in predictions])
    elif len(failed) < len(predictions) and not show:
        dataset = find_dataset(loaded[0].dataset)
        title = f"{describe(paths)}: mean of calibrated probabilities" if len(paths) > 1 else None
        prediction_table(output, predictions, dataset.class_noun if dataset else "class", title)
    if failed:
        raise typer.Exit(1)


def _note_saved(output, predictions: list[Prediction], written: list[Path]) -> None:
    """Say where the 28x28 images went, and which names were taken (nothing is replaced)."""
    seen = [p for p in predictions if p.pixels is not None]
    for prediction, path in zip(seen, written, strict=True):
        wanted = f"{Path(prediction.file).stem or 'image'}.png"
        if path.name != wanted:
            output.note(f"{path.parent / wanted} was taken: {prediction.file} saved as {path}")
    if written:
        output.note(f"{len(written)} preprocessed images in {written[0].parent}")
