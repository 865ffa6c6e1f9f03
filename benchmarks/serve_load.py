"""`mnist serve` under load, on each runtime that can answer: a real server process on 127.0.0.1
for the checkpoint given (its verified `ckpt.onnx` on onnxruntime, when train left one beside it)
and for a copy of the checkpoint alone (no export beside it: torch), each sent REQUESTS requests
to `POST /api/predict` (real MNIST test digits as PNG, each a different image) from CONCURRENCY
clients at once, each client on one kept-alive connection, twice. Prints, per server: the
runtime its start-up line names, the seconds from its start to the first `/healthz` 200 (against
`python -c pass`, the floor of any Python server), requests/s, p50 and p99 latency, errors
(anything but a 200), its resident memory (VmRSS) after each run of REQUESTS and its peak
(VmHWM), and whether libtorch is mapped. Prints the command and the machine (CPUs, load
average: the times mean little on a busy machine). Bounded in count and in time (--deadline);
asserts nothing about speed.

    python -m benchmarks.serve_load CHECKPOINT [--data-dir data] [--requests 1000]
        [--concurrency 8] [--deadline 600]
"""

from __future__ import annotations

import argparse
import http.client
import io
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

URL = re.compile(r"answering with (.*), at http://127\.0\.0\.1:(\d+)/ \(Ctrl-C stops\)")
WARM_UP = 50
START_DEADLINE = 120  # seconds a server may take to answer its first /healthz


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


@dataclass
class Served:
    """One server under test, and what was measured of it."""

    process: subprocess.Popen
    port: int
    answered_by: str  # from its start-up line
    ready: float  # seconds from its start to the first /healthz 200
    memory: list[float] = field(default_factory=list)  # VmRSS, MiB, after warm-up and each run
    runs: list[tuple[float, list[float], int]] = field(default_factory=list)


def start_server(checkpoint: Path) -> Served:
    """`python -m mnist_cli serve CHECKPOINT --port 0 --quiet`, timed to its first /healthz 200."""
    command = [sys.executable, "-m", "mnist_cli", "serve", str(checkpoint), "--port", "0"]
    started = time.perf_counter()
    process = subprocess.Popen(
        [*command, "--quiet"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    found: list[re.Match] = []

    def read() -> None:
        for line in process.stderr:
            if not found and (match := URL.search(line)):
                found.append(match)
        process.stderr.close()

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + START_DEADLINE
    while not (found and healthy(int(found[0].group(2)))):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"mnist serve {checkpoint} did not start")
        time.sleep(0.005)
    ready = time.perf_counter() - started
    return Served(process, int(found[0].group(2)), found[0].group(1), ready)


def healthy(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def python_start() -> float:
    """The median seconds of `python -c pass` (5 runs): no server in Python starts faster."""
    times = []
    for _ in range(5):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def process_status(pid: int, key: str) -> float:
    """A VmRSS or VmHWM of /proc/PID/status, in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"{key}:\s+(\d+) kB", status).group(1)) / 1024


def maps_torch(pid: int) -> bool:
    return "libtorch" in Path(f"/proc/{pid}/maps").read_text()


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


def measure(checkpoint: Path, bodies: list[bytes], arguments) -> tuple[Served, float, bool]:
    """A server of `checkpoint` started, warmed up, run twice and stopped by SIGINT: what was
    measured, its peak memory and whether libtorch was mapped."""
    served = start_server(checkpoint)
    deadline = time.monotonic() + arguments.deadline
    try:
        run(served.port, bodies[:WARM_UP], arguments.concurrency, deadline)
        served.memory.append(process_status(served.process.pid, "VmRSS"))
        for _ in range(2):
            served.runs.append(run(served.port, bodies, arguments.concurrency, deadline))
            served.memory.append(process_status(served.process.pid, "VmRSS"))
        peak, torch = process_status(served.process.pid, "VmHWM"), maps_torch(served.process.pid)
    finally:
        served.process.send_signal(signal.SIGINT)
        code = served.process.wait(timeout=60)
    if code != 0:
        raise SystemExit(f"mnist serve {checkpoint} ended with exit {code} on SIGINT")
    return served, peak, torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--deadline", type=float, default=600, help="seconds, per server")
    arguments = parser.parse_args()
    bodies = digits(arguments.data_dir, arguments.requests)
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    floor = python_start()
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        alone = Path(scratch) / arguments.checkpoint.name  # no export beside it: torch answers
        shutil.copy(arguments.checkpoint, alone)
        for checkpoint in (arguments.checkpoint, alone):
            results.append(measure(checkpoint, bodies, arguments))
    print("command: python -m benchmarks.serve_load " + " ".join(sys.argv[1:]))
    print(
        f"machine: {platform.platform()}, {platform.processor() or platform.machine()},"
        f" {os.cpu_count()} CPUs, Python {platform.python_version()};"
        f" load average {load} at the start (shared, not idle)"
    )
    print(
        f"{arguments.requests} requests to POST /api/predict at concurrency"
        f" {arguments.concurrency}, twice per server, after {WARM_UP} to warm up;"
        " ready: seconds from start to the first /healthz 200"
    )
    print(f"python -c pass: {floor:.3f} s (the floor of any Python server's start)")
    width = max(len(served.answered_by) for served, _, _ in results)
    print(
        f"{'answering with':<{width}} {'ready s':>7} {'run':>3} {'req/s':>6} {'p50 ms':>6}"
        f" {'p99 ms':>6} {'errors':>6} {'RSS MiB':>7} {'peak':>6} {'libtorch':>8}"
    )
    for served, peak, torch in results:
        for number, (seconds, latencies, errors) in enumerate(served.runs, 1):
            first = number == 1
            print(
                f"{served.answered_by if first else '':<{width}}"
                f" {f'{served.ready:.2f}' if first else '':>7} {number:>3}"
                f" {len(latencies) / seconds:6.1f} {1000 * percentile(latencies, 0.5):6.1f}"
                f" {1000 * percentile(latencies, 0.99):6.1f} {errors:>6}"
                f" {served.memory[number]:7.1f} {f'{peak:.1f}' if first else '':>6}"
                f" {('yes' if torch else 'no') if first else '':>8}"
            )


if __name__ == "__main__":
    main()
