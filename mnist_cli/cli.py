"""The `mnist` command: parses options, calls one core function, renders what comes back.

The only module that imports typer; render.py draws the tables. torch is imported inside the
commands, so that `mnist --help` stays fast.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from contextlib import contextmanager
from dataclasses import asdict, fields
from pathlib import Path

import typer

from mnist_cli import __version__, render
from mnist_cli.config import (
    DATA_DIR_ENV,
    DEFAULT_CHECKPOINT,
    DEFAULT_DATA_DIR,
    DEFAULT_LR,
    DEFAULT_SCHEDULE,
    DatasetName,
    DeviceName,
    ModelName,
    OptimizerName,
    PrecisionName,
    ScheduleName,
    TrainConfig,
)
from mnist_cli.errors import MnistError

DEFAULTS = TrainConfig()
MAX_GALLERY = 1000  # digits --errors draws at most

app = typer.Typer(
    name="mnist",
    help="The whole MNIST workflow in one command: download, train, evaluate, predict.",
    epilog="Start with [bold]mnist train[/]: it downloads the data if needed.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,  # tracebacks with locals can leak paths and data
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)

DATA_DIR = typer.Option(
    DEFAULT_DATA_DIR, "--data-dir", envvar=DATA_DIR_ENV, help="Where the datasets live."
)
DEVICE = typer.Option(
    DEFAULTS.device,
    "--device",
    help="auto picks cuda, then mps, then cpu.",
)
JSON = typer.Option(False, "--json", help="Print one JSON document on stdout and nothing else.")
DATASET = typer.Option(
    DEFAULTS.dataset,
    "--dataset",
    help="MNIST or a sibling; qmnist10k is QMNIST scored on its 10k MNIST-compatible test images.",
)
QUIET = typer.Option(False, "--quiet", "-q", help="No progress, no notes: results and errors only.")


def main() -> None:
    """Entry point of the `mnist` script."""
    app()


def _version(value: bool) -> None:
    if value:
        render.out.print(f"mnist {__version__}")
        raise typer.Exit()


_debug = {"on": False}  # set by --debug on every run of the app


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    quiet: bool = QUIET,
    debug: bool = typer.Option(
        False, "--debug", help="Show the traceback of any error (as MNIST_DEBUG=1 does)."
    ),
) -> None:
    """The whole MNIST workflow in one command: download, train, evaluate, predict."""
    render.configure(quiet_output=quiet)
    _debug["on"] = debug or os.environ.get("MNIST_DEBUG", "") not in ("", "0")


def _quiet(quiet: bool) -> None:
    """A command's own --quiet, the same as `mnist --quiet COMMAND`."""
    if quiet:
        render.configure(quiet_output=True)


@contextmanager
def _handled():
    """Turn our errors, Ctrl-C and anything unexpected into one line on stderr and an exit code.
    With --debug, the traceback comes first; the exit code stays the same."""
    try:
        yield
    except typer.Exit:
        raise
    except (MnistError, KeyboardInterrupt, Exception) as error:
        if _debug["on"]:
            traceback.print_exc()
        if isinstance(error, MnistError):
            render.error_line(str(error))
            raise typer.Exit(error.exit_code) from None
        if isinstance(error, KeyboardInterrupt):
            render.error_line("interrupted")
            raise typer.Exit(130) from None
        render.error_line(
            f"unexpected {type(error).__name__}: {error} (--debug shows the traceback)"
        )
        raise typer.Exit(1) from None


def _emit_json(document) -> None:
    sys.stdout.write(json.dumps(document, indent=2) + "\n")


# download ------------------------------------------------------------------------------------


def _fetch_dataset(dataset, data_dir: Path, mirrors=(), source_dir=None, force=False, quiet=False):
    from mnist_cli.download import download

    with render.download_progress(quiet) as progress:
        tasks: dict[str, int] = {}

        def on_progress(name: str, done: int, total: int | None) -> None:
            if name not in tasks:
                tasks[name] = progress.add_task(name, total=total)
            progress.update(tasks[name], completed=done, total=total)

        return download(dataset, data_dir, mirrors, source_dir, force, on_progress)


def _ensure_data(dataset, data_dir: Path, quiet: bool) -> None:
    from mnist_cli.datasets import missing_files

    if missing_files(dataset, data_dir):
        render.note(f"{dataset.title} is not in {data_dir}: downloading it first")
        _fetch_dataset(dataset, data_dir, quiet=quiet)


