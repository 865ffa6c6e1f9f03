"""Ctrl-C and SIGTERM during training: the first one asks the loop to stop after the step in
progress (it then saves the checkpoint); a second one interrupts at once."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SIGNALS = tuple(s for s in (signal.SIGINT, getattr(signal, "SIGTERM", None)) if s is not None)


class StopRequest:
    """Callable: true once a stop was asked for. Usable as train()'s `should_stop`."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def __call__(self) -> bool:
        return self.signal is not None


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
        if request.signal is not None:  # the second one: the user does not want to wait
            raise KeyboardInterrupt
        request.signal = number

    previous = {number: signal.signal(number, handler) for number in SIGNALS}
    try:
        yield request
    finally:
        for number, old in previous.items():
            signal.signal(number, old)
