"""The `mnist` entry point, also run by `python -m mnist_cli`: the app, with Ctrl-C and SIGTERM
turned into one plain line and exit 130 or 143 at any moment, start-up included (the app and its
libraries are imported only once the handlers are in place)."""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence

from mnist_cli.errors import SIGINT_EXIT, SIGTERM_EXIT, Terminated


def _terminate(number, frame) -> None:
    raise Terminated


def _interrupt_in(error: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C or SIGTERM that Typer turned into a silent exit 130, if any."""
    while error is not None:
        if isinstance(error, KeyboardInterrupt):
            return error
        # `raise ... from None` (as Output.handled does, having printed its line) ends the chain
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    return None


def _stop(interrupt: KeyboardInterrupt) -> None:
    terminated = isinstance(interrupt, Terminated)
    sys.stderr.write(("terminated (SIGTERM)" if terminated else "interrupted (Ctrl-C)") + "\n")
    sys.exit(SIGTERM_EXIT if terminated else SIGINT_EXIT)


def main(args: Sequence[str] | None = None) -> None:
    """Run the app on `args` (the command line when None)."""
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, _terminate)
    try:
        from mnist_cli.cli.app import app

        app(args=args, prog_name="mnist")
    except SystemExit as exiting:
        interrupt = _interrupt_in(exiting.__context__)
        if interrupt is None:
            raise
        _stop(interrupt)
    except KeyboardInterrupt as interrupt:
        _stop(interrupt)


if __name__ == "__main__":
    main()
