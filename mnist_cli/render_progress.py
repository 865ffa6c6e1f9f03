"""Training progress as the output allows: live bars on a terminal; elsewhere (a pipe, CI, nohup,
a SLURM log) a plain line every quarter of an epoch, which a log keeps readable; under --quiet,
nothing. The row each finished epoch leaves is printed in all but the last case."""

from __future__ import annotations

import math
import time

from rich.console import Console

from mnist_cli import render

PLAIN_EVERY = 0.25  # fraction of an epoch between plain progress lines


class TrainDisplay:
    """Wire `step` to the training loop's on_step and `end_epoch` to its on_epoch."""

    def __init__(self, epochs: int, report: Console, done: int = 0):
        """`done`: epochs a resumed run had already finished."""
        self.epochs = epochs
        self.done = done
        self.report = report
        self.live = not render.quiet_mode and render.err.is_terminal
        self.plain = not render.quiet_mode and not self.live
        self.progress = render.train_progress(quiet=not self.live)
        self.epoch = done + 1
        self.next_mark = PLAIN_EVERY
        # Seconds in a plain line count from the previous epoch's end (the first epoch's from
        # here, data loading included): the core reports no epoch start.
        self.epoch_started = time.perf_counter()

    def __enter__(self) -> TrainDisplay:
        self.progress.__enter__()
        self.epoch_task = self.progress.add_task(
            "epochs", total=self.epochs, completed=self.done, status=""
        )
        self.batch_task = self.progress.add_task(f"epoch {self.epoch}", total=None, status="")
        return self

    def __exit__(self, *exc_info) -> None:
        self.progress.__exit__(*exc_info)

    def step(self, done: int, total: int, loss: float) -> None:
        status = f"loss {loss:.4f}"
        self.progress.update(self.batch_task, completed=done, total=total, status=status)
        fraction = done / total
        if not self.plain or fraction < self.next_mark or done == total:
            return  # the epoch's own row reports the end of an epoch
        self.next_mark = (math.floor(fraction / PLAIN_EVERY) + 1) * PLAIN_EVERY
        width = len(str(self.epochs))
        seconds = time.perf_counter() - self.epoch_started
        render.err.print(
            f"epoch {self.epoch:>{width}}/{self.epochs}  {fraction:4.0%} "
            f"({done}/{total} batches)  train loss {loss:.4f}  {seconds:.1f} s",
            soft_wrap=True,
        )

    def end_epoch(self, record) -> None:
        self.progress.advance(self.epoch_task)
        self.progress.reset(self.batch_task, description=f"epoch {record.epoch + 1}", status="")
        self.epoch = record.epoch + 1
        self.next_mark = PLAIN_EVERY
        self.epoch_started = time.perf_counter()
        if not render.quiet_mode:
            line = render.epoch_line(record, self.epochs)
            render.print_above(self.progress, self.report, line)
