"""`python -m tests.ddp_stop DIR RANK SIGNAL ARGS...`: the `mnist` command on the synthetic
dataset in DIR (as tests.tiny_cli), in which rank RANK of a torchrun run sends itself SIGNAL (a
name: TERM, INT) at its fifth training step: a stop in the middle of epoch 1, at a known point.
`--nproc` starts this same module again as its ranks."""

import os
import signal
import sys
from pathlib import Path

from mnist_cli.__main__ import main
from tests.tiny_cli import register

if __name__ == "__main__":
    register(Path(sys.argv[1]))
    from mnist_cli.train import steps
    from mnist_cli.train.cluster import from_environment

    cluster = from_environment()
    if cluster.distributed and cluster.rank == int(sys.argv[2]):
        number = signal.Signals[f"SIG{sys.argv[3]}"]
        loss = steps.F.cross_entropy
        calls = []

        def signalled(*args, **kwargs):
            calls.append(1)
            if len(calls) == 5:
                os.kill(os.getpid(), number)
            return loss(*args, **kwargs)

        steps.F.cross_entropy = signalled
    main(sys.argv[4:])
