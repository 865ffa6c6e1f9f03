"""Where a process stands in a data-parallel run, as torchrun's environment says: read without
torch, so that `mnist train` knows before importing it whether this process is the one that
checks and locks the checkpoint (rank 0)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from mnist_cli.errors import MnistError


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


def from_environment(environ: dict[str, str] | None = None) -> Cluster:
    """The Cluster torchrun describes in the environment; one process where it says nothing."""
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
    return Cluster(rank=rank, world_size=world_size, local_rank=local_rank)
