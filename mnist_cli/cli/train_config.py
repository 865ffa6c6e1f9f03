"""Where each setting of `mnist train` comes from: an option given on the command line (or from
the environment) wins over the `--config` file, which wins over the default."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from mnist_cli.config import TrainConfig

if TYPE_CHECKING:
    from mnist_cli.train.tensorboard import TensorBoardLog

# A config field -> the name of train()'s parameter, where the two differ.
OPTION_NAMES = {"compile": "compile_model"}
GIVEN = ("COMMANDLINE", "ENVIRONMENT")


def _given_here(ctx: typer.Context, name: str) -> bool:
    source = ctx.get_parameter_source(OPTION_NAMES.get(name, name))
    return source is not None and source.name in GIVEN


def train_config(ctx: typer.Context, config_file: Path | None) -> tuple[TrainConfig, dict]:
    """(the run's TrainConfig, the fields the user set: on the command line, from the
    environment or in the --config file; --resume refuses a change to any of them)."""
    from_file: dict[str, Any] = {}
    if config_file is not None:
        from mnist_cli.config_file import read_config_file

        from_file = read_config_file(config_file)
    values, given = {}, {}
    for field in fields(TrainConfig):
        value = ctx.params[OPTION_NAMES.get(field.name, field.name)]
        if isinstance(value, Path):
            value = str(value)
        if field.name in from_file and not _given_here(ctx, field.name):
            value = from_file[field.name]
        if field.name in from_file or _given_here(ctx, field.name):
            given[field.name] = value
        values[field.name] = value
    return TrainConfig(**values), given


def check_start(config: TrainConfig, resume: bool, tensorboard: Path | None) -> None:
    """Before torch is imported: --init-from names a checkpoint file and starts a new run, and
    --tensorboard's package and folder are there (a missing one must not cost a run)."""
    from mnist_cli.errors import MnistError
    from mnist_cli.paths import check_checkpoint_file

    if config.init_from is not None:
        if resume:
            raise MnistError(
                "--init-from starts a new run and --resume goes on with one: give one of them"
            )
        check_checkpoint_file(Path(config.init_from))
    if tensorboard is not None:
        from mnist_cli.train.tensorboard import check_tensorboard

        check_tensorboard(tensorboard)


@contextmanager
def epoch_listeners(
    display_epoch: Callable, tensorboard: Path | None, config: TrainConfig, is_main: bool
) -> Iterator[tuple[Callable, TensorBoardLog | None]]:
    """(the on_epoch callback for the loop, the TensorBoard log or None): the row on the
    screen, and on rank 0 the epoch's scalars in --tensorboard's event file, closed after."""
    if tensorboard is None or not is_main:
        yield display_epoch, None
        return
    from mnist_cli.train.tensorboard import TensorBoardLog

    board = TensorBoardLog(tensorboard, config)

    def on_epoch(record) -> None:
        board.epoch(record)
        display_epoch(record)

    try:
        yield on_epoch, board
    finally:
        board.close()
