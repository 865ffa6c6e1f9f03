"""How a command talks to the person: one `Output` object per run of the app (the consoles,
--quiet, --debug), made by the app's callback and handed to every renderer, and the one place
where errors become a red line on stderr and an exit code.

Tables go to stdout; progress, notes, errors and, under --json, everything else go to stderr.
Colour follows NO_COLOR and FORCE_COLOR, read when the Output is made, not at import time.

What a file or a user gave (class names, a dataset, a config's strings, a path) reaches the
screen only through `printable` (or `shown`, the same for Rich markup): a control character,
ESC, a C1 code or a newline is shown escaped, never obeyed, and a one-line error stays one line.
JSON goes out through `Output.json` alone, which writes strict JSON (RFC 8259): a number that is
not finite is written as null.
"""

from __future__ import annotations

import json
import math
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from mnist_cli.errors import SIGINT_EXIT, SIGTERM_EXIT, Interrupted, MnistError, Terminated

DEBUG_ENV = "MNIST_DEBUG"  # set and not "0": the same as --debug


def printable(text: object) -> str:
    """`text` safe for a terminal: each character Python does not call printable (C0 and C1
    control codes, ESC, DEL, newlines, tabs, bidi and other format characters) written as a
    Python string literal writes it (`\\x1b`, `\\n`, `\\u202e`); everything else as it is."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def shown(text: object) -> str:
    """`printable(text)`, with Rich markup escaped too: for a value put into a table or a line
    of markup."""
    return escape(printable(text))


def finite(document: Any) -> Any:
    """`document` (dicts, lists, tuples, scalars) with every float that is not finite as None:
    what JSON can say of NaN and infinity."""
    if isinstance(document, float):
        return document if math.isfinite(document) else None
    if isinstance(document, dict):
        return {key: finite(value) for key, value in document.items()}
    if isinstance(document, list | tuple):
        return [finite(value) for value in document]
    return document


def _stdout() -> Console:
    return Console(highlight=False)


def _stderr() -> Console:
    return Console(stderr=True, highlight=False)


@dataclass(frozen=True)
class Output:
    """The consoles of one run and how much to say on them."""

    out: Console = field(default_factory=_stdout)  # results
    err: Console = field(default_factory=_stderr)  # progress, notes, errors
    quiet: bool = False  # --quiet: no progress, no notes; results and errors only
    debug: bool = False  # --debug: a traceback before the error line

    @classmethod
    def create(cls, quiet: bool = False, debug: bool = False) -> Output:
        """A fresh Output: consoles that read NO_COLOR now; MNIST_DEBUG turns debug on."""
        debug = debug or os.environ.get(DEBUG_ENV, "") not in ("", "0")
        return cls(quiet=quiet, debug=debug)

    def quieter(self, quiet: bool) -> Output:
        """This Output, quiet if a command's own --quiet asks (as `mnist --quiet CMD` does)."""
        return replace(self, quiet=True) if quiet else self

    @property
    def live(self) -> bool:
        """Whether live progress bars may be drawn: not quiet, and stderr is a terminal."""
        return not self.quiet and self.err.is_terminal

    def error_line(self, message: str) -> None:
        """One line on stderr, however long: scripts and people both read it whole."""
        self.err.print(f"[bold red]error:[/] {shown(message)}", soft_wrap=True)

    def warning_line(self, message: str) -> None:
        """One yellow line on stderr, even under --quiet: something the user must know."""
        self.err.print(f"[bold yellow]warning:[/] {shown(message)}", soft_wrap=True)

    def stopped_line(self, message: str) -> None:
        """A stop the user asked for (Ctrl-C, SIGTERM): one plain line, not an error."""
        self.err.print(shown(message), soft_wrap=True)

    def note(self, message: str) -> None:
        if not self.quiet:
            self.err.print(shown(message), soft_wrap=True)

    def json(self, document: Any) -> None:
        """One JSON document on stdout, written past rich (no wrapping, no markup): strict JSON,
        a number that is not finite written as null (docs/json.md)."""
        sys.stdout.write(json.dumps(finite(document), indent=2, allow_nan=False) + "\n")

    @contextmanager
    def handled(self) -> Iterator[None]:
        """Turn our errors, Ctrl-C and anything unexpected into one line on stderr and an exit
        code. With --debug, the traceback comes first; the exit code stays the same."""
        try:
            yield
        except typer.Exit:
            raise
        except (MnistError, KeyboardInterrupt, Exception) as error:
            if self.debug:
                traceback.print_exc()
            if isinstance(error, Interrupted):
                self.stopped_line(str(error))
                raise typer.Exit(error.exit_code) from None
            if isinstance(error, MnistError):
                self.error_line(str(error))
                raise typer.Exit(error.exit_code) from None
            if isinstance(error, KeyboardInterrupt):
                terminated = isinstance(error, Terminated)
                self.stopped_line(stop_message(terminated))
                raise typer.Exit(SIGTERM_EXIT if terminated else SIGINT_EXIT) from None
            self.error_line(
                f"unexpected {type(error).__name__}: {error} (--debug shows the traceback)"
            )
            raise typer.Exit(1) from None


def stop_message(terminated: bool) -> str:
    """The line a command stopped by a signal ends with."""
    return "terminated (SIGTERM)" if terminated else "interrupted (Ctrl-C)"


def output_of(ctx: typer.Context, quiet: bool = False) -> Output:
    """The Output the app's callback made for this run, quieter if the command says so."""
    output = ctx.find_object(Output) or Output.create()
    return output.quieter(quiet)
