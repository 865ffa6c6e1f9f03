"""`mnist train`: options -> TrainConfig -> the training loop, with live progress."""

from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mnist_cli.cli.distributed import (
    Nproc,
    announce,
    rank_errors,
    rank_outputs,
    run_on_processes,
)
from mnist_cli.cli.download import ensure_data
from mnist_cli.cli.options import (
    DATA,
    DEFAULTS,
    MODEL,
    OPTIMISATION,
    OUTPUT,
    RUNTIME,
    DataDir,
    Dataset,
    Device,
    Json,
    Quiet,
    choices,
)
from mnist_cli.cli.output import output_of
from mnist_cli.cli.report import training_summary
from mnist_cli.config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_CHECKPOINT,
    DEFAULT_DATA_DIR,
    DEFAULT_LR,
    DEFAULT_SCHEDULE,
    DEVICE_BATCH_SIZE,
    ModelName,
    OptimizerName,
    PrecisionName,
    ScheduleName,
    TrainConfig,
    check_threads,
)

if TYPE_CHECKING:
    from mnist_cli.train.loop import TrainResult

EXAMPLES = (
    "Examples:\n\n"
    "  mnist train\n\n"
    "  mnist train --epochs 40 --device cuda --plot curves.png\n\n"
    "  mnist train --dataset fashion-mnist\n\n"
    "  mnist train --model mlp --optimizer sgd --lr 0.01 --batch-size 64 --epochs 40"
    " --no-augment --label-smoothing 0   (the classic exercise)"
)


def _per_optimizer(defaults: dict) -> str:
    return ", ".join(f"{value} with {name}" for name, value in defaults.items())


def _option(*names: str, panel: str, **settings) -> typer.models.OptionInfo:
    return typer.Option(*names, rich_help_panel=panel, **settings)


ModelOption = Annotated[
    ModelName,
    _option("--model", metavar="NAME", panel=MODEL, help=f"{choices(ModelName)}: the network."),
]
Epochs = Annotated[
    int, _option("--epochs", min=1, metavar="N", panel=OPTIMISATION, help="Passes over the data.")
]
BatchSize = Annotated[
    int | None,
    _option(
        "--batch-size",
        min=1,
        metavar="N",
        panel=OPTIMISATION,
        help="Images per optimiser step. \\[default: "
        f"{DEFAULT_BATCH_SIZE}; {DEVICE_BATCH_SIZE['cuda']} on CUDA, at twice the default --lr]",
    ),
]
Optimizer = Annotated[
    OptimizerName,
    _option(
        "--optimizer",
        metavar="NAME",
        panel=OPTIMISATION,
        help=f"{choices(OptimizerName)}; sgd is plain gradient descent, as in the exercise.",
    ),
]
LearningRate = Annotated[
    float | None,
    _option(
        "--lr",
        min=0.0,
        metavar="RATE",
        panel=OPTIMISATION,
        help=f"Peak learning rate. \\[default: {_per_optimizer(DEFAULT_LR)}]",
    ),
]
Schedule = Annotated[
    ScheduleName | None,
    _option(
        "--schedule",
        metavar="NAME",
        panel=OPTIMISATION,
        help="onecycle warms up, then anneals to zero; constant keeps --lr."
        f" \\[default: {_per_optimizer(DEFAULT_SCHEDULE)}]",
    ),
]
WeightDecay = Annotated[
    float,
    _option(
        "--weight-decay",
        min=0.0,
        metavar="RATE",
        panel=OPTIMISATION,
        help="AdamW's decoupled weight decay.",
    ),
]
Augment = Annotated[
    bool,
    _option(
        "--augment/--no-augment",
        panel=DATA,
        help="Randomly rotate, zoom and shift each training batch a little.",
    ),
]


def _recipe_option(flag: str, metavar: str, panel: str, help: str, **limits):
    """An option whose default the recipe picks from --epochs (docs/training.md#long-runs)."""
    help = f"{help} \\[default: by --epochs]"
    return _option(flag, metavar=metavar, panel=panel, help=help, **limits)


