"""`python -m tests.ddp_probe DIR MODEL`, under torchrun or alone: one optimiser step of MODEL on
the synthetic dataset in DIR, then every rank writes the weights it holds to rank<N>.pt. Lets a
test compare the ranks' weights, which only rank 0's checkpoint would otherwise show."""

import sys
from pathlib import Path

import torch

from mnist_cli.config import TrainConfig
from mnist_cli.errors import Interrupted
from mnist_cli.train import loop, state
from mnist_cli.train.cluster import from_environment
from tests.tiny_cli import register

if __name__ == "__main__":
    register(Path(sys.argv[1]))
    rank = from_environment().rank
    save = state.save

    def save_every_rank(run, path, record):
        torch.save(run.model.state_dict(), f"rank{rank}.pt")
        save(run, path, record)

    state.save = save_every_rank
    config = TrainConfig(model=sys.argv[2], epochs=1, batch_size=32, device="cpu", threads=1)
    try:  # asked to stop from the start: the run stops, and saves, after its first step
        loop.train(config, Path("data"), Path("ckpt.pt"), should_stop=lambda: True)
    except Interrupted:
        pass
