"""`mnist evaluate` and `mnist info`: what a checkpoint scores, and what it holds."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import typer

from mnist_cli import render
from mnist_cli.cli.app import (
    DATA_DIR,
    DEVICE,
    JSON,
    QUIET,
    app,
    apply_quiet,
    emit_json,
    handled,
)
from mnist_cli.cli.data import ensure_data
from mnist_cli.config import (
    DEFAULT_CHECKPOINT,
    DeviceName,
)

MAX_GALLERY = 1000  # digits --errors draws at most

# evaluate ------------------------------------------------------------------------------------


@app.command(
    epilog="Examples:\n\n  mnist evaluate\n\n  mnist evaluate runs/big.pt --json\n\n"
    "  mnist evaluate --errors errors.png   (a picture of the mistakes)"
)
def evaluate(
    checkpoint: Path = typer.Argument(DEFAULT_CHECKPOINT, help="The checkpoint to score."),
    data_dir: Path = DATA_DIR,
    device: DeviceName = DEVICE,
    errors: Path | None = typer.Option(
        None, "--errors", help="Draw the misclassified digits, surest first, into this PNG."
    ),
    errors_count: int = typer.Option(
        100, "--errors-count", min=1, max=MAX_GALLERY, help="Most mistakes --errors draws."
    ),
    as_json: bool = JSON,
    quiet: bool = QUIET,
) -> None:
    """Score a checkpoint on its dataset's test images: accuracy, per-class scores, confusions."""
    apply_quiet(quiet)
    with handled():
        from mnist_cli.checkpoint import load_checkpoint
        from mnist_cli.datasets import get_dataset
        from mnist_cli.devices import resolve_device
        from mnist_cli.evaluation import evaluate_checkpoint
        from mnist_cli.gallery import check_gallery_path, save_gallery

        if errors:
            check_gallery_path(errors)
        loaded = load_checkpoint(checkpoint, resolve_device(device))
        dataset = get_dataset(loaded.dataset)
        ensure_data(dataset, data_dir, quiet=as_json)
        evaluation = evaluate_checkpoint(loaded, data_dir, errors_count if errors else 0)
        metrics = evaluation.metrics
        if errors:
            drawn = save_gallery(errors, evaluation.mistakes, evaluation.images)
    if as_json:
        emit_json(
            {
                "accuracy": metrics.accuracy,
                "loss": metrics.loss,
                "count": metrics.count,
                "correct": metrics.correct,
                "checkpoint": str(checkpoint),
                "model": loaded.model_name,
                "dataset": loaded.dataset,
                "per_class_accuracy": {
                    name: accuracy
                    for name, accuracy in zip(
                        loaded.class_names, metrics.per_class_accuracy, strict=True
                    )
                },
                **_report_json(loaded.class_names, metrics),
            }
        )
    else:
        from mnist_cli.render_evaluation import evaluation_report

        evaluation_report(checkpoint, loaded, metrics, dataset)
    if errors:
        render.note(f"{drawn} misclassified digits, surest first, in {errors}")


def _report_json(class_names: list[str], metrics) -> dict:
    low, high = metrics.accuracy_interval
    return {
        "accuracy_interval": {"low": low, "high": high, "confidence": 0.95, "method": "wilson"},
        "confusion_matrix": metrics.confusion,
        "per_class": [
            {"digit": index, "name": name, **asdict(score)}
            for index, (name, score) in enumerate(zip(class_names, metrics.per_class, strict=True))
        ],
    }


# info ----------------------------------------------------------------------------------------


@app.command(epilog="Examples:\n\n  mnist info\n\n  mnist info runs/big.pt --json")
def info(
    checkpoint: Path = typer.Argument(DEFAULT_CHECKPOINT, help="The checkpoint to describe."),
    as_json: bool = JSON,
) -> None:
    """Say what a checkpoint holds (model, training, scores), without touching the data."""
    with handled():
        from mnist_cli.checkpoint_info import checkpoint_info

        described = checkpoint_info(checkpoint)
    if as_json:
        emit_json(described.as_json())
    else:
        render.info_report(described)
