"""Data-parallel training against one process: the same `mnist train` command (same global
--batch-size, same recipe) as 1 process and as N processes, each a whole run, one epoch. On the
CPU every process gets one thread (so 2 processes use 2 cores against the baseline's 1); with
several GPUs, one process per GPU against one GPU.

    python benchmarks/ddp.py --data-dir /tmp/mnistdata [--models mlp cnn] [--epochs 1]

Prints, per model and process count, the training time of the last epoch (rank 0's clock), the
whole run's time (start-up, data loading and test passes included) and the test accuracy, with
the speed-up over the one-process baseline measured in the same script.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone"]


def run(model: str, processes: int, arguments: argparse.Namespace, device: str) -> dict:
    """One whole `mnist train --json` run; its JSON document."""
    with tempfile.TemporaryDirectory() as folder:
        train = ["-m", "mnist_cli", "train", "--model", model, "--device", device, "--json"]
        train += ["--epochs", str(arguments.epochs), "--data-dir", str(arguments.data_dir)]
        train += ["--checkpoint", str(Path(folder) / "ckpt.pt")]
        if device == "cpu":
            train += ["--threads", "1"]
        if processes == 1:
            command = [sys.executable, *train]
        else:
            command = [*TORCHRUN, "--nproc-per-node", str(processes), *train]
        done = subprocess.run(command, capture_output=True, text=True, timeout=3600, check=False)
        if done.returncode != 0:
            sys.exit(f"{' '.join(command)} failed:\n{done.stderr}")
        return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--models", nargs="+", default=["mlp", "cnn"])
    parser.add_argument("--epochs", type=int, default=1)
    arguments = parser.parse_args()

    import torch

    gpus = torch.cuda.device_count()
    device, counts = ("cuda", [1, gpus]) if gpus > 1 else ("cpu", [1, 2])
    print(f"torch {torch.__version__}, {device}; {arguments.epochs} epoch(s), batch 128 global")
    header = f"{'model':6s} {'processes':>9s} {'epoch train s':>13s} {'run s':>7s}"
    print(f"{header} {'speed-up':>8s} {'test accuracy':>13s}")
    for model in arguments.models:
        baseline = None
        for processes in counts:
            report = run(model, processes, arguments, device)
            epoch = report["history"][-1]["train_seconds"]
            baseline = baseline or epoch
            print(
                f"{model:6s} {processes:9d} {epoch:13.1f} {report['seconds']:7.1f} "
                f"{baseline / epoch:7.2f}x {100 * report['test_accuracy']:12.2f}%"
            )


if __name__ == "__main__":
    main()