Width = Annotated[
    int | None,
    _recipe_option(
        "--width",
        "N",
        MODEL,
        "cnn channels (x2 in conv 2).",
    ),
]
Elastic = Annotated[
    float | None,
    _recipe_option(
        "--elastic",
        "PIXELS",
        DATA,
        "Bend digits.",
    ),
]
Thickness = Annotated[
    float | None,
    _recipe_option(
        "--thickness",
        "SHARE",
        DATA,
        "Ink width.",
    ),
]
LabelSmoothing = Annotated[
    float,
    _option(
        "--label-smoothing",
        metavar="SHARE",
        min=0.0,
        max=0.99,
        panel=OPTIMISATION,
        help="Share of each target spread over the other classes.",
    ),
]
Threads = Annotated[
    int | None,
    _option(
        "--threads",
        min=1,
        metavar="N",
        panel=RUNTIME,
        help="CPU threads. \\[default: one per free core]",
    ),
]
Precision = Annotated[
    PrecisionName,
    _option(
        "--precision",
        metavar="NAME",
        panel=RUNTIME,
        help=f"{choices(PrecisionName)}; auto is bf16 autocast on CUDA, fp32 elsewhere.",
    ),
]
Compile = Annotated[
    bool,
    _option(
        "--compile", panel=RUNTIME, help="torch.compile the model: slower start, faster steps."
    ),
]
Seed = Annotated[
    int,
    _option(
        "--seed", metavar="N", panel=MODEL, help="Same seed and --threads, same run (on the CPU)."
    ),
]
CheckpointPath = Annotated[
    Path,
    _option(
        "--checkpoint",
        metavar="FILE",
        panel=OUTPUT,
        help="Written after every epoch, with a line per epoch in the .jsonl beside it.",
    ),
]
Plot = Annotated[
    Path | None,
    _option(
        "--plot",
        metavar="FILE",
        panel=OUTPUT,
        help="Draw the learning curves into this PNG (needs matplotlib).",
    ),
]
ValSplit = Annotated[
    int,
    _option(
        "--val-split",
        min=0,
        metavar="N",
        panel=DATA,
        help="Training images held out (chosen by --seed) to score each epoch and fit the"
        " temperature of the probabilities; at most a tenth of them. 0: train on all.",
    ),
]
Resume = Annotated[
    bool,
    _option(
        "--resume",
        panel=OUTPUT,
        help="Go on with the run saved at --checkpoint, exactly where it stopped. Only --epochs"
        " (with --schedule constant), --device, --threads, --precision and --compile may change.",
    ),
]


def train(
    ctx: typer.Context,
    dataset: Dataset = DEFAULTS.dataset,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    augment: Augment = DEFAULTS.augment,
    val_split: ValSplit = DEFAULTS.val_split,
    elastic: Elastic = None,
    thickness: Thickness = None,
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
    nproc: Nproc = None,
    checkpoint: CheckpointPath = DEFAULT_CHECKPOINT,
    resume: Resume = False,
    plot: Plot = None,
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Train a classifier and save it as a checkpoint after every epoch."""
    output = output_of(ctx, quiet)
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
        width=width,
        elastic=elastic,
        thickness=thickness,
        device=device,
        seed=seed,
        threads=threads,
        precision=precision,
        compile=compile_model,
        val_split=val_split,
    )
    # Before torch is imported: no file of the user's is replaced; one run per checkpoint.
    # Under torchrun, rank 0 alone checks and locks them; it alone speaks.
    with output.handled(), rank_outputs(nproc, checkpoint, plot, resume) as cluster:
        check_threads(threads)
        from mnist_cli.cli.plot import check_plot, plot_history
        from mnist_cli.cli.progress import TrainDisplay
        from mnist_cli.data.store import get_dataset
        from mnist_cli.train.interrupts import stop_on_signals
        from mnist_cli.train.loop import train as run_training

        output = output.quieter(not cluster.is_main)
        resumed = None
        if resume:
            from mnist_cli.train.resume import resumed_run

            config, resumed = resumed_run(checkpoint, _given(ctx, config))
        done = len(resumed.history) if resumed else 0
        if plot:
            check_plot(plot)  # before training: a missing matplotlib must not cost a run
        ensure_data(output, get_dataset(config.dataset), data_dir, quiet=False)
        if nproc is not None and nproc > 1:
            return run_on_processes(ctx, output, nproc, resumed)
        report = output.err if as_json else output.out
        announce(output, cluster, config)
        with (
            TrainDisplay(output, config.epochs, report, done) as display,
            stop_on_signals() as stop,
            rank_errors(output, cluster, stop),
        ):
            result = run_training(
                config, data_dir, checkpoint, display.step, display.end_epoch, stop, resume=resumed
            )
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
