"""Train's first step, before torch is imported: this process's place in the run and the claim
on what it will write. The checkpoint and its run record must be free or hold a run of ours
(paths.py), and no other `mnist train` may write them while this one runs (the lock). Under
torchrun only rank 0 writes, so only rank 0 checks and claims."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from mnist_cli.paths import train_outputs

if TYPE_CHECKING:
    from mnist_cli.train.cluster import Cluster


@contextmanager
def claim_train_outputs(
    nproc: int | None, checkpoint: Path, plot: Path | None, resume: bool
) -> Iterator[Cluster]:
    """This process's place in the run (torchrun's environment, read before torch is imported)
    and, on rank 0, train's outputs checked and the checkpoint locked while inside
    (paths.train_outputs). The other ranks write nothing, so they check nothing and take no
    lock: rank 0 holds it. `--nproc` checks before it starts its ranks and leaves the lock to
    their rank 0."""
    from mnist_cli.train.cluster import from_environment

    cluster = from_environment()
    if not cluster.is_main:
        yield cluster
        return
    launches = nproc is not None and nproc > 1 and not cluster.distributed
    with train_outputs(checkpoint, plot, resume, lock=not launches):
        yield cluster
