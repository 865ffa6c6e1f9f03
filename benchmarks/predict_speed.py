"""`mnist predict digit.png` after `mnist train`, whole process: with the `ckpt.onnx` that train
leaves beside `ckpt.pt` (onnxruntime, no torch), without it (torch), and on an export named
outright, against `python -c pass` and `python -c "import torch"`. Target: 0.5 s or less.

Medians over rounds that run each command once, each time in a fresh process. The files are made
by the code `mnist train` runs at the end of a run (`export_beside`), on an untrained default cnn
(the weights do not change the time); `--train` runs a real `mnist train` (defaults) instead.

    python -m benchmarks.predict_speed [--runs 11] [--train] [--data-dir data]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 0.5  # seconds, the target for a plain predict after train


def timed(command: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of `command` in a fresh process. The CPU time
    (user + system) is what the wall time would be on an idle core: on a shared machine the wall
    time also counts the waits for a core."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"failed ({process.returncode}): {' '.join(command)}")
    return wall, usage.ru_utime + usage.ru_stime


def medians(commands: dict[str, list[str]], runs: int) -> dict[str, tuple[float, float]]:
    """Each command once per round, rounds repeated (a machine that slows down moves every
    command alike); the median wall and CPU seconds of each."""
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            times[name].append(timed(command))
    return {
        name: (statistics.median(w for w, _ in rows), statistics.median(c for _, c in rows))
        for name, rows in times.items()
    }


def make_files(folder: Path, data_dir: Path, train: bool) -> Path:
    """ckpt.pt and ckpt.onnx as `mnist train` leaves them, and digit.png; returns the image."""
    import numpy as np
    from PIL import Image

    checkpoint = folder / "ckpt.pt"
    if train:
        command = [sys.executable, "-m", "mnist_cli", "train", "--data-dir", str(data_dir)]
        subprocess.run([*command, "--checkpoint", str(checkpoint)], check=True)
    else:
        from mnist_cli.checkpoint.write import make_checkpoint, save_checkpoint
        from mnist_cli.config import TrainConfig
        from mnist_cli.data.catalog import MNIST
        from mnist_cli.export.formats import export_beside
        from mnist_cli.models import build_model

        config = TrainConfig()
        model = build_model(config.model, num_classes=10, **config.model_kwargs())
        made = make_checkpoint(model=model, config=config, dataset=MNIST, history=[])
        save_checkpoint(made, checkpoint)
        export_beside(checkpoint, data_dir)
    test_images = data_dir / "mnist" / "t10k-images-idx3-ubyte"
    if test_images.is_file():  # MNIST test image 0, a 7, as in the README
        pixels = np.fromfile(test_images, np.uint8, offset=16)[: 28 * 28].reshape(28, 28)
    else:
        pixels = np.zeros((28, 28), np.uint8)
        pixels[6:22, 13:16] = 255  # a "1"
    image = folder / "digit.png"
    Image.fromarray(pixels).save(image)
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--train", action="store_true", help="run a real `mnist train` first")
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        image = make_files(folder, args.data_dir.resolve(), args.train)
        without_export = folder / "alone"
        without_export.mkdir()
        (without_export / "ckpt.pt").write_bytes((folder / "ckpt.pt").read_bytes())
        predict = [python, "-m", "mnist_cli", "predict", str(image)]
        env_path = os.pathsep.join(filter(None, [str(Path.cwd()), os.environ.get("PYTHONPATH")]))
        os.environ["PYTHONPATH"] = env_path
        os.chdir(folder)
        commands = {
            "python -c pass": [python, "-c", "pass"],
            "python -c 'import torch'": [python, "-c", "import torch"],
            "mnist predict digit.png": predict,
            "mnist predict --checkpoint ckpt.onnx": [*predict, "--checkpoint", "ckpt.onnx"],
            "(no ckpt.onnx) mnist predict": [
                *predict,
                "--checkpoint",
                str(without_export / "ckpt.pt"),
            ],
        }
        results = medians(commands, args.runs)
        os.chdir("/")
    torch_wall, torch_cpu = results["python -c 'import torch'"]
    print(f"median of {args.runs} rounds, each command once a round in a fresh process")
    print(f"{'command':38s} {'wall s':>7s} {'vs torch':>9s} {'CPU s':>7s} {'vs torch':>9s}")
    for name, (wall, cpu) in results.items():
        print(
            f"{name:38s} {wall:7.3f} {wall / torch_wall:8.2f}x {cpu:7.3f} {cpu / torch_cpu:8.2f}x"
        )
    wall, cpu = results["mnist predict digit.png"]
    verdict = "meets" if wall <= TARGET else "misses"
    print(
        f"plain predict after train: {wall:.3f} s wall ({cpu:.3f} s CPU),"
        f" {verdict} the {TARGET} s target"
    )


if __name__ == "__main__":
    main()
