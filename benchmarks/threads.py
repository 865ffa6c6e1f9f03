"""What CPU threads cost and buy: milliseconds per training step of the default CNN and of the
exercise's MLP (batch 128, augmentation on, as `mnist train` runs them), with 1 or 2 threads, in
one process alone and in two processes running at once (the oversubscription case).

    python benchmarks/threads.py [--steps 40]

Each measurement is a fresh process, so thread pools never carry over between rows.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

STEP = """
import sys, time, torch, torch.nn.functional as F
from mnist_cli.train.augment import augment
from mnist_cli.models import build_model
model_name, threads, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
model = build_model(model_name, num_classes=10)
images, labels = torch.randn(512, 1, 28, 28), torch.randint(0, 10, (128,))
generator = torch.Generator().manual_seed(0)
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
for step in range(steps + 5):
    if step == 5:
        started = time.perf_counter()
    batch = augment(images[(step % 4) * 128 : (step % 4 + 1) * 128], -0.42, generator)
    loss = F.cross_entropy(model(batch), labels, label_smoothing=0.1)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
print((time.perf_counter() - started) / steps * 1000)
"""


def milliseconds_per_step(model: str, threads: int, steps: int, copies: int) -> float:
    """The mean step time of `copies` processes started together (the slowest counts)."""
    command = [sys.executable, "-c", STEP, model, str(threads), str(steps)]
    running = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(copies)]
    return max(float(process.communicate()[0]) for process in running)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    steps = parser.parse_args().steps
    print(f"ms per training step (batch 128), mean of {steps} steps after 5 warm-up steps")
    print(f"{'model':6s} {'threads':>7s} {'alone':>8s} {'two at once':>12s}")
    for model in ("cnn", "mlp"):
        for threads in (2, 1):
            alone = milliseconds_per_step(model, threads, steps, copies=1)
            shared = milliseconds_per_step(model, threads, steps, copies=2)
            print(f"{model:6s} {threads:7d} {alone:8.1f} {shared:12.1f}")


if __name__ == "__main__":
    main()
