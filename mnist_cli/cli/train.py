"""`mnist train`: options -> TrainConfig -> the training loop, with live progress."""

from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path

import typer

from mnist_cli import render
from mnist_cli.cli.app import (
    DATA_DIR,
    DATASET,
    DEFAULTS,
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


def _per_optimizer(defaults: dict) -> str:
    return ", ".join(f"{value} with {name}" for name, value in defaults.items())


@app.command(
    epilog="Examples:\n\n"
    "  mnist train\n\n"
    "  mnist train --epochs 40 --device cuda --plot curves.png\n\n"
    "  mnist train --dataset fashion-mnist\n\n"
    "  mnist train --model mlp --optimizer sgd --lr 0.01 --batch-size 64 --epochs 40"
    " --no-augment --label-smoothing 0   (the classic exercise)"
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
    apply_quiet(quiet)
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
    with handled():
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
        ensure_data(get_dataset(config.dataset), data_dir, quiet=False)
        with TrainDisplay(config.epochs, report, done) as display, stop_on_signals() as stop:
            result = run_training(
                config, data_dir, checkpoint, display.step, display.end_epoch, stop, resume=resumed
            )
        if plot:
            plot_history(result.history, plot)
    if as_json:
        emit_json(
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
