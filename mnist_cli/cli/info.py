"""`mnist info`: what a checkpoint holds, read from the file alone (no data, nothing run)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mnist_cli.cli.options import Json, Quiet
from mnist_cli.cli.output import output_of
from mnist_cli.cli.report import info_report
from mnist_cli.config import DEFAULT_CHECKPOINT
from mnist_cli.documents import checkpoint_info
from mnist_cli.paths import check_checkpoint_file

EXAMPLES = "Examples:\n\n  mnist info\n\n  mnist info runs/big.pt --json"


def info(
    ctx: typer.Context,
    checkpoint: Annotated[
        Path, typer.Argument(metavar="CHECKPOINT", help="The checkpoint to describe.")
    ] = DEFAULT_CHECKPOINT,
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Say what a checkpoint holds (model, training, scores), without touching the data."""
    output = output_of(ctx, quiet)
    with output.handled():
        check_checkpoint_file(checkpoint)  # before torch is imported: a typo costs no time
        from mnist_cli.checkpoint import load_checkpoint

        loaded = load_checkpoint(checkpoint)
        size = Path(checkpoint).stat().st_size
    if as_json:
        output.json(checkpoint_info(checkpoint, loaded, size))
    else:
        info_report(output, checkpoint, loaded, size)
