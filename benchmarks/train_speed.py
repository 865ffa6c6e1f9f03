"""How fast `mnist train` gets to a good model, against the exercise it started from.

Runs, in this one script: one epoch of the exercise's pipeline (torchvision's MNIST dataset with
per-sample ToTensor, a DataLoader of 64, the sigmoid MLP, plain SGD at 0.01), then `mnist train`
as a user runs it (a fresh process each, so start-up and data loading count), and prints seconds
per epoch, time to 98% and 99%, the final (last-epoch) accuracy, and ratios to the exercise.

    python benchmarks/train_speed.py --data ../shared/datasets/mnist
    python benchmarks/train_speed.py --data ../shared/datasets/mnist --long    # adds --epochs 40
    python benchmarks/train_speed.py --data ... --device cuda                  # on a GPU

`--data` is a folder with the four MNIST files (.gz or not); the script imports them into a
scratch data folder with `mnist download --from`. On a GPU it adds a record row: training time
to 99%, measured with CUDA events after a warm-up run, start-up and data loading excluded.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

RAW_NAMES = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]


def mnist_command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "mnist_cli", *arguments]


def exercise_epoch(data_dir: Path, threads: int) -> tuple[float, float]:
    """One epoch of the exercise's pipeline; returns (seconds, test accuracy)."""
    from torch import nn
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    torch.set_num_threads(threads)
    root = Path(tempfile.mkdtemp())
    (root / "MNIST" / "raw").mkdir(parents=True)
    for name in RAW_NAMES:  # torchvision wants MNIST/raw/<name>; ours are data/mnist/<name>
        (root / "MNIST" / "raw" / name).symlink_to((data_dir / "mnist" / name).resolve())
    to_tensor = transforms.ToTensor()
    train_set = datasets.MNIST(root, train=True, transform=to_tensor)
    test_set = datasets.MNIST(root, train=False, transform=to_tensor)
    model = nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 256),
        nn.Sigmoid(),
        nn.Linear(256, 128),
        nn.Sigmoid(),
        nn.Linear(128, 10),
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    torch.manual_seed(0)
    started = time.perf_counter()
    for images, labels in DataLoader(train_set, batch_size=64, shuffle=True):
        optimizer.zero_grad()
        loss_fn(model(images), labels).backward()
        optimizer.step()
    seconds = time.perf_counter() - started
    correct = 0
    with torch.no_grad():
        for images, labels in DataLoader(test_set, batch_size=1000):
            correct += (model(images).argmax(1) == labels).sum().item()
    return seconds, correct / len(test_set)


def run_mnist(data_dir: Path, workdir: Path, *arguments: str) -> dict:
    """`mnist train ARGUMENTS --json` in a fresh process; its report plus the wall time."""
    started = time.perf_counter()
    done = subprocess.run(
        mnist_command(
            *("train", "--data-dir", str(data_dir), "--json"),
            *("--checkpoint", str(workdir / "bench.pt"), *arguments),
        ),
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"mnist train {' '.join(arguments)} failed: {done.stderr.strip()}")
    report = json.loads(done.stdout)
    report["wall"] = wall
    return report


def time_to(history: list[dict], threshold: float) -> float | None:
    """Training seconds (epochs summed) until an epoch's test accuracy reached `threshold`."""
    elapsed = 0.0
    for row in history:
        elapsed += row["seconds"]
        if row["test_accuracy"] >= threshold:
            return elapsed
    return None


def cuda_record(data_dir: Path, arguments: list[str]) -> dict:
    """Training time to 99% on the GPU, timed with CUDA events after a warm-up run."""
    from mnist_cli.config import TrainConfig
    from mnist_cli.train.loop import train

    options = dict(zip(arguments[::2], arguments[1::2], strict=True))
    config = TrainConfig(
        device="cuda",
        epochs=int(options.get("--epochs", 2)),
        batch_size=int(options.get("--batch-size", 512)),
        compile="--compile" in arguments,
    )
    with tempfile.TemporaryDirectory() as scratch:
        checkpoint = Path(scratch) / "record.pt"
        train(config, data_dir, checkpoint)  # warm-up: kernels, cuDNN autotuning, compilation
        result = train(config, data_dir, checkpoint)
    # Training time alone: the epochs' train_seconds, which CUDA events time on a GPU.
    history = [{**vars(row), "seconds": row.train_seconds} for row in result.history]
    return {"config": config, "history": history, "to_99": time_to(history, 0.99)}


def row(name: str, per_epoch: float, report: dict | None, baseline: float) -> list[str]:
    def seconds(value: float | None) -> str:
        return "never" if value is None else f"{value:.1f}"

    history = report["history"] if report else []
    accuracy = report["test_accuracy"] if report else None
    return [
        name,
        f"{per_epoch:.2f}",
        seconds(time_to(history, 0.98)) if report else "-",
        seconds(time_to(history, 0.99)) if report else "-",
        f"{accuracy * 100:.2f}%" if accuracy is not None else "-",
        f"{report['wall']:.1f}" if report else "-",
        f"{per_epoch / baseline:.2f}x",
        f"{report['wall'] / baseline:.1f}x" if report else "-",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder with the MNIST files")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--long", action="store_true", help="also run --epochs 40")
    options = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="mnist-bench-"))
    data_dir = workdir / "data"
    subprocess.run(
        mnist_command("download", "--from", str(options.data), "--data-dir", str(data_dir)),
        check=True,
        capture_output=True,
    )
    threads = torch.get_num_threads()
    exercise_seconds, exercise_accuracy = exercise_epoch(data_dir, threads)
    device = ["--device", options.device]
    runs = [
        ("mnist train --epochs 1", run_mnist(data_dir, workdir, "--epochs", "1", *device)),
        ("mnist train (defaults)", run_mnist(data_dir, workdir, *device)),
        ("mnist train --model mlp", run_mnist(data_dir, workdir, "--model", "mlp", *device)),
    ]
    if options.long:
        runs.append(
            ("mnist train --epochs 40", run_mnist(data_dir, workdir, "--epochs", "40", *device))
        )

    header = ["pipeline", "s/epoch", "to 98% (s)", "to 99% (s)", "final acc", "wall (s)"]
    header += ["epoch vs exercise", "wall vs exercise epoch"]
    exercise = [f"{exercise_seconds:.2f}", "never", "never", f"{exercise_accuracy * 100:.2f}%"]
    table = [["exercise (1 epoch)", *exercise, "-", "1.00x", "-"]]
    for name, report in runs:
        per_epoch = sum(r["seconds"] for r in report["history"]) / len(report["history"])
        table.append(row(name, per_epoch, report, exercise_seconds))
    if options.device == "cuda":
        record = cuda_record(data_dir, ["--epochs", "2", "--batch-size", "512"])
        to_99 = record["to_99"]
        to_99_text = "never" if to_99 is None else f"{to_99:.2f}"
        accuracy = f"{record['history'][-1]['test_accuracy'] * 100:.2f}%"
        name = "record: cuda events, bs 512, 2 epochs"
        table.append([name, "-", "-", to_99_text, accuracy, "-", "-", "-"])

    widths = [max(len(line[i]) for line in [header, *table]) for i in range(len(header))]
    print(f"machine: {os.cpu_count()} CPUs, torch {torch.__version__}, {threads} threads")
    if options.device == "cuda":
        print(f"GPU: {torch.cuda.get_device_name()}")
    for line in [header, ["-" * w for w in widths], *table]:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)))


if __name__ == "__main__":
    main()
