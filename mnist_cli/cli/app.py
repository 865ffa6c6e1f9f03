"""The `mnist` app: the Typer object, its global options, and the commands, registered here in
the order of the workflow. Each command lives in its own module of this package and imports torch
inside its function, so that `mnist --help` stays fast.
"""

from __future__ import annotations

import re
from typing import Annotated

import typer
from rich.console import Console
from typer.core import TyperCommand, TyperGroup

from mnist_cli import __version__
from mnist_cli.cli import download, evaluate, export, info, predict, serve, train, tune
from mnist_cli.cli.options import QUIET_HELP
from mnist_cli.cli.output import Output


def _plain_flags(params: list) -> list:
    """Typer's own help shows Python's types where a person reads a value: `<bool>` beside
    every flag (as if it took a value), `<list[Path]>` beside a value given again and again,
    and `{IMAGE}...` in the usage line. Show nothing, `<path>` and `IMAGE...` instead."""
    for param in params:
        if getattr(param, "is_flag", False):
            param.metavar = ""
        if hasattr(param, "display_type_rich") and not hasattr(param, "_readable_type"):
            param._readable_type = True
            param.display_type_rich = _readable_type(param.display_type_rich)
        if getattr(param, "param_type_name", "") == "argument":
            param._usage_display_name = _usage_name(param)
    return params


LIST_TYPE = re.compile(r"<list\[(\w+)\]>")
TYPE_WORDS = {"str": "text"}


def _readable_type(shown):
    """`<list[Path]>` -> `<path>`, `<list[str]>` -> `<text>`; anything else as Typer shows it."""

    def readable(ctx) -> str | None:
        text = shown(ctx)
        if text is None:
            return None
        return LIST_TYPE.sub(lambda m: f"<{TYPE_WORDS.get(m[1], m[1].lower())}>", text)

    return readable


def _usage_name(param):
    """How an argument reads in the usage line: `IMAGE...` when required, `[CHECKPOINT]...`
    when it may be left out (POSIX's own notation)."""

    def name() -> str:
        text = param.metavar or param.name.upper()
        text += "..." if param.nargs != 1 else ""
        return text if param.required else f"[{text}]"

    return name


class _Command(TyperCommand):
    def get_params(self, ctx):
        return _plain_flags(super().get_params(ctx))


class _Group(TyperGroup):
    def get_params(self, ctx):
        return _plain_flags(super().get_params(ctx))


app = typer.Typer(
    name="mnist",
    help="The whole MNIST workflow in one command: download, train, evaluate, predict.",
    epilog="Start with [bold]mnist train[/]: it downloads the data if needed.",
    cls=_Group,
    no_args_is_help=True,
    add_completion=True,  # --install-completion for bash, zsh, fish and PowerShell
    pretty_exceptions_enable=False,  # tracebacks with locals can leak paths and data
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)

app.command("download", epilog=download.EXAMPLES, cls=_Command)(download.download)
app.command("train", epilog=train.EXAMPLES, cls=_Command)(train.train)
app.command("evaluate", epilog=evaluate.EXAMPLES, cls=_Command)(evaluate.evaluate)
app.command("predict", epilog=predict.EXAMPLES, cls=_Command)(predict.predict)
app.command("info", epilog=info.EXAMPLES, cls=_Command)(info.info)
app.command("export", epilog=export.EXAMPLES, cls=_Command)(export.export)
app.command("tune", epilog=tune.EXAMPLES, cls=_Command)(tune.tune)
app.command("serve", epilog=serve.EXAMPLES, cls=_Command)(serve.serve)


def _version(value: bool) -> None:
    if value:
        Console(highlight=False).print(f"mnist {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help=QUIET_HELP)] = False,
    debug: Annotated[
        bool,
        typer.Option("--debug", help="Show the traceback of any error (as MNIST_DEBUG=1 does)."),
    ] = False,
) -> None:
    """The whole MNIST workflow in one command: download, train, evaluate, predict."""
    ctx.obj = Output.create(quiet=quiet, debug=debug)
