"""`mnist evaluate`: what a checkpoint, or an ensemble of several, scores on its dataset's test
images."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mnist_cli.cli.download import ensure_data
from mnist_cli.cli.options import DEFAULTS, OUTPUT, DataDir, Device, Json, Quiet
from mnist_cli.cli.output import output_of
from mnist_cli.config import DEFAULT_CHECKPOINT, DEFAULT_DATA_DIR
from mnist_cli.paths import check_checkpoint_file, check_distinct

if TYPE_CHECKING:
    from mnist_cli.evaluate.scoring import Evaluation
    from mnist_cli.inference.card import Classifier

MAX_GALLERY = 1000  # digits --errors draws at most

EXAMPLES = (
    "Examples:\n\n  mnist evaluate\n\n  mnist evaluate runs/big.pt --json\n\n"
    "  mnist evaluate --errors errors.png   (a picture of the mistakes)\n\n"
    "  mnist evaluate a.pt b.pt c.pt   (an ensemble: their calibrated probabilities averaged)\n\n"
    "  mnist evaluate --reliability reliability.png"
)


def evaluate(
    ctx: typer.Context,
    checkpoints: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="CHECKPOINT",
            help="The checkpoint to score, or an ONNX export (.onnx, runs without torch); several:"
            " an ensemble of models trained on the same dataset, their calibrated probabilities"
            f" averaged. \\[default: {DEFAULT_CHECKPOINT}]",
            show_default=False,
        ),
    ] = None,
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
    reliability: Annotated[
        Path | None,
        typer.Option(
            "--reliability",
            metavar="FILE",
            help="Draw the reliability diagram (confidence against accuracy) into this PNG"
            " (needs matplotlib).",
            rich_help_panel=OUTPUT,
        ),
    ] = None,
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Score a checkpoint on its test set: accuracy, per-class scores, confusions, calibration."""
    output = output_of(ctx, quiet)
    paths = checkpoints or [DEFAULT_CHECKPOINT]
    with output.handled():
        from mnist_cli.cli.plot import check_plot, plot_reliability
        from mnist_cli.evaluate.gallery import check_gallery_path, save_gallery
        from mnist_cli.inference.loader import is_export, open_classifier

        inputs = {"the checkpoint" + (f" {p}" if len(paths) > 1 else ""): p for p in paths}
        check_distinct({"--errors": errors, "--reliability": reliability}, inputs)
        if errors:
            check_gallery_path(errors)  # only a picture it drew is replaced
        if reliability:
            check_plot(reliability, "--reliability")
        for path in paths:  # before torch is imported: a typo costs no time
            if not is_export(path):  # an export is checked as it loads (inference/onnx_model.py)
                check_checkpoint_file(path)
        from mnist_cli.data.store import get_dataset
        from mnist_cli.evaluate.scoring import evaluate_checkpoints
        from mnist_cli.inference.ensemble import check_ensemble, describe

        loaded = [open_classifier(path, device) for path in paths]
        check_ensemble(loaded, paths)
        dataset = get_dataset(loaded[0].dataset)
        ensure_data(output, dataset, data_dir, quiet=as_json)
        evaluation = evaluate_checkpoints(loaded, data_dir, errors_count if errors else 0)
        if errors:
            drawn = save_gallery(errors, evaluation.mistakes, evaluation.images)
        if reliability:
            title = f"{describe(paths)} on the {dataset.title} test set"
            plot_reliability(evaluation.calibration, title, reliability)
    if as_json:
        output.json(_json(paths, loaded, evaluation))
    else:
        from mnist_cli.cli.evaluation_report import evaluation_report

        evaluation_report(output, paths, loaded, evaluation, dataset)
    if errors:
        output.note(f"{drawn} misclassified digits, surest first, in {errors}")
    if reliability:
        output.note(f"reliability diagram in {reliability}")


def _json(paths: list[Path], checkpoints: list[Classifier], evaluation: Evaluation) -> dict:
    """The document `mnist evaluate --json` prints."""
    metrics, calibration = evaluation.metrics, evaluation.calibration
    single = len(paths) == 1
    names = checkpoints[0].class_names
    low, high = metrics.accuracy_interval
    return {
        "accuracy": metrics.accuracy,
        "loss": metrics.loss,
        "count": metrics.count,
        "correct": metrics.correct,
        "checkpoint": str(paths[0]) if single else None,
        "model": checkpoints[0].model_name if single else None,
        "dataset": checkpoints[0].dataset,
        "ensemble": not single,
        "members": [
            {"checkpoint": str(path), "model": c.model_name, "temperature": c.temperature}
            for path, c in zip(paths, checkpoints, strict=True)
        ],
        "calibration": {
            "ece": calibration.ece,
            "nll": calibration.nll,
            "ece_before": calibration.ece_before,
            "nll_before": calibration.nll_before,
            "bins": len(calibration.bins),
        },
        "per_class_accuracy": dict(zip(names, metrics.per_class_accuracy, strict=True)),
        "accuracy_interval": {"low": low, "high": high, "confidence": 0.95, "method": "wilson"},
        "confusion_matrix": metrics.confusion,
        "per_class": [
            {"digit": index, "name": name, **asdict(score)}
            for index, (name, score) in enumerate(zip(names, metrics.per_class, strict=True))
        ],
    }