def _check_mirrors(mirrors: list[str]) -> list[str]:
    from mnist_cli.download import check_mirror

    try:
        return [check_mirror(m) for m in mirrors]
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--mirror") from None


@app.command(
    epilog="Examples:\n\n"
    "  mnist download\n\n"
    "  mnist download --mirror https://my.mirror/mnist/\n\n"
    "  mnist download --from ~/Downloads   (offline: files already on disk)\n\n"
    "  mnist download --dataset fashion-mnist --from /usr/share/datasets/fashion-mnist"
)
def download(
    dataset_name: DatasetName = DATASET,
    data_dir: Path = DATA_DIR,
    mirror: list[str] = typer.Option(
        [], "--mirror", help="A mirror to try first (http, https or file URL). Repeatable."
    ),
    from_dir: Path | None = typer.Option(
        None, "--from", help="Import the files from this folder instead of downloading."
    ),
    force: bool = typer.Option(False, "--force", help="Fetch again even if the files are valid."),
) -> None:
    """Fetch a dataset's four files and verify them against the original content."""
    mirrors = _check_mirrors(mirror)
    with _handled():
        from mnist_cli.datasets import dataset_dir, get_dataset

        dataset = get_dataset(dataset_name)
        results = _fetch_dataset(dataset, data_dir, mirrors, from_dir, force)
    render.download_report(f"{dataset.title} in {dataset_dir(dataset, data_dir)}", results)


# train ---------------------------------------------------------------------------------------


def _per_optimizer(defaults: dict) -> str:
    return ", ".join(f"{value} with {name}" for name, value in defaults.items())


@app.command(
    epilog="Examples:\n\n"
    "  mnist train\n\n"
    "  mnist train --epochs 40 --device cuda --plot curves.png\n\n"
    "  mnist train --dataset fashion-mnist\n\n"
    "  mnist train --model mlp --optimizer sgd --lr 0.01 --batch-size 64 --epochs 40"
    "   (the classic exercise)"
)
def train(
    ctx: typer.Context,
    dataset: DatasetName = DATASET,
    data_dir: Path = DATA_DIR,
    model: ModelName = typer.Option(DEFAULTS.model, "--model", help="Network to train."),
    epochs: int = typer.Option(DEFAULTS.epochs, "--epochs", min=1, help="Passes over the data."),
    batch_size: int = typer.Option(DEFAULTS.batch_size, "--batch-size", min=1),
    optimizer: OptimizerName = typer.Option(
        DEFAULTS.optimizer, "--optimizer", help="sgd is plain gradient descent, as in the exercise."
    ),
    lr: float | None = typer.Option(
        None, "--lr", min=0.0, help=f"Peak learning rate. \\[default: {_per_optimizer(DEFAULT_LR)}]"
    ),
    schedule: ScheduleName | None = typer.Option(
        None,
        "--schedule",
        help="onecycle warms up, then anneals to zero; constant keeps --lr."
        f" \\[default: {_per_optimizer(DEFAULT_SCHEDULE)}]",
    ),
    weight_decay: float = typer.Option(
        DEFAULTS.weight_decay, "--weight-decay", min=0.0, help="AdamW's decoupled weight decay."
    ),
    augment: bool = typer.Option(
        DEFAULTS.augment, help="Randomly rotate, zoom and shift each training batch a little."
    ),
    label_smoothing: float = typer.Option(
        DEFAULTS.label_smoothing, "--label-smoothing", min=0.0, max=0.99
    ),
    device: DeviceName = DEVICE,
    threads: int | None = typer.Option(
        None, "--threads", min=1, help="CPU threads. \\[default: one per available core]"
    ),
    precision: PrecisionName = typer.Option(
        DEFAULTS.precision, "--precision", help="auto is bf16 autocast on CUDA, fp32 elsewhere."
    ),
    compile_model: bool = typer.Option(
        DEFAULTS.compile, "--compile", help="torch.compile the model: slower start, faster steps."
    ),
    seed: int = typer.Option(
        DEFAULTS.seed, "--seed", help="Same seed and --threads, same run (on the CPU)."
    ),
    checkpoint: Path = typer.Option(
        DEFAULT_CHECKPOINT,
        "--checkpoint",
        help="Written after every epoch, with a line per epoch in the .jsonl beside it.",
    ),
    plot: Path | None = typer.Option(
        None, "--plot", help="Draw the learning curves into this PNG (needs matplotlib)."
    ),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Go on with the run saved at --checkpoint, exactly where it stopped."
        " Only --epochs (with --schedule constant), --device, --threads, --precision and"
        " --compile may change.",
    ),
    as_json: bool = JSON,
    quiet: bool = QUIET,
) -> None:
    """Train a classifier and save it as a checkpoint after every epoch."""
    _quiet(quiet)
    config = TrainConfig(
        dataset=dataset,
        model=model,
        epochs=epochs,
        batch_size=batch_size,
        optimizer=optimizer,
        lr=lr,
        schedule=schedule,
        weight_decay=weight_decay,
        label_smoothing=label_smoothing,
        augment=augment,
        device=device,
        seed=seed,
        threads=threads,
        precision=precision,
        compile=compile_model,
    )
    report = render.err if as_json else render.out
    with _handled():
        from mnist_cli.datasets import get_dataset
        from mnist_cli.interrupts import stop_on_signals
        from mnist_cli.plot import check_plot, plot_history
        from mnist_cli.render_progress import TrainDisplay
        from mnist_cli.training import train as run_training

        resumed = None
        if resume:
            from mnist_cli.resume import resumed_run

            config, resumed = resumed_run(checkpoint, _given(ctx, config))
        done = len(resumed.history) if resumed else 0
        if plot:
            check_plot(plot)  # before training: a missing matplotlib must not cost a run
        _ensure_data(get_dataset(config.dataset), data_dir, quiet=False)
        with TrainDisplay(config.epochs, report, done) as display, stop_on_signals() as stop:
            result = run_training(
                config, data_dir, checkpoint, display.step, display.end_epoch, stop, resume=resumed
            )
        if plot:
            plot_history(result.history, plot)
    if as_json:
        _emit_json(
            {
                "test_accuracy": result.final.test_accuracy,
                "test_loss": result.final.test_loss,
                "epochs": len(result.history),
                "checkpoint": str(result.checkpoint),
                "model": config.model,
                "parameters": result.parameters,
                "device": result.device,
                "threads": result.threads,
                "seconds": result.seconds,
                "config": asdict(config),
                "history": [asdict(row) for row in result.history],
            }
        )
        return
    render.training_summary(config.model, result)
    if plot:
        render.note(f"learning curves in {plot}")


