"""Where a run's failure becomes what the user reads, in one place: what was kept and how to go
on after Ctrl-C or a stop, a peer lost under torchrun, or the device out of memory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from mnist_cli.errors import Interrupted, MnistError
from mnist_cli.train import distributed, state
from mnist_cli.train.cluster import Cluster
from mnist_cli.train.resume import resume_command
from mnist_cli.train.state import Run


@dataclass(frozen=True)
class Where:
    """Where a run writes and reads, and its place among the ranks."""

    checkpoint: Path
    data_dir: Path
    cluster: Cluster


class Stopped(Exception):
    """should_stop() turned true; the message says where the run stopped."""


def explained(failure: BaseException, run: Run, where: Where) -> BaseException:
    """The one place a run's failure becomes what the user reads: what was kept and how to go
    on after Ctrl-C or a stop, a lost peer, or memory; `failure` itself where none applies."""
    checkpoint, cluster = where.checkpoint, where.cluster
    go_on = f"`{resume_command(checkpoint, where.data_dir, cluster.world_size)}`"
    if isinstance(failure, KeyboardInterrupt):
        kept = (
            f"{checkpoint} holds epoch {run.history[-1].epoch}; continue with {go_on}"
            if run.history
            else state.nothing_saved(run, checkpoint)
        )
        return Interrupted(f"interrupted during epoch {len(run.history) + 1}: {kept}")
    if isinstance(failure, Stopped):
        if run.keep_old and not run.history:
            return Interrupted(f"stopped {failure}: {state.nothing_saved(run, checkpoint)}")
        return Interrupted(f"stopped {failure}: saved to {checkpoint}; continue with {go_on}")
    lost = distributed.translated(failure, cluster)  # a peer gone inside DDP's all-reduce
    if lost is not failure:
        return lost
    if _out_of_memory(failure):  # torch.OutOfMemoryError is a RuntimeError too
        return MnistError(
            f"out of memory on {run.runtime.device} with --batch-size {run.config.batch_size}:"
            " try a smaller --batch-size"
        )
    return failure


def _out_of_memory(error: RuntimeError) -> bool:
    text = str(error).lower()
    return isinstance(error, torch.OutOfMemoryError) or "allocate" in text or "memory" in text
