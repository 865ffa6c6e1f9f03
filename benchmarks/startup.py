"""Start-up costs a user feels: `mnist --help`, and `mnist predict one.png` against the floor that
no torch program can beat, `python -c "import torch"`. Medians over rounds that run each command
once, each time in a fresh process.

    python benchmarks/startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def seconds(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def median_seconds(commands: dict[str, list[str]], runs: int) -> dict[str, float]:
    """Each command once per round, rounds repeated: a machine that slows down or speeds up
    during the benchmark then moves every command's times alike."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            times[name].append(seconds(command))
    return {name: statistics.median(values) for name, values in times.items()}


def make_inputs(folder: Path) -> tuple[Path, Path]:
    """A checkpoint of the default model (untrained: loading costs the same) and a digit PNG."""
    import torch
    from PIL import Image

    from mnist_cli.checkpoint.write import make_checkpoint, save_checkpoint
    from mnist_cli.config import TrainConfig
    from mnist_cli.data.catalog import MNIST
    from mnist_cli.models import build_model

    config = TrainConfig()
    model = build_model(config.model, num_classes=10, **config.model_kwargs())
    checkpoint = folder / "ckpt.pt"
    save_checkpoint(
        make_checkpoint(model=model, config=config, dataset=MNIST, history=[]), checkpoint
    )
    image = folder / "one.png"
    pixels = torch.zeros(28, 28, dtype=torch.uint8)
    pixels[6:22, 13:16] = 255  # a "1"
    Image.fromarray(pixels.numpy(), mode="L").save(image)
    return checkpoint, image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    mnist = [sys.executable, "-m", "mnist_cli"]
    with tempfile.TemporaryDirectory() as scratch:
        checkpoint, image = make_inputs(Path(scratch))
        medians = median_seconds(
            {
                "python -c 'import torch'": [sys.executable, "-c", "import torch"],
                "mnist --help": [*mnist, "--help"],
                "mnist predict one.png": [
                    *mnist,
                    "predict",
                    str(image),
                    "--checkpoint",
                    str(checkpoint),
                ],
            },
            runs,
        )
    rows = list(medians.items())
    floor = rows[0][1]
    print(f"median of {runs} rounds, each command once a round in a fresh process")
    print(f"{'command':28s} {'seconds':>8s} {'vs import torch':>16s}")
    for name, seconds in rows:
        print(f"{name:28s} {seconds:8.3f} {seconds - floor:+15.3f}s")


if __name__ == "__main__":
    main()
