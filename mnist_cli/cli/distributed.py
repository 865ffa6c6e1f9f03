"""The command line's side of data-parallel training: `--nproc N`, which starts the same command
as N ranks on this machine, and the rule that under torchrun only rank 0 speaks (which outputs
rank 0 checks and locks: cli/train_outputs.py)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from mnist_cli.cli.options import RUNTIME
from mnist_cli.cli.output import DEBUG_ENV, Output
from mnist_cli.errors import ClusterError, Interrupted, MnistError

if TYPE_CHECKING:
    from mnist_cli.checkpoint.read import Checkpoint
    from mnist_cli.config import TrainConfig
    from mnist_cli.train.cluster import Cluster
    from mnist_cli.train.interrupts import StopRequest

Nproc = Annotated[
    int | None,
    typer.Option(
        "--nproc",
        min=1,
        metavar="N",
        rich_help_panel=RUNTIME,
        help="N processes (torchrun), sharing each batch.",
    ),
]

COMMAND = "train"


@contextmanager
def rank_errors(output: Output, cluster: Cluster, stop: StopRequest) -> Iterator[None]:
    """Ranks other than 0 end with the same exit code but leave the error line to rank 0, which
    meets the same error; except when the others are gone, which each rank says for itself, at
    once: the launcher ends a rank that outlives the others with SIGTERM, which the signal
    handlers of training (still in place here) turn into a mere request to stop. A rank that
    a user stopped exits as its own signal says (143 after SIGTERM, as stop_on_signals has it)."""
    try:
        yield
    except ClusterError as error:
        output.error_line(str(error))
        raise typer.Exit(error.exit_code) from None
    except MnistError as error:
        if cluster.is_main:
            raise
        code = stop.exit_code if isinstance(error, Interrupted) else error.exit_code
        raise typer.Exit(code) from None


def announce(output: Output, cluster: Cluster, config: TrainConfig) -> None:
    """Under torchrun, rank 0 says how the run is split before it starts."""
    if cluster.distributed:
        from mnist_cli.config import for_device
        from mnist_cli.inference.device import resolve_device

        batch_size = for_device(config, resolve_device(config.device).type).batch_size
        output.note(
            f"training as {cluster.world_size} processes: each takes "
            f"{batch_size / cluster.world_size:g} images of every batch of {batch_size}"
        )


def run_on_processes(
    ctx: typer.Context, output: Output, nproc: int, resumed: Checkpoint | None
) -> None:
    """Start this very command again as `nproc` ranks on this machine, and exit as they did."""
    from mnist_cli.train.cluster import Cluster, from_environment
    from mnist_cli.train.distributed import check_resume
    from mnist_cli.train.launch import launch

    if from_environment().distributed:
        raise MnistError("--nproc starts torchrun itself: leave it out when running under torchrun")
    check_resume(resumed, Cluster(world_size=nproc), ctx.params["checkpoint"])
    if output.debug:
        os.environ[DEBUG_ENV] = "1"  # the ranks inherit this process's environment
    if output.quiet:
        arguments = ["--quiet", *_arguments(ctx)]
    else:
        arguments = _arguments(ctx)
    launched = launch(nproc, [*_program(), COMMAND, *arguments])
    if launched.message:
        raise ClusterError(launched.message)
    if launched.exit_code:
        raise typer.Exit(launched.exit_code)


def _program() -> list[str]:
    """How this process was started, up to the command: `python -m mnist_cli`, the `mnist`
    script, or another module that runs the app (the tests' tiny_cli, with its arguments)."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    start = ["-m", spec.name.removesuffix(".__main__")] if spec is not None else [sys.argv[0]]
    rest = sys.argv[1:]
    before = rest[: rest.index(COMMAND)] if COMMAND in rest else []
    return [sys.executable, *start, *before]


def _arguments(ctx: typer.Context) -> list[str]:
    """The options of this command that the user gave, less --nproc, as command-line words."""
    words: list[str] = []
    for param in ctx.command.params:
        source = ctx.get_parameter_source(param.name)
        if param.name == "nproc" or source is None or source.name != "COMMANDLINE":
            continue
        value = ctx.params[param.name]
        if getattr(param, "is_flag", False):
            secondary = getattr(param, "secondary_opts", [])
            if value or secondary:
                words.append(param.opts[0] if value else secondary[0])
        else:
            words += [param.opts[0], str(value)]
    return words
