"""The ranks of `mnist train --nproc 2` end with their launcher, even one killed by SIGKILL (issue
29): none goes on training once the shell has returned, and none replaces or creates the user's
outputs afterwards. Every process runs one CPU thread; every wait is bounded.

Run as `python -m tests.test_launcher_death DIR ARGS...`, this file is also the command those
tests start: the `mnist` command on the synthetic dataset in DIR (as tests.tiny_cli), whose
ranks take a slow step (a fifth of a second), each saying in `rank<N>.training` that it is
training, so that a test kills the launcher in the middle of epoch 1, at a known point."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, train_mlp

STEP_SECONDS = 0.2
GONE_WITHIN = 5.0  # seconds the kernel has to end the ranks once the launcher is dead
OUTPUTS = ("ckpt.pt", "ckpt.jsonl", "ckpt.onnx")
SLOW_RUN = ["--model", "mlp", "--epochs", "3", "--threads", "1", "--device", "cpu"]


def _state(pid: int) -> str | None:
    """The process's state letter (Z: a zombie, dead but not yet reaped), None if it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def _alive(pids: list[int]) -> list[int]:
    return [pid for pid in pids if _state(pid) not in (None, "Z")]


def _wait_until(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _snapshot() -> dict[str, bytes | None]:
    return {name: Path(name).read_bytes() if Path(name).exists() else None for name in OUTPUTS}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.parametrize("over_old", [True, False], ids=["over-a-checkpoint", "fresh"])
def test_sigkill_of_the_launcher_ends_every_rank_unsaved(runner, tiny, tiny_data, over_old):
    from tests.test_distributed import TIMEOUT, _environment, _rank_pids

    if over_old:
        train_mlp(runner, 1)  # ckpt.pt, ckpt.jsonl and ckpt.onnx of an earlier run
        assert all(Path(name).is_file() for name in OUTPUTS)
    before = _snapshot()
    command = [sys.executable, "-m", "tests.test_launcher_death", str(tiny.source), "train"]
    launcher = subprocess.Popen(
        [*command, "--nproc", "2", *SLOW_RUN],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_environment(),
    )
    ranks: list[int] = []
    try:
        _wait_until(
            lambda: (
                launcher.poll() is None
                and all(Path(f"rank{rank}.training").exists() for rank in (0, 1))
            ),
            TIMEOUT,
            "the ranks did not start training",
        )
        ranks = [pid for rank in (0, 1) for pid in _rank_pids(launcher.pid, rank)]
        assert len(ranks) == 2, ranks
        launcher.kill()  # SIGKILL: the launcher can pass nothing on
        launcher.wait(timeout=TIMEOUT)
        _wait_until(lambda: not _alive(ranks), GONE_WITHIN, f"ranks still running: {ranks}")
    finally:
        for pid in [launcher.pid, *ranks]:  # the ranks no longer descend from the launcher
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        launcher.wait(timeout=TIMEOUT)
    time.sleep(1.0)  # where a rank had survived, it would write about now (an epoch is ~2 s)
    assert _snapshot() == before  # not replaced, and nothing created in a fresh folder


def _python(code: str, **environment: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), **environment},
    )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_rank_whose_launcher_is_already_gone_exits_at_once():
    """The launcher may die before a rank has set its death signal: the rank sees another
    parent, and exits before doing anything."""
    rank = "from mnist_cli.train.cluster import from_environment; from_environment(); print('on')"
    ranks = {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"}
    for launcher, expected in ((os.getpid(), "on\n"), (os.getpid() + 1_000_000, "")):
        process = _python(rank, MNIST_LAUNCHER_PID=str(launcher), **ranks)
        stdout, stderr = process.communicate(timeout=60)
        assert stdout == expected, stderr
        assert (process.returncode == 0) == bool(expected), stderr
    # Outside --nproc (no launcher named, or one process), nothing is bound or checked.
    alone = _python(rank, MNIST_LAUNCHER_PID=str(os.getpid() + 1_000_000))
    assert alone.communicate(timeout=60)[0] == "on\n"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_launcher_killed_during_a_pair_of_writes_leaves_the_pair_whole(tmp_path):
    """The rank in the middle of writing a checkpoint and its record when the launcher dies
    finishes both, then exits: it writes nothing after them."""
    rank = """
        import os, time
        from pathlib import Path
        from mnist_cli.train.cluster import follow_launcher
        from mnist_cli.train.interrupts import signals_deferred
        os.environ["MNIST_LAUNCHER_PID"] = str(os.getppid())
        follow_launcher(os.environ)
        with signals_deferred():
            Path("writing").touch()
            time.sleep(2)
            Path("ckpt.pt").write_text("checkpoint")
            Path("ckpt.jsonl").write_text("record")
        Path("after").touch()
    """
    launcher = _python(
        f"""
        import subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", {textwrap.dedent(rank)!r}])
        time.sleep(600)
        """
    )
    try:
        _wait_until(lambda: Path("writing").exists(), 60, "the rank did not start writing")
        launcher.kill()
        launcher.wait(timeout=60)
        _wait_until(lambda: Path("ckpt.jsonl").exists(), 10, "the pair was not finished")
        time.sleep(1.0)
    finally:
        launcher.kill()
        launcher.wait(timeout=60)
    assert Path("ckpt.pt").read_text() == "checkpoint"
    assert Path("ckpt.jsonl").read_text() == "record"
    assert not Path("after").exists()  # the rank stopped as the pair was whole


if __name__ == "__main__":
    from mnist_cli.__main__ import main
    from tests.tiny_cli import register

    register(Path(sys.argv[1]))
    from mnist_cli.train import steps
    from mnist_cli.train.cluster import from_environment

    cluster = from_environment()
    if cluster.distributed:
        loss = steps.F.cross_entropy

        def slow(*args, **kwargs):
            Path(f"rank{cluster.rank}.training").touch()
            time.sleep(STEP_SECONDS)
            return loss(*args, **kwargs)

        steps.F.cross_entropy = slow
    main(sys.argv[2:])
