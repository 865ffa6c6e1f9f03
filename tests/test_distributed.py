"""Data-parallel training: two processes on gloo, started by torchrun or by `--nproc`, on the
synthetic dataset (and, once, the real MNIST). Every process runs one CPU thread, and every
subprocess is bounded by a timeout; a rank that dies or is told to stop must end the run."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mnist_cli.checkpoint.read import load_checkpoint
from mnist_cli.train.cluster import Cluster, from_environment
from mnist_cli.train.record import read_record
from tests.conftest import REPO, app, train_mlp

TIMEOUT = 300  # seconds any one run may take on a busy two-core machine
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
ONE_THREAD = ["--threads", "1", "--device", "cpu", "--batch-size", "32"]
LONG = ["--model", "mlp", "--epochs", "500", "--schedule", "constant", *ONE_THREAD]


def _environment() -> dict[str, str]:
    environment = dict(os.environ, PYTHONPATH=str(REPO), MNIST_COLLECTIVE_TIMEOUT="60")
    for name in ("MNIST_DATA_DIR", "WORLD_SIZE", "RANK", "LOCAL_RANK", "MNIST_DEBUG"):
        environment.pop(name, None)
    return environment


def _run(*command: str) -> subprocess.CompletedProcess:
    process = _start(*command)
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT)
    finally:
        _kill_tree(process)
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def _start(*command: str) -> subprocess.Popen:
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_environment()
    )


def _tiny(source: Path, *arguments: str) -> list[str]:
    return ["-m", "tests.tiny_cli", str(source), *arguments]


def _wait_for_epochs(process: subprocess.Popen, count: int, record=Path("ckpt.jsonl")) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not (record.exists() and len(read_record(record)) >= count):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no epoch finished in time"
        time.sleep(0.2)


def _rank_pids(ancestor: int, rank: int) -> list[int]:
    """The processes of `rank` among the descendants of `ancestor` (torchrun starts the ranks)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            environ = (entry / "environ").read_bytes().split(b"\0") if entry.name.isdigit() else []
        except OSError:
            continue
        if f"RANK={rank}".encode() in environ and _descends(int(entry.name), ancestor):
            found.append(int(entry.name))
    return found


def _rank_pid(ancestor: int, rank: int) -> int:
    [pid] = _rank_pids(ancestor, rank)
    return pid


def _descends(pid: int, ancestor: int) -> bool:
    while pid > 1:
        pid = _parent(pid)
        if pid == ancestor:
            return True
    return False


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _signalled(command: list[str], send) -> tuple[int, str]:
    """Start `command`, call `send(process)` once an epoch is saved; its exit code and stderr."""
    process = _start(*command)
    try:
        _wait_for_epochs(process, 1)
        send(process)
        _, stderr = process.communicate(timeout=TIMEOUT)
    finally:
        _kill_tree(process)
    return process.returncode, stderr


def _to_rank(number: int, rank: int = 1):
    return lambda process: os.kill(_rank_pid(process.pid, rank), number)


