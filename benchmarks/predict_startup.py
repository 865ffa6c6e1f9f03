"""How long `mnist predict one.png` takes from the shell, against `python -c "import torch"`:
predict must stay within 0.4 s of importing torch (no torchvision, no scipy, no opencv).

    python -m benchmarks.predict_startup --checkpoint ckpt.pt --image digit.png --runs 7

Prints the median wall time of each command and the difference.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _median_seconds(command: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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
    for name, value in seconds.items():
        print(f"{name:<28}{value:>8.2f} s")
    torch_only, predict = seconds.values()
    print(f"{'difference':<28}{predict - torch_only:>8.2f} s (median of {args.runs} runs)")


if __name__ == "__main__":
    main()
