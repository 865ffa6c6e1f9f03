"""`mnist info`: what a checkpoint holds, read from the file alone (no data, nothing run)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mnist_cli.cli.options import Json, Quiet, checkpoint_argument, refuse_export
from mnist_cli.cli.output import output_of
from mnist_cli.cli.report import info_report
from mnist_cli.config import DEFAULT_CHECKPOINT
from mnist_cli.documents import checkpoint_info
from mnist_cli.errors import MnistError
from mnist_cli.paths import check_checkpoint_file

if TYPE_CHECKING:
    from mnist_cli.checkpoint.read import Checkpoint

EXAMPLES = (
    "Examples:\n\n  mnist info\n\n  mnist info runs/big.pt --json\n\n"
    "  mnist info ckpt.pt --config > run.toml   (then: mnist train --config run.toml)"
)


def info(
    ctx: typer.Context,
    checkpoint: checkpoint_argument("The checkpoint to describe.") = DEFAULT_CHECKPOINT,
    as_config: Annotated[
        bool,
        typer.Option(
            "--config",
            help="Print the run's settings as TOML, which `mnist train --config` takes.",
        ),
    ] = False,
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Say what a checkpoint holds (model, training, scores), without touching the data."""
    output = output_of(ctx, quiet)
    with output.handled():
        if as_config and as_json:
            raise MnistError("--config and --json each print one document: give one of them")
        check_checkpoint_file(checkpoint)  # before torch is imported: a typo costs no time
        refuse_export(checkpoint, "info")
        from mnist_cli.checkpoint.read import load_checkpoint

        loaded = load_checkpoint(checkpoint)
        size = Path(checkpoint).stat().st_size
        if as_config:
            settings = _settings(checkpoint, loaded)
    if as_config:
        sys.stdout.write(settings)  # past rich: no wrapping, no markup
    elif as_json:
        output.json(checkpoint_info(checkpoint, loaded, size))
    else:
        info_report(output, checkpoint, loaded, size)


def _settings(path: Path, checkpoint: Checkpoint) -> str:
    """The TOML that `mnist train --config` takes to run `checkpoint`'s training again."""
    from mnist_cli.config_file import config_toml

    if checkpoint.config is None:
        raise MnistError(
            f"{path} holds no settings this version of mnist can read: it cannot print them"
        )
    return config_toml(checkpoint.config, f"the settings of {path}: mnist train --config FILE")
