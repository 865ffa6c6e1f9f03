"""Ctrl-C and SIGTERM during training: the first one asks the loop to stop after the step in
progress (it then saves the checkpoint); a second one interrupts at once. The run then exits
with 130 after Ctrl-C, 143 after SIGTERM. While a checkpoint and its record are written as a
pair, signals wait."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from mnist_cli.errors import SIGINT_EXIT, SIGTERM_EXIT, Interrupted
from mnist_cli.train.cluster import launcher_death_deferred

SIGNALS = tuple(s for s in (signal.SIGINT, getattr(signal, "SIGTERM", None)) if s is not None)


class StopRequest:
    """Callable: true once a stop was asked for. Usable as train()'s `should_stop`."""

    def __init__(self) -> None:
        self.signal: int | None = None  # the one this process got
        self.elsewhere: int | None = None  # the one another rank of the run got (torchrun)

    def __call__(self) -> bool:
        return self.signal is not None

    @property
    def exit_code(self) -> int:
        """How the run exits once stopped: 143 after SIGTERM (here or on any rank), else 130."""
        terminate = getattr(signal, "SIGTERM", None)
        return SIGTERM_EXIT if terminate in (self.signal, self.elsewhere) else SIGINT_EXIT


@contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """While inside, SIGINT and SIGTERM set the StopRequest instead of killing the process.

    Outside the main thread (where Python cannot install handlers) nothing changes: Ctrl-C
    stays a KeyboardInterrupt."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handler(number, frame):
        stopped_before = request.signal is not None
        request.signal = number
        if stopped_before:  # the second one: the user does not want to wait
            raise KeyboardInterrupt

    previous = {number: signal.signal(number, handler) for number in SIGNALS}
    try:
        yield request
    except Interrupted as interrupted:
        interrupted.exit_code = request.exit_code
        raise
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


@contextmanager
def signals_deferred() -> Iterator[None]:
    """While inside, SIGINT and SIGTERM wait (blocked, not lost): for writes that must happen
    together, such as a checkpoint and the record beside it. So does the death of the `--nproc`
    launcher, after which a rank writes nothing more (cluster.launcher_death_deferred)."""
    if not hasattr(signal, "pthread_sigmask"):
        with launcher_death_deferred():
            yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        with launcher_death_deferred():
            yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
