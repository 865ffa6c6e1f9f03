"""`mnist train --nproc N`: start N processes of a command on this machine, as
`torchrun --standalone --nproc-per-node N` does, through torch's own launcher, and say how they
ended. Every process's output goes to this one's terminal; only rank 0 prints."""

from __future__ import annotations

import logging
import os
import signal
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from mnist_cli.errors import SIGINT_EXIT, SIGTERM_EXIT
from mnist_cli.train.cluster import LAUNCHER_ENV

STOPPED = (SIGTERM_EXIT, SIGINT_EXIT)  # how a rank exits when a user stopped it (SIGTERM first)


@dataclass(frozen=True)
class Launched:
    """How the processes ended: the exit code to pass on, and a line to print ("" when the
    ranks have said it themselves)."""

    exit_code: int
    message: str = ""


def launch(nproc: int, command: list[str]) -> Launched:
    """Run `command` (a program and its arguments) as `nproc` ranks of one run on this machine.
    Ctrl-C or SIGTERM here reaches every rank once (each finishes its step, rank 0 saves); a
    rank that fails makes the launcher stop the others; a launcher killed outright (SIGKILL)
    takes the ranks with it, unsaved (cluster.follow_launcher)."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    # torch's launcher logs every step of its work; our ranks say what a person needs. Its
    # modules set their loggers' levels themselves ("Received 15 death signal" is a warning).
    for name in ["torch.distributed", *logging.root.manager.loggerDict]:
        if name.startswith("torch.distributed"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=nproc,
        run_id=str(uuid.uuid4()),
        rdzv_backend="c10d",
        rdzv_endpoint="localhost:0",  # a free port, as --standalone picks
        max_restarts=0,
        signals_to_handle="SIGTERM,SIGINT,SIGHUP",
    )
    try:
        with _ranks_follow_this_process():
            elastic_launch(config, command[0])(*command[1:])
    except ChildFailedError as failed:
        return _ended(failed.failures)
    except SignalException as stopped:  # this process got it; the ranks, in turn, too
        return Launched(128 + int(stopped.sigval))  # 130 for Ctrl-C, 143 for SIGTERM, as a shell
    return Launched(0)


@contextmanager
def _ranks_follow_this_process() -> Iterator[None]:
    """While inside, the processes started get this one's pid as their launcher's (they inherit
    the environment); outside, the environment is as it was."""
    previous = os.environ.get(LAUNCHER_ENV)
    os.environ[LAUNCHER_ENV] = str(os.getpid())
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(LAUNCHER_ENV, None)
        else:
            os.environ[LAUNCHER_ENV] = previous


def _ended(failures: dict) -> Launched:
    """A stop the user asked for wins (once one rank exits, the launcher ends the others with
    SIGTERM, which may catch them still leaving); then a rank killed by a signal. The failures
    are those of the ranks that ended first: every rank of a stopped run exits with the same
    code (143 if any rank got SIGTERM, distributed.agreed sees to it)."""
    codes = {rank: failure.exitcode for rank, failure in failures.items()}
    for code in STOPPED:
        if code in codes.values():
            return Launched(code)
    killed = {rank: code for rank, code in codes.items() if code < 0}
    if killed:
        rank, code = min(killed.items())
        return Launched(1, f"rank {rank} was killed by {_signal_name(-code)}")
    return Launched(max(codes.values(), default=1))


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
