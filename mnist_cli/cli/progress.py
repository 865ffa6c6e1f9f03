"""Progress as the output allows: live bars on a terminal; elsewhere (a pipe, CI, nohup, a SLURM
log) training prints a plain line every quarter of an epoch, which a log keeps readable; under
--quiet, nothing. The row each finished epoch leaves is printed in all but the last case."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from mnist_cli.cli.output import Output
from mnist_cli.cli.report import epoch_line, number

if TYPE_CHECKING:
    from mnist_cli.checkpoint.format import EpochRecord

PLAIN_EVERY = 0.25  # fraction of an epoch between plain progress lines
TRAIN_REFRESH = 4  # redraws of the training bars a second: each one takes the GIL from the loop


def _progress(
    output: Output, *columns: ProgressColumn, live: bool, refresh: float = 10
) -> Progress:
    # No redirection of stdout: with stdout piped, lines meant for the pipe must reach it.
    return Progress(
        *columns,
        console=output.err,
        refresh_per_second=refresh,
        transient=True,
        disable=not (live and output.live),
        redirect_stdout=False,
        redirect_stderr=False,
    )


def download_progress(output: Output, quiet: bool = False) -> Progress:
    """Bars for the files of a download (none when `quiet`, off a terminal or under --quiet)."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    return _progress(output, *columns, live=not quiet)


def print_above(progress: Progress, console: Console, text: str) -> None:
    """Print a line for `console`; while bars are live on the same terminal, print it above them
    through the bars' own console, so that the two do not overwrite each other."""
    if progress.live.is_started and console.is_terminal:
        progress.console.print(text)
    else:  # a log or a pipe: one line per epoch, never wrapped mid-value
        console.print(text, soft_wrap=True)


class TrainDisplay:
    """Wire `step` to the training loop's on_step and `end_epoch` to its on_epoch."""

    def __init__(self, output: Output, epochs: int, report: Console, done: int = 0):
        """`report`: where epoch rows go; `done`: epochs a resumed run had already finished."""
        self.output = output
        self.epochs = epochs
        self.done = done
        self.report = report
        self.plain = not output.quiet and not output.live
        columns = (
            TextColumn("{task.description:<8}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        # The loop reports at most four times a second (train/steps.py: ProgressGate).
        self.progress = _progress(output, *columns, live=True, refresh=TRAIN_REFRESH)
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
        status = f"loss {number(loss)}"
        self.progress.update(self.batch_task, completed=done, total=total, status=status)
        fraction = done / total
        if not self.plain or fraction < self.next_mark or done == total:
            return  # the epoch's own row reports the end of an epoch
        self.next_mark = (math.floor(fraction / PLAIN_EVERY) + 1) * PLAIN_EVERY
        width = len(str(self.epochs))
        seconds = time.perf_counter() - self.epoch_started
        self.output.err.print(
            f"epoch {self.epoch:>{width}}/{self.epochs}  {fraction:4.0%} "
            f"({done}/{total} batches)  train loss {number(loss)}  {seconds:.1f} s",
            soft_wrap=True,
        )

    def end_epoch(self, record: EpochRecord) -> None:
        self.progress.advance(self.epoch_task)
        if record.epoch >= self.epochs:  # the last: no bar for an epoch that will not run
            self.progress.update(self.batch_task, visible=False)
        else:
            description = f"epoch {record.epoch + 1}"
            self.progress.reset(self.batch_task, description=description, status="")
        self.epoch = record.epoch + 1
        self.next_mark = PLAIN_EVERY
        self.epoch_started = time.perf_counter()
        if not self.output.quiet:
            print_above(self.progress, self.report, epoch_line(record, self.epochs))
