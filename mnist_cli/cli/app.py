"""The `mnist` app itself: the Typer object, the options several commands share, and the one
place where errors become a red line and an exit code. Each command lives in its own module of
this package; torch is imported inside the commands, so that `mnist --help` stays fast.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from contextlib import contextmanager

import typer

from mnist_cli import __version__, render
from mnist_cli.config import (
    DATA_DIR_ENV,
    DEFAULT_DATA_DIR,
    TrainConfig,
)
from mnist_cli.errors import MnistError

DEFAULTS = TrainConfig()

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


def apply_quiet(quiet: bool) -> None:
    """A command's own --quiet, the same as `mnist --quiet COMMAND`."""
    if quiet:
        render.configure(quiet_output=True)


@contextmanager
def handled():
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


def emit_json(document) -> None:
    sys.stdout.write(json.dumps(document, indent=2) + "\n")
