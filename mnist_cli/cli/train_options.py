"""The options of `mnist train`, one `Annotated` type each, in the help panels of cli/options.py.

The options every command shares live in cli/options.py; these are train's own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mnist_cli.cli.options import DATA, MODEL, OPTIMISATION, OUTPUT, RUNTIME, choices
from mnist_cli.config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_LR,
    DEFAULT_SCHEDULE,
    DEVICE_BATCH_SIZE,
    ModelName,
    OptimizerName,
    PrecisionName,
    ScheduleName,
)
from mnist_cli.models import models_taking


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
        f"{' and '.join(models_taking('width'))} channels (x2 in conv 2).",
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
ClosedFours = Annotated[
    float,
    _option(
        "--closed-fours",
        metavar="SHARE",
        panel=DATA,
        help="Add closed-top 4s.",
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
        help="Images held out to validate; 0: none.",
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
ConfigFile = Annotated[
    Path | None,
    _option(
        "--config",
        metavar="FILE",
        panel=None,  # all the settings at once: beside --help, above the panels
        help="Settings from a TOML file; options given win.",
    ),
]
InitFrom = Annotated[
    Path | None,
    _option(
        "--init-from",
        metavar="CKPT",
        panel=MODEL,
        help="Start a new run from this checkpoint's weights.",
    ),
]
TensorBoard = Annotated[
    Path | None,
    _option(
        "--tensorboard",
        metavar="DIR",
        panel=OUTPUT,
        help="TensorBoard logs in this folder.",
    ),
]
