"""Every read of a user's file is bounded: FIFOs, devices and directories are refused before a
read can block or stream without end, and no read takes more bytes than its cap, whatever
`st_size` says (issue 12, item 6). Each runs in a subprocess with a timeout and a memory limit,
so that a regression fails instead of hanging or eating the machine."""

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

MEMORY = 5 * 2**30  # address space: torch (3.3 GB virtual) fits, an endless read does not


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def _mnist(*arguments: str, stdin=subprocess.DEVNULL) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mnist_cli", *arguments],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limit_memory,
    )


@pytest.fixture
def fifo() -> Path:
    path = Path("f.png")
    os.mkfifo(path)
    return path


def test_a_fifo_as_checkpoint_is_refused_at_once(fifo):
    for command in (["info", str(fifo)], ["evaluate", str(fifo)]):
        result = _mnist(*command)
        assert result.returncode == 1, result.stderr
        assert result.stderr == "error: f.png is a FIFO (named pipe), not a checkpoint file\n"


def test_a_fifo_as_image_is_refused_at_once(tiny_checkpoint, fifo):
    result = _mnist("predict", str(fifo))
    assert result.returncode == 1, result.stderr
    assert result.stderr == "error: f.png: is a FIFO (named pipe), not an image\n"


def test_dev_zero_as_checkpoint_or_image_is_refused(tiny_checkpoint):
    info = _mnist("info", "/dev/zero")
    assert info.returncode == 1
    assert info.stderr == "error: /dev/zero is a device, not a checkpoint file\n"
    predict = _mnist("predict", "/dev/zero")
    assert predict.returncode == 1
    assert predict.stderr == "error: /dev/zero: is a device, not an image\n"


def test_endless_stdin_is_capped(tiny_checkpoint):
    with open("/dev/zero", "rb") as endless:
        result = _mnist("predict", "-", stdin=endless)
    assert result.returncode == 1, result.stderr
    assert result.stderr == "error: stdin: is larger than 100 MiB\n"


def test_a_sparse_giant_is_refused_without_reading_it(tiny_checkpoint):
    with open("big.png", "wb") as big:
        big.truncate(101 * 2**20)
    result = _mnist("predict", "big.png")
    assert result.returncode == 1
    assert result.stderr == "error: big.png: is larger than 100 MiB\n"


def test_a_file_that_grows_past_its_size_is_cut_at_the_cap(tmp_path):
    """/proc files say st_size 0 and hold more: the cap holds whatever st_size says."""
    from mnist_cli.files import Unreadable, read_bounded

    assert len(read_bounded(Path("/proc/self/status"), 1 << 20)) > 0
    with pytest.raises(Unreadable, match="larger than 100 bytes"):
        read_bounded(Path("/proc/self/status"), 100)


def test_a_closed_stdin_is_one_line(tiny_checkpoint):
    result = subprocess.run(
        [sys.executable, "-m", "mnist_cli", "predict", "-"],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.close(0),
    )
    assert result.returncode == 1
    assert result.stderr == (
        "error: stdin: closed, nothing to read: pipe an image into `mnist predict -`\n"
    )
