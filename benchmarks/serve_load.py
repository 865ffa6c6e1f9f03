"""`mnist serve` under load: a real server process on 127.0.0.1, then REQUESTS requests to
`POST /api/predict` (real MNIST test digits as PNG, each a different image) from CONCURRENCY
clients at once, each client on one kept-alive connection. Prints requests/s, p50 and p99
latency, errors (anything but a 200), and the server's resident memory (VmRSS) after a warm-up,
after the run, and after a second run (growth beyond noise would be a leak). Bounded in count
and in time (--deadline); asserts nothing about speed.

    python -m benchmarks.serve_load CHECKPOINT [--data-dir data] [--requests 1000]
        [--concurrency 8] [--deadline 600]
"""

from __future__ import annotations

import argparse
import http.client
import io
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

URL = re.compile(r"at http://127\.0\.0\.1:(\d+)/ \(Ctrl-C stops\)")
WARM_UP = 50


def digits(data_dir: Path, count: int) -> list[bytes]:
    from mnist_cli.data.catalog import MNIST
    from mnist_cli.data.store import load_split_arrays

    images, _ = load_split_arrays(MNIST, data_dir, "test")
    encoded = []
    for index in range(count):
        buffer = io.BytesIO()
        Image.fromarray(images[index % len(images)]).save(buffer, format="PNG")
        encoded.append(buffer.getvalue())
    return encoded


def start_server(checkpoint: Path) -> tuple[subprocess.Popen, int]:
    """`python -m mnist_cli serve CHECKPOINT --port 0 --quiet` and the port it took."""
    command = [sys.executable, "-m", "mnist_cli", "serve", str(checkpoint), "--port", "0"]
    process = subprocess.Popen(
        [*command, "--quiet"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    found: list[int] = []

    def read() -> None:
        for line in process.stderr:
            if not found and (match := URL.search(line)):
                found.append(int(match.group(1)))
        process.stderr.close()

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + 120
    while not found:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit("mnist serve did not start")
        time.sleep(0.05)
    return process, found[0]


def rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


def run(port: int, bodies: list[bytes], concurrency: int, deadline: float):
    """(seconds, latencies of the 200s, errors) of sending every body once."""
    shares = [bodies[worker::concurrency] for worker in range(concurrency)]

    def client(share: list[bytes]) -> tuple[list[float], int]:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        latencies, errors = [], 0
        for body in share:
            if time.monotonic() > deadline:
                errors += 1  # not sent in time: counted, never waited for
                continue
            started = time.perf_counter()
            try:
                connection.request("POST", "/api/predict", body, {"Content-Type": "image/png"})
                reply = connection.getresponse()
                reply.read()
                ok = reply.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            if ok:
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1
        connection.close()
        return latencies, errors

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(client, shares))
    seconds = time.perf_counter() - started
    latencies = sorted(value for values, _ in results for value in values)
    return seconds, latencies, sum(errors for _, errors in results)


def percentile(values: list[float], fraction: float) -> float:
    return values[min(len(values) - 1, round(fraction * (len(values) - 1)))] if values else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--deadline", type=float, default=600, help="seconds, for both runs")
    arguments = parser.parse_args()
    bodies = digits(arguments.data_dir, arguments.requests)
    process, port = start_server(arguments.checkpoint)
    deadline = time.monotonic() + arguments.deadline
    try:
        run(port, bodies[:WARM_UP], arguments.concurrency, deadline)
        memory = [rss_mib(process.pid)]
        rows = []
        for _ in range(2):
            seconds, latencies, errors = run(port, bodies, arguments.concurrency, deadline)
            memory.append(rss_mib(process.pid))
            rows.append((seconds, latencies, errors))
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=60)
    print(
        f"mnist serve {arguments.checkpoint} on 127.0.0.1, {os.cpu_count()} CPUs;"
        f" {arguments.requests} requests at concurrency {arguments.concurrency}, each run"
    )
    print(
        f"{'run':>4} {'seconds':>8} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7}"
        f" {'mean ms':>7} {'errors':>6}"
    )
    for number, (seconds, latencies, errors) in enumerate(rows, 1):
        print(
            f"{number:>4} {seconds:8.2f} {len(latencies) / seconds:7.1f}"
            f" {1000 * percentile(latencies, 0.5):7.1f} {1000 * percentile(latencies, 0.99):7.1f}"
            f" {1000 * statistics.fmean(latencies or [0]):7.1f} {errors:>6}"
        )
    print(
        f"server RSS: {memory[0]:.1f} MiB after {WARM_UP} warm-up requests,"
        f" {memory[1]:.1f} MiB after run 1, {memory[2]:.1f} MiB after run 2"
    )
    print(f"server stopped by SIGINT: exit {code}")


if __name__ == "__main__":
    main()
