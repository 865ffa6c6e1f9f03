"""The options several commands share, in Typer's `Annotated` form, and the help panels that
group a long option list. Defaults come from config.py, so each is written once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, get_args

import typer

from mnist_cli.config import DATA_DIR_ENV, DatasetName, DeviceName, TrainConfig

DEFAULTS = TrainConfig()

# Help panels, in the order a run flows.
DATA = "Data"
MODEL = "Model"
OPTIMISATION = "Optimisation"
RUNTIME = "Runtime"
OUTPUT = "Output"

QUIET_HELP = "No progress, no notes: results and errors only."


def choices(names) -> str:
    """'a, b or c' from a Literal type's values."""
    values = list(get_args(names))
    return ", ".join(values[:-1]) + f" or {values[-1]}" if len(values) > 1 else values[0]


DataDir = Annotated[
    Path,
    typer.Option(
        "--data-dir",
        envvar=DATA_DIR_ENV,
        metavar="DIR",
        help="Where the datasets live.",
        rich_help_panel=DATA,
    ),
]
Dataset = Annotated[
    DatasetName,
    typer.Option(
        "--dataset",
        metavar="NAME",
        help=f"{choices(DatasetName)}; qmnist10k is QMNIST scored on its 10k"
        " MNIST-compatible test images.",
        rich_help_panel=DATA,
    ),
]
Device = Annotated[
    DeviceName,
    typer.Option(
        "--device",
        metavar="NAME",
        help=f"{choices(DeviceName)}; auto picks cuda, then mps, then cpu.",
        rich_help_panel=RUNTIME,
    ),
]
Json = Annotated[
    bool,
    typer.Option(
        "--json", help="Print one JSON document on stdout and nothing else.", rich_help_panel=OUTPUT
    ),
]
Quiet = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help=QUIET_HELP,
        rich_help_panel=OUTPUT,
    ),
]


def checkpoint_argument(help: str):
    """The CHECKPOINT argument of a command that reads one (export, info, serve): a path,
    ckpt.pt when left out; `help` says what the command does with it."""
    return Annotated[Path, typer.Argument(metavar="CHECKPOINT", help=help)]


# What each kind of export is, by suffix, in the words of the line that refuses it.
EXPORTS = {".onnx": "an ONNX export", ".safetensors": "a safetensors export (the weights alone)"}


def refuse_export(path: Path, command: str) -> None:
    """A command that reads a checkpoint (.pt) refuses an export at once, saying what reads it,
    instead of calling it a damaged checkpoint. A checkpoint under an export's name is let by,
    and a path that is no file is left to the command's own check."""
    from mnist_cli.checkpoint.format import has_checkpoint_header
    from mnist_cli.errors import CheckpointError

    path = Path(path)
    kind = EXPORTS.get(path.suffix.lower())
    if kind is None or not path.is_file() or has_checkpoint_header(path):
        return
    readers = ""
    if path.suffix.lower() == ".onnx":
        readers = f"; `mnist evaluate {path}` and `mnist predict --checkpoint {path}` read it"
    raise CheckpointError(
        f"mnist {command} reads a checkpoint (.pt) and {path} is {kind}: give the checkpoint it"
        f" was exported from{readers}"
    )
