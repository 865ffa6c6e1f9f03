"""Fault injection on the real command in a subprocess (`python -m tests.tiny_cli`, the `mnist`
app with the synthetic dataset): SIGKILL at random moments never leaves a checkpoint that does
not load, and the run resumed after each kill ends with the same weights as a run never killed;
SIGINT and SIGTERM stop after the step, save, and exit with 130; a download killed mid-file
leaves no file that looks valid."""

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from mnist_cli.checkpoint.read import load_checkpoint
from tests.conftest import REPO, app
from tests.test_download_faults import _faulty

RUN = ["--model", "mlp", "--optimizer", "sgd", "--lr", "0.1", "--batch-size", "32"]
RUN += ["--device", "cpu", "--threads", "1"]


def _start(tiny, *arguments) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    env.pop("MNIST_DATA_DIR", None)
    command = [sys.executable, "-m", "tests.tiny_cli", str(tiny.source), *arguments]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wait_for(condition, process: subprocess.Popen) -> None:
    """Poll until `condition()` holds; fail if the process ends first."""
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the command ended early: {process.communicate()}")
        time.sleep(0.02)


def _mtime(path: Path) -> float:
    return path.stat().st_mtime_ns if path.exists() else 0


def test_sigkill_at_random_moments_never_breaks_the_checkpoint(tiny_data, tiny):
    path = Path("ckpt.pt")
    rng = random.Random(20261127)
    epochs = 12
    # The run never killed, to compare with; it runs meanwhile.
    straight = _start(tiny, "train", *RUN, "--epochs", str(epochs), "--checkpoint", "s.pt")
    seen = []
    for kill in range(4):
        resume = ["--resume"] if path.exists() else []
        process = _start(tiny, "train", *RUN, "--epochs", str(epochs), *resume)
        if kill == 0:
            time.sleep(rng.uniform(0.0, 1.0))  # most likely before the first save
        else:
            before = _mtime(path)
            _wait_for(lambda before=before: _mtime(path) != before, process)
            time.sleep(rng.uniform(0.0, 0.15))  # somewhere in an epoch, or in a save
        process.kill()
        process.wait()
        if path.exists():
            seen.append(len(load_checkpoint(path).history))  # must always load
        else:
            seen.append(None)
    assert any(epochs_done for epochs_done in seen), seen  # some kills landed after saves

    # On a fast machine the last killed run may already have finished every epoch.
    if len(load_checkpoint(path).history) < epochs:
        finish = _start(tiny, "train", *RUN, "--epochs", str(epochs), "--resume")
        assert finish.wait() == 0, finish.communicate()
    assert straight.wait() == 0, straight.communicate()
    resumed = torch.load(path, weights_only=True)["state_dict"]
    expected = torch.load("s.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(resumed[k], expected[k]) for k in expected)
    assert sorted(p.name for p in Path().glob(".ckpt.pt.*.tmp")) == []  # stale temps cleaned


@pytest.mark.parametrize(
    ("number", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
def test_a_signal_saves_says_how_to_resume_and_exits_128_plus_its_number(
    tiny_data, tiny, number, code
):
    path = Path("ckpt.pt")
    process = _start(tiny, "train", *RUN, "--epochs", "500")
    _wait_for(path.exists, process)
    process.send_signal(number)
    _, stderr = process.communicate()
    assert process.returncode == code, stderr
    assert stderr.startswith("stopped ")  # a plain line: the user asked for it, not an error
    assert "saved to ckpt.pt; continue with `mnist train --resume --checkpoint ckpt.pt`" in stderr
    assert "Traceback" not in stderr
    done = len(load_checkpoint(path).history)

    again = _start(tiny, "train", "--resume", "--epochs", str(done + 1))
    _, stderr = again.communicate()
    assert again.returncode == 0, stderr
    assert len(load_checkpoint(path).history) == done + 1


@pytest.fixture
def release():
    event = threading.Event()
    yield event
    event.set()


def test_a_download_killed_mid_file_leaves_nothing_that_looks_valid(runner, tiny, serve, release):
    stalling = serve(tiny.source, _faulty(lambda n: "stall-mid", [], release))
    process = _start(tiny, "download", "--mirror", stalling)
    folder = Path("data/mnist")
    part = f".train-images-idx3-ubyte.{process.pid}.part"  # this process's own
    _wait_for(lambda: (folder / part).exists(), process)
    process.kill()
    process.wait()
    assert sorted(p.name for p in folder.iterdir()) == [".download.lock", part]

    again = runner.invoke(app(), ["download", "--from", str(tiny.source)])
    assert again.exit_code == 0, again.output
    assert sorted(p.name for p in folder.iterdir()) == sorted(tiny.contents)
