"""How long `mnist predict one.png` takes from the shell, against `python -c "import torch"`:
predict must stay within 0.4 s of importing torch (no torchvision, no scipy, no opencv).

    python -m benchmarks.predict_startup --checkpoint ckpt.pt --image digit.png --runs 7

Prints the median wall time of each command and the difference.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _median_seconds(command: list[str], runs: int) -> tuple[float, float]:
    """Median (wall, CPU) seconds: CPU time (user + system) hardly depends on how busy the
    machine is, wall time does."""
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=Path("ckpt.pt"))
    parser.add_argument("--image", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    mnist = str(Path(sys.executable).with_name("mnist"))
    commands = {
        'python -c "import torch"': [sys.executable, "-c", "import torch"],
        "mnist predict IMAGE": [
            mnist,
            "predict",
            str(args.image),
            "--checkpoint",
            str(args.checkpoint),
        ],
    }
    seconds = {name: _median_seconds(command, args.runs) for name, command in commands.items()}
    print(f"{'command':<28}{'wall':>8}{'CPU':>8}   (median of {args.runs} runs, seconds)")
    for name, (wall, cpu) in seconds.items():
        print(f"{name:<28}{wall:>8.2f}{cpu:>8.2f}")
    (torch_wall, torch_cpu), (predict_wall, predict_cpu) = seconds.values()
    print(f"{'difference':<28}{predict_wall - torch_wall:>8.2f}{predict_cpu - torch_cpu:>8.2f}")


if __name__ == "__main__":
    main()