# A config field -> the name of train()'s parameter, where the two differ.
OPTION_NAMES = {"compile": "compile_model"}


def _given(ctx: typer.Context, config: TrainConfig) -> dict:
    """The fields of `config` that the user set (on the command line or from the environment)."""
    given = {}
    for field in fields(config):
        source = ctx.get_parameter_source(OPTION_NAMES.get(field.name, field.name))
        if source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT"):
            given[field.name] = getattr(config, field.name)
    return given


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
    _quiet(quiet)
    with _handled():
        from mnist_cli.checkpoint import load_checkpoint
        from mnist_cli.datasets import get_dataset
        from mnist_cli.devices import resolve_device
        from mnist_cli.evaluation import evaluate_checkpoint
        from mnist_cli.gallery import check_gallery_path, save_gallery

        if errors:
            check_gallery_path(errors)
        loaded = load_checkpoint(checkpoint, resolve_device(device))
        _ensure_data(get_dataset(loaded.dataset), data_dir, quiet=as_json)
        evaluation = evaluate_checkpoint(loaded, data_dir, errors_count if errors else 0)
        metrics = evaluation.metrics
        if errors:
            drawn = save_gallery(errors, evaluation.mistakes, evaluation.images)
    if as_json:
        _emit_json(
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
        from mnist_cli.datasets import find_dataset
        from mnist_cli.render_evaluation import evaluation_report

        evaluation_report(checkpoint, loaded, metrics, find_dataset(loaded.dataset))
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
    with _handled():
        from mnist_cli.checkpoint_info import checkpoint_info

        described = checkpoint_info(checkpoint)
    if as_json:
        _emit_json(described.as_json())
    else:
        render.info_report(described)


# predict -------------------------------------------------------------------------------------


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
    with _handled():
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
        _emit_json([_prediction_json(p) for p in predictions])
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
        "top_k": [
            {"prediction": g.prediction, "label": g.label, "probability": g.probability}
            for g in prediction.top_k
        ],
    }
