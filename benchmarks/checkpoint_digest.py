"""What the checkpoint's SHA-256 costs next to writing the checkpoint: median over several runs of
payload_sha256 and of torch.save (to memory), for each model with its AdamW state and the batch
order of an epoch in progress (the largest checkpoint a run writes).

    python benchmarks/checkpoint_digest.py [--runs 20]
"""

from __future__ import annotations

import argparse
import io
import statistics
import time

import torch

from mnist_cli.checkpoint.write import make_checkpoint, payload_sha256
from mnist_cli.config import TrainConfig
from mnist_cli.data.catalog import MNIST
from mnist_cli.models import MODELS, build_model


def median_ms(action, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3


def checkpoint_of(name: str) -> dict:
    config = TrainConfig(model=name)
    model = build_model(name, num_classes=10, **config.model_kwargs())
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.randn(2, 1, 28, 28)).sum().backward()
    optimizer.step()
    training = {"optimizer": optimizer.state_dict(), "permutation": torch.randperm(60_000)}
    return make_checkpoint(model=model, config=config, dataset=MNIST, history=[], training=training)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    print("| model | checkpoint | sha256 | torch.save | ratio |\n| --- | --- | --- | --- | --- |")
    for name in MODELS:
        checkpoint = checkpoint_of(name)
        size = len(_saved(checkpoint))
        digest = median_ms(lambda c=checkpoint: payload_sha256(c), runs)
        save = median_ms(lambda c=checkpoint: _saved(c), runs)
        ratio = digest / save
        print(f"| {name} | {size / 1e6:.2f} MB | {digest:.1f} ms | {save:.1f} ms | {ratio:.2f} |")


def _saved(checkpoint: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    return buffer.getvalue()


if __name__ == "__main__":
    main()
