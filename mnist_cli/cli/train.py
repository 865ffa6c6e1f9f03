"""`mnist train`: options -> TrainConfig -> the training loop, with live progress."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from mnist_cli.cli.distributed import (
    Nproc,
    announce,
    rank_errors,
    run_on_processes,
)
from mnist_cli.cli.download import ensure_data
from mnist_cli.cli.options import (
    DEFAULTS,
    DataDir,
    Dataset,
    Device,
    Json,
    Quiet,
)
from mnist_cli.cli.output import output_of
from mnist_cli.cli.report import training_summary
from mnist_cli.cli.train_config import check_start, epoch_listeners, train_config
from mnist_cli.cli.train_options import (
    Augment,
    BatchSize,
    CheckpointPath,
    ClosedFours,
    Compile,
    ConfigFile,
    Elastic,
    Epochs,
    InitFrom,
    LabelSmoothing,
    LearningRate,
    ModelOption,
    Optimizer,
    Plot,
    Precision,
    Resume,
    Schedule,
    Seed,
    TensorBoard,
    Thickness,
    Threads,
    ValSplit,
    WeightDecay,
    Width,
)
from mnist_cli.cli.train_outputs import claim_train_outputs
from mnist_cli.config import (
    DEFAULT_CHECKPOINT,
    DEFAULT_DATA_DIR,
    TrainConfig,
    check_threads,
)

if TYPE_CHECKING:
    from mnist_cli.train.loop import TrainResult

EXAMPLES = (
    "Examples:\n\n"
    "  mnist train\n\n"
    "  mnist train --epochs 40 --device cuda --plot curves.png\n\n"
    "  mnist train --dataset fashion-mnist --config run.toml --init-from old.pt\n\n"
    "  mnist train --model mlp --optimizer sgd --lr 0.01 --batch-size 64 --epochs 40"
    " --no-augment --label-smoothing 0   (the classic exercise)"
)


def train(
    ctx: typer.Context,
    config_file: ConfigFile = None,
    dataset: Dataset = DEFAULTS.dataset,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    augment: Augment = DEFAULTS.augment,
    val_split: ValSplit = DEFAULTS.val_split,
    elastic: Elastic = None,
    thickness: Thickness = None,
    closed_fours: ClosedFours = DEFAULTS.closed_fours,
    model: ModelOption = DEFAULTS.model,
    width: Width = None,
    seed: Seed = DEFAULTS.seed,
    epochs: Epochs = DEFAULTS.epochs,
    batch_size: BatchSize = DEFAULTS.batch_size,
    optimizer: Optimizer = DEFAULTS.optimizer,
    lr: LearningRate = None,
    schedule: Schedule = None,
    weight_decay: WeightDecay = DEFAULTS.weight_decay,
    label_smoothing: LabelSmoothing = DEFAULTS.label_smoothing,
    device: Device = DEFAULTS.device,
    threads: Threads = None,
    precision: Precision = DEFAULTS.precision,
    compile_model: Compile = DEFAULTS.compile,
    init_from: InitFrom = None,
    nproc: Nproc = None,
    checkpoint: CheckpointPath = DEFAULT_CHECKPOINT,
    resume: Resume = False,
    plot: Plot = None,
    tensorboard: TensorBoard = None,
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Train a classifier and save it as a checkpoint after every epoch."""
    output = output_of(ctx, quiet)
    # Before torch is imported: no file of the user's is replaced; one run per checkpoint.
    # Under torchrun, rank 0 alone checks and locks them; it alone speaks.
    with output.handled(), claim_train_outputs(nproc, checkpoint, plot, resume) as cluster:
        config, given = train_config(ctx, config_file)
        check_threads(config.threads)
        check_start(config, resume, tensorboard)
        from mnist_cli.cli.plot import check_plot, plot_history

        if plot and cluster.is_main:  # before any work: no run is spent on a refusal
            check_plot(plot)  # only a picture mnist drew is replaced; matplotlib is there
        from mnist_cli.cli.progress import TrainDisplay
        from mnist_cli.data.store import get_dataset
        from mnist_cli.train.interrupts import stop_on_signals
        from mnist_cli.train.loop import train as run_training

        output = output.quieter(not cluster.is_main)
        resumed = None
        if resume:
            from mnist_cli.train.resume import resumed_run

            config, resumed = resumed_run(checkpoint, given)
        done = len(resumed.history) if resumed else 0
        ensure_data(output, get_dataset(config.dataset), data_dir, quiet=False)
        if nproc is not None and nproc > 1:
            return run_on_processes(ctx, output, nproc, resumed)
        report = output.err if as_json else output.out
        announce(output, cluster, config)
        with (
            TrainDisplay(output, config.epochs, report, done) as display,
            epoch_listeners(display.end_epoch, tensorboard, config, cluster.is_main) as listen,
            stop_on_signals() as stop,
            rank_errors(output, cluster, stop),
        ):
            on_epoch, board = listen
            result = run_training(
                config, data_dir, checkpoint, display.step, on_epoch, stop, resume=resumed
            )
            if board is not None:
                board.finish(result.config, result.checkpoint, data_dir)
        if plot and cluster.is_main:
            plot_history(result.history, plot)
        if not cluster.is_main:
            return
        failed_export = _export_for_predict(result.checkpoint, data_dir)
    if failed_export:
        output.note(failed_export)
    if as_json:
        output.json(_json(result.config, result))
        return
    training_summary(output, config.model, result)
    if plot:
        output.note(f"learning curves in {plot}")
    if tensorboard:
        output.note(f"TensorBoard event files in {tensorboard}: tensorboard --logdir {tensorboard}")


def _export_for_predict(checkpoint: Path, data_dir: Path) -> str | None:
    """`ckpt.onnx` beside the checkpoint, so that a plain `mnist predict` needs no torch
    (export/formats.py), written silently as `ckpt.jsonl` is; a note if it could not be."""
    from mnist_cli.errors import MnistError
    from mnist_cli.export.formats import export_beside

    try:
        export_beside(checkpoint, data_dir)
    except MnistError as error:
        return f"no ONNX export beside {checkpoint} ({error}): `mnist predict` will use torch"
    return None


def _json(config: TrainConfig, result: TrainResult) -> dict:
    """The document `mnist train --json` prints."""
    return {
        "test_accuracy": result.final.test_accuracy,
        "test_loss": result.final.test_loss,
        "epochs": len(result.history),
        "checkpoint": str(result.checkpoint),
        "model": config.model,
        "parameters": result.parameters,
        "device": result.device,
        "threads": result.threads,
        "world_size": result.world_size,
        "seconds": result.seconds,
        "temperature": result.temperature,
        "config": {**asdict(config), "threads": result.threads},  # as the checkpoint says
        "history": [asdict(row) for row in result.history],
    }
