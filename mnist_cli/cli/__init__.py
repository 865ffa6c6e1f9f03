"""The `mnist` command: a thin Typer layer that parses options, calls one core function, and
renders what comes back with render*.py. The only package that imports typer."""

from mnist_cli.cli import data, evaluate, predict, train  # noqa: F401 (registers the commands)
from mnist_cli.cli.app import app, main

__all__ = ["app", "main"]
