"""`mnist evaluate`: what a checkpoint scores on its dataset's test images."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mnist_cli.cli.download import ensure_data
from mnist_cli.cli.options import DEFAULTS, OUTPUT, DataDir, Device, Json, Quiet
from mnist_cli.cli.output import output_of
from mnist_cli.config import DEFAULT_CHECKPOINT, DEFAULT_DATA_DIR

if TYPE_CHECKING:
    from mnist_cli.classifier import Classifier
    from mnist_cli.evaluate.metrics import Metrics

MAX_GALLERY = 1000  # digits --errors draws at most

EXAMPLES = (
    "Examples:\n\n  mnist evaluate\n\n  mnist evaluate runs/big.pt --json\n\n"
    "  mnist evaluate --errors errors.png   (a picture of the mistakes)"
)


def evaluate(
    ctx: typer.Context,
    checkpoint: Annotated[
        Path,
        typer.Argument(
            metavar="CHECKPOINT",
            help="The checkpoint to score, or an ONNX export (.onnx, runs without torch).",
        ),
    ] = DEFAULT_CHECKPOINT,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    device: Device = DEFAULTS.device,
    errors: Annotated[
        Path | None,
        typer.Option(
            "--errors",
            metavar="FILE",
            help="Draw the misclassified digits, surest first, into this PNG.",
            rich_help_panel=OUTPUT,
        ),
    ] = None,
    errors_count: Annotated[
        int,
        typer.Option(
            "--errors-count",
            metavar="N",
            min=1,
            max=MAX_GALLERY,
            help="Most mistakes --errors draws.",
            rich_help_panel=OUTPUT,
        ),
    ] = 100,
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Score a checkpoint on its dataset's test images: accuracy, per-class scores, confusions."""
    output = output_of(ctx, quiet)
    with output.handled():
        from mnist_cli.classifier import open_classifier
        from mnist_cli.data.store import get_dataset
        from mnist_cli.evaluate.gallery import check_gallery_path, save_gallery
        from mnist_cli.evaluate.scoring import evaluate_checkpoint

        if errors:
            check_gallery_path(errors)
        loaded = open_classifier(checkpoint, device)
        dataset = get_dataset(loaded.dataset)
        ensure_data(output, dataset, data_dir, quiet=as_json)
        evaluation = evaluate_checkpoint(loaded, data_dir, errors_count if errors else 0)
        metrics = evaluation.metrics
        if errors:
            drawn = save_gallery(errors, evaluation.mistakes, evaluation.images)
    if as_json:
        output.json(_json(checkpoint, loaded, metrics))
    else:
        from mnist_cli.cli.evaluation_report import evaluation_report

        evaluation_report(output, checkpoint, loaded, metrics, dataset)
    if errors:
        output.note(f"{drawn} misclassified digits, surest first, in {errors}")


def _json(path: Path, checkpoint: Classifier, metrics: Metrics) -> dict:
    """The document `mnist evaluate --json` prints."""
    names = checkpoint.class_names
    low, high = metrics.accuracy_interval
    return {
        "accuracy": metrics.accuracy,
        "loss": metrics.loss,
        "count": metrics.count,
        "correct": metrics.correct,
        "checkpoint": str(path),
        "model": checkpoint.model_name,
        "dataset": checkpoint.dataset,
        "per_class_accuracy": dict(zip(names, metrics.per_class_accuracy, strict=True)),
        "accuracy_interval": {"low": low, "high": high, "confidence": 0.95, "method": "wilson"},
        "confusion_matrix": metrics.confusion,
        "per_class": [
            {"digit": index, "name": name, **asdict(score)}
            for index, (name, score) in enumerate(zip(names, metrics.per_class, strict=True))
        ],
    }
