"""Ctrl-C and SIGTERM on every command, at any moment: exit 130 or 143 with one plain line (not
"error:"), files closed and locks released on the way out, no traceback even during start-up
(issue 12, items 10 and 11). Real signals, in subprocesses, each bounded by a timeout."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, ctrl_c_as_in_a_terminal
from tests.test_download_faults import _faulty

CASES = [
    (signal.SIGINT, 130, "interrupted (Ctrl-C)"),
    (signal.SIGTERM, 143, "terminated (SIGTERM)"),
]
IDS = ["SIGINT", "SIGTERM"]


@pytest.fixture
def release():
    event = threading.Event()
    yield event
    event.set()


@pytest.mark.parametrize(("number", "code", "line"), CASES, ids=IDS)
def test_a_signal_during_a_download_is_one_plain_line_and_cleans_up(
    tiny, serve, release, number, code, line
):
    stalling = serve(tiny.source, _faulty(lambda n: "stall-mid", [], release))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "tests.tiny_cli", str(tiny.source), "download"]
    process = subprocess.Popen(
        [*command, "--mirror", stalling],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ctrl_c_as_in_a_terminal,
    )
    folder = Path("data/mnist")
    part = folder / f".train-images-idx3-ubyte.{process.pid}.part"
    deadline = time.monotonic() + 120  # a bound on the test, not a claim about speed
    while not part.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(number)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code
    assert stderr == f"{line}\n"
    assert sorted(p.name for p in folder.iterdir()) == []  # no .part, no lock file left


_STARTUP = """
import builtins, os, signal, sys
real_import = builtins.__import__

def import_and_signal(name, *args, **kwargs):
    if name == "typer":  # the app's first heavy import: the middle of start-up
        builtins.__import__ = real_import
        os.kill(os.getpid(), int(sys.argv[1]))
    return real_import(name, *args, **kwargs)

builtins.__import__ = import_and_signal
from mnist_cli.__main__ import main
main(["info", "missing.pt"])
"""


@pytest.mark.parametrize(("number", "code", "line"), CASES, ids=IDS)
def test_a_signal_during_start_up_is_one_plain_line(number, code, line):
    result = subprocess.run(
        [sys.executable, "-c", _STARTUP, str(int(number))],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=ctrl_c_as_in_a_terminal,
    )
    assert result.returncode == code
    assert result.stderr == f"{line}\n"


def test_ctrl_c_while_predict_waits_on_stdin(tiny_checkpoint):
    process = subprocess.Popen(
        [sys.executable, "-m", "mnist_cli", "predict", "-"],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wchan = Path(f"/proc/{process.pid}/wchan")
    deadline = time.monotonic() + 120
    while "pipe" not in (wchan.read_text() if wchan.exists() else "pipe"):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)  # until it blocks reading stdin (where /proc says so)
    time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143
    assert stderr == "terminated (SIGTERM)\n"
