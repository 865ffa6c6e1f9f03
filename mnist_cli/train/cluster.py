"""Where a process stands in a data-parallel run, as torchrun's environment says: read without
torch, so that `mnist train` knows before importing it whether this process is the one that
checks and locks the checkpoint (rank 0). And a rank that `--nproc` started ends with its
launcher, even one killed by SIGKILL, and writes nothing once it is gone."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from mnist_cli.errors import MnistError

LAUNCHER_ENV = "MNIST_LAUNCHER_PID"  # set by --nproc for its ranks: the process they end with
PR_SET_PDEATHSIG = 1  # prctl(2): the signal the kernel sends this process when its parent dies
ORPHANED_EXIT = 137  # 128 + SIGKILL, as if killed with the launcher: no one waits for it


@dataclass(frozen=True)
class Cluster:
    """Where this process stands in the run: rank `rank` of `world_size`."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0  # this process's index on its own machine (its GPU)

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that prints, evaluates and writes files."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def share(self, count: int) -> slice:
        """This rank's rows of a global batch of `count`: contiguous, sizes within one of each
        other. A rank whose share would be empty (a last batch smaller than the world) repeats
        the batch's last image instead, since an empty batch has no loss."""
        start = self.rank * count // self.world_size
        end = (self.rank + 1) * count // self.world_size
        if end == start:
            start, end = count - 1, count
        return slice(start, end)


def from_environment(environ: Mapping[str, str] | None = None) -> Cluster:
    """The Cluster torchrun describes in the environment; one process where it says nothing.
    Read from this process's own environment by a rank of `--nproc`, it also binds the rank to
    its launcher (follow_launcher): the first thing `mnist train` does."""
    own = environ is None
    environ = os.environ if environ is None else environ
    try:
        world_size = int(environ.get("WORLD_SIZE", "1"))
        rank = int(environ.get("RANK", "0"))
        local_rank = int(environ.get("LOCAL_RANK", str(rank)))
    except ValueError:
        raise MnistError(
            "WORLD_SIZE, RANK and LOCAL_RANK must be whole numbers: start the run with torchrun"
        ) from None
    if world_size < 1 or not 0 <= rank < world_size:
        raise MnistError(f"RANK {rank} of WORLD_SIZE {world_size} does not exist")
    if own and world_size > 1:
        follow_launcher(environ)
    return Cluster(rank=rank, world_size=world_size, local_rank=local_rank)


def _launcher(environ: Mapping[str, str]) -> int | None:
    """The pid of the `--nproc` launcher this process was started by, if it was."""
    pid = environ.get(LAUNCHER_ENV, "")
    return int(pid) if pid.isdigit() else None


def orphaned() -> bool:
    """A rank of `--nproc` whose launcher is gone (its parent is now another process)."""
    launcher = _launcher(os.environ)
    return launcher is not None and os.getppid() != launcher


def _die_with_parent(name: str) -> None:
    """Have the kernel send the signal `name` to this process once its parent dies (Linux;
    elsewhere nothing: orphaned() still keeps such a rank from writing)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(getattr(signal, name)), 0, 0, 0)


def follow_launcher(environ: Mapping[str, str]) -> None:
    """A rank that `--nproc` started ends with its launcher. A launcher killed by SIGKILL cannot
    pass anything on, and its shell has returned: the kernel kills the rank at once
    (PR_SET_PDEATHSIG), so that no file changes afterwards. A launcher gone before that was set
    (the parent is already another process) means the rank exits now."""
    if _launcher(environ) is None:
        return
    _die_with_parent("SIGKILL")
    if orphaned():
        os._exit(ORPHANED_EXIT)


@contextmanager
def launcher_death_deferred() -> Iterator[None]:
    """While inside, for writes that must happen together (a checkpoint and its record, with
    SIGTERM blocked): a launcher that dies waits for them. Its death then sends SIGTERM, held
    back by the block, instead of SIGKILL, and the rank exits as the block ends, the files
    whole. A rank whose launcher is already gone exits before it writes anything."""
    if _launcher(os.environ) is None:
        yield
        return
    if orphaned():
        os._exit(ORPHANED_EXIT)
    _die_with_parent("SIGTERM")
    try:
        yield
    finally:
        _die_with_parent("SIGKILL")
        if orphaned():
            os._exit(ORPHANED_EXIT)