def _kill_tree(process: subprocess.Popen) -> None:
    """After a test, nothing it started may go on: torchrun's ranks run in sessions of their own,
    so killing the launcher alone would leave them training."""
    ranks = [pid for rank in (0, 1) for pid in _rank_pids(process.pid, rank)]
    for pid in [process.pid, *ranks]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait(timeout=TIMEOUT)


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def _stopped_lines(stderr: str) -> list[str]:
    """The plain lines (not errors) that say where a run the user stopped stopped."""
    return [line for line in stderr.splitlines() if line.startswith("stopped ")]


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_two_processes_train_and_one_process_evaluates_the_checkpoint(
    runner, tiny, tiny_data, model
):
    result = _run(
        *TORCHRUN, *_tiny(tiny.source, "train", "--model", model, "--epochs", "2"), *ONE_THREAD
    )
    assert result.returncode == 0, result.stderr
    # Only rank 0 prints: one summary, one row per epoch; and it shows the world size.
    assert result.stdout.count("training finished") == 1
    assert result.stdout.count("epoch 2/2") == 1
    assert "│ processes          │ 2" in result.stdout
    assert "training as 2 processes: each takes 16 images of every batch of 32" in result.stderr
    note = "rank 0's running statistics are saved" if model == "cnn" else "none in this model"
    assert note in result.stdout
    rows = read_record(Path("ckpt.jsonl"))
    assert [row["epoch"] for row in rows] == [1, 2]
    assert Path("ckpt.onnx").is_file()  # rank 0 exported it beside the checkpoint, as one would

    evaluated = runner.invoke(app(), ["evaluate", "ckpt.pt", "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["accuracy"] == pytest.approx(rows[-1]["test_accuracy"])


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_after_a_step_every_rank_holds_the_same_weights(tiny, tiny_data, model):
    result = _run(*TORCHRUN, "-m", "tests.ddp_probe", str(tiny.source), model)
    assert result.returncode == 0, result.stderr
    ranks = [torch.load(f"rank{rank}.pt", weights_only=True) for rank in (0, 1)]
    parameters = [name for name in ranks[0] if "running" not in name and "tracked" not in name]
    assert all(torch.equal(ranks[0][name], ranks[1][name]) for name in parameters)
    if model == "mlp":
        # The same command on one process takes the same step, up to rounding: the batch of
        # 32 is the same images, split 16 + 16, and DDP averages the two halves' gradients.
        Path("rank0.pt").rename("two.pt")
        Path("ckpt.pt").unlink()  # a fresh run again: over a checkpoint, epoch 1 saves nothing
        alone = _run(sys.executable, "-m", "tests.ddp_probe", str(tiny.source), model)
        assert alone.returncode == 0, alone.stderr
        one = torch.load("rank0.pt", weights_only=True)
        two = torch.load("two.pt", weights_only=True)
        assert all(torch.allclose(one[k], two[k], atol=1e-6) for k in one)


def test_a_killed_rank_ends_the_run_with_a_clear_line(tiny, tiny_data):
    code, stderr = _signalled(
        [*TORCHRUN, *_tiny(tiny.source, "train", *LONG)], _to_rank(signal.SIGKILL)
    )
    assert code != 0
    assert "error: another process of the run died or stopped answering" in stderr
    assert load_checkpoint(Path("ckpt.pt")).history  # intact, with the epochs it had


def test_sigterm_to_one_rank_stops_all_then_resume_under_torchrun(runner, tiny, tiny_data):
    command = [sys.executable, *_tiny(tiny.source, "train", "--nproc", "2", *LONG)]
    code, stderr = _signalled(command, _to_rank(signal.SIGTERM))
    assert code == 143, stderr  # as a SIGTERM to one process of `mnist train` exits
    # One plain line, from rank 0, with the command that goes on (with as many processes).
    assert _error_lines(stderr) == []
    [line] = _stopped_lines(stderr)
    assert "saved to ckpt.pt" in line
    assert "mnist train --resume --checkpoint ckpt.pt --nproc 2" in line
    done = len(load_checkpoint(Path("ckpt.pt")).history)

    # Another number of processes would be another run: refused in one line.
    alone = runner.invoke(app(), ["train", "--resume", "--epochs", str(done + 2)])
    assert alone.exit_code == 1
    assert "saved by a run of 2 processes and this one has 1" in alone.stderr
    assert len(alone.stderr.strip().splitlines()) == 1

    resumed = _run(*TORCHRUN, *_tiny(tiny.source, "train", "--resume", "--epochs", str(done + 1)))
    assert resumed.returncode == 0, resumed.stderr
    assert f"epoch {done + 1}/{done + 1}" in resumed.stdout
    assert len(load_checkpoint(Path("ckpt.pt")).history) == done + 1


def test_ctrl_c_to_nproc_stops_every_rank_with_the_checkpoint_saved(tiny, tiny_data):
    command = [sys.executable, *_tiny(tiny.source, "train", "--nproc", "2", *LONG)]
    code, stderr = _signalled(command, lambda process: process.send_signal(signal.SIGINT))
    assert code == 130, stderr
    assert _error_lines(stderr) == []
    [line] = _stopped_lines(stderr)
    assert "saved to ckpt.pt" in line
    assert "Traceback" not in stderr
    assert load_checkpoint(Path("ckpt.pt")).training is not None


def test_a_stop_in_epoch_1_under_nproc_keeps_the_previous_checkpoint(runner, tiny, tiny_data):
    train_mlp(runner, 2)  # a checkpoint of one process, and its record
    before = {name: Path(name).read_bytes() for name in ("ckpt.pt", "ckpt.jsonl")}
    # Rank 1 sends itself SIGTERM at its fifth step: every rank stops inside epoch 1.
    stopping = ["-m", "tests.ddp_stop", str(tiny.source), "1", "TERM"]
    result = _run(sys.executable, *stopping, "train", "--nproc", "2", *LONG)
    assert result.returncode == 143, result.stderr
    assert _error_lines(result.stderr) == []
    [line] = _stopped_lines(result.stderr)
    assert re.fullmatch(
        r"stopped in epoch 1 after step 5 of \d+: no epoch had finished, so ckpt.pt keeps the"
        r" checkpoint it held before, unchanged",
        line,
    ), line
    assert {name: Path(name).read_bytes() for name in before} == before
    assert not Path(".ckpt.pt.lock").exists()


def test_rank_0_alone_locks_the_checkpoint_while_the_ranks_train(tiny, tiny_data):
    process = _start(sys.executable, *_tiny(tiny.source, "train", "--nproc", "2", *LONG))
    try:
        _wait_for_epochs(process, 1)  # so rank 1 was not refused by rank 0's lock
        rank_0 = _rank_pid(process.pid, 0)
        assert Path(".ckpt.pt.lock").read_text().strip() == str(rank_0)
        second = _run(sys.executable, *_tiny(tiny.source, "train", *LONG))
        assert second.returncode == 1
        assert second.stderr == (
            f"error: ckpt.pt is being written by process {rank_0} (another mnist train): wait"
            " for it to finish or give another --checkpoint\n"
        )
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=TIMEOUT)
    finally:
        _kill_tree(process)
    assert process.returncode == 143, stderr
    [line] = _stopped_lines(stderr)
    assert "saved to ckpt.pt" in line
    # Besides progress, that one line: not the launcher's log of the signal it passed on.
    said = [text for text in stderr.splitlines() if not text.startswith(("epoch", "training as"))]
    assert said == [line], stderr
    assert not Path(".ckpt.pt.lock").exists()  # rank 0 removed it on its way out
    epochs = [row["epoch"] for row in read_record(Path("ckpt.jsonl"))]
    assert epochs == list(range(1, len(load_checkpoint(Path("ckpt.pt")).history) + 1))


def test_nproc_under_torchrun_is_refused(runner, tiny_data, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    result = runner.invoke(app(), ["train", "--nproc", "2", "--model", "mlp"])
    assert result.exit_code == 1
    assert "leave it out when running under torchrun" in result.stderr


def test_a_broken_torchrun_environment_is_one_line(runner, tiny_data, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "two")
    result = runner.invoke(app(), ["train", "--model", "mlp"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: WORLD_SIZE, RANK and LOCAL_RANK must be whole numbers")


def test_the_environment_torchrun_sets():
    assert from_environment({}) == Cluster()
    cluster = from_environment({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"})
    assert (cluster.rank, cluster.world_size, cluster.local_rank) == (3, 4, 1)
    assert not cluster.is_main and cluster.distributed


@given(count=st.integers(1, 600), world_size=st.integers(1, 16))
def test_the_ranks_share_every_batch(count, world_size):
    shares = [Cluster(rank, world_size).share(count) for rank in range(world_size)]
    rows = [row for share in shares for row in range(count)[share]]
    assert all(len(range(count)[share]) >= 1 for share in shares)  # never an empty batch
    if count >= world_size:  # the batch split exactly, in shares within one of each other
        assert rows == list(range(count))
        sizes = {len(range(count)[share]) for share in shares}
        assert max(sizes) - min(sizes) <= 1


@pytest.mark.real_data
def test_two_processes_learn_the_real_mnist_in_one_epoch(runner, real_mnist):
    imported = runner.invoke(app(), ["download", "--from", str(real_mnist)])
    assert imported.exit_code == 0, imported.output
    result = _run(
        *TORCHRUN,
        "-m",
        "mnist_cli",
        "train",
        "--model",
        "mlp",
        "--epochs",
        "1",
        "--threads",
        "1",
        "--device",
        "cpu",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["world_size"] == 2
    assert report["test_accuracy"] >= 0.95
