"""`mnist train --resume`: the run goes on exactly where it stopped (at an epoch's end or in the
middle of one), and a flag that would change the run is refused."""

import os
import signal
from pathlib import Path

import pytest
import torch

from tests.conftest import app

# Same seed and same --threads: the same run, bit for bit, on the CPU.
SGD = ["--model", "mlp", "--optimizer", "sgd", "--lr", "0.1", "--device", "cpu", "--threads", "1"]
ADAMW = ["--model", "mlp", "--device", "cpu", "--threads", "1"]  # one-cycle, augmentation


def _train(runner, *arguments):
    return runner.invoke(app(), ["train", "--batch-size", "32", *arguments])


def _weights(path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["state_dict"]


def _assert_identical(a, b) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa), "weights differ"
    ha = torch.load(a, weights_only=True)["history"]
    hb = torch.load(b, weights_only=True)["history"]
    timings = ("seconds", "train_seconds")
    strip = [{k: v for k, v in row.items() if k not in timings} for row in ha]
    assert strip == [{k: v for k, v in row.items() if k not in timings} for row in hb]


def _signal_on_call(monkeypatch, module, name, call, signals=(signal.SIGTERM,)):
    """Patch module.name so that its `call`-th call sends `signals` to this process first."""
    real = getattr(module, name)
    calls = []

    def wrapper(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            for number in signals:
                os.kill(os.getpid(), number)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)


def test_one_epoch_then_resume_to_two_equals_two_straight(runner, tiny_data):
    assert _train(runner, *SGD, "--epochs", "2", "--checkpoint", "straight.pt").exit_code == 0
    assert _train(runner, *SGD, "--epochs", "1", "--checkpoint", "resumed.pt").exit_code == 0
    result = _train(runner, "--resume", "--epochs", "2", "--checkpoint", "resumed.pt")
    assert result.exit_code == 0, result.output
    assert "epoch 2/2" in result.stdout and "epoch 1/2" not in result.stdout
    _assert_identical("straight.pt", "resumed.pt")


def test_sigterm_at_an_epoch_end_then_resume_is_exact(runner, tiny_data, monkeypatch):
    assert _train(runner, *ADAMW, "--epochs", "3", "--checkpoint", "straight.pt").exit_code == 0
    from mnist_cli.train import loop as training

    with monkeypatch.context() as patch:
        _signal_on_call(patch, training, "evaluate", call=1)  # during epoch 1's test pass
        stopped = _train(runner, *ADAMW, "--epochs", "3", "--checkpoint", "resumed.pt")
    assert stopped.exit_code == 143, stopped.output  # SIGTERM: 128 + 15
    assert "stopped at the end of epoch 1" in stopped.stderr
    assert "mnist train --resume --checkpoint resumed.pt" in stopped.stderr
    assert len(torch.load("resumed.pt", weights_only=True)["history"]) == 1

    result = _train(runner, "--resume", "--checkpoint", "resumed.pt")
    assert result.exit_code == 0, result.output
    _assert_identical("straight.pt", "resumed.pt")


@pytest.mark.parametrize("options", [SGD, ADAMW], ids=["sgd", "adamw"])
def test_ctrl_c_in_the_middle_of_an_epoch_then_resume_is_exact(
    runner, tiny_data, monkeypatch, options
):
    assert _train(runner, *options, "--epochs", "2", "--checkpoint", "straight.pt").exit_code == 0
    from mnist_cli.train import steps as training

    # 17 steps an epoch (60 of the 600 images are held out for validation); the test and the
    # validation pass score in numpy (metrics.py), without cross_entropy: the 26th is step 9 of
    # epoch 2.
    with monkeypatch.context() as patch:
        _signal_on_call(patch, training.F, "cross_entropy", call=26, signals=[signal.SIGINT])
        stopped = _train(runner, *options, "--epochs", "2", "--checkpoint", "resumed.pt")
    assert stopped.exit_code == 130, stopped.output
    assert "stopped in epoch 2 after step 9 of 17" in stopped.stderr
    saved = torch.load("resumed.pt", weights_only=True)
    assert saved["training"]["epoch_progress"]["step"] == 9

    result = _train(runner, "--resume", "--checkpoint", "resumed.pt", "--json")
    assert result.exit_code == 0, result.output
    _assert_identical("straight.pt", "resumed.pt")


def test_a_second_signal_interrupts_at_once(runner, tiny_data, monkeypatch):
    from mnist_cli.train import steps as training

    assert _train(runner, *SGD, "--epochs", "1").exit_code == 0
    before = Path("ckpt.pt").read_bytes()
    signals = [signal.SIGINT, signal.SIGINT]
    _signal_on_call(monkeypatch, training.F, "cross_entropy", call=3, signals=signals)
    result = _train(runner, *SGD, "--epochs", "2")
    assert result.exit_code == 130
    assert "no epoch had finished, so ckpt.pt keeps the checkpoint it held before" in result.stderr
    assert Path("ckpt.pt").read_bytes() == before  # the earlier run's checkpoint is untouched


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--model", "cnn"], "--model cnn would change the run saved in ckpt.pt (--model mlp)"),
        (["--batch-size", "64"], "--batch-size 64 would change the run"),
        (["--lr", "0.5"], "--lr 0.5 would change the run"),
        (["--seed", "3"], "--seed 3 would change the run"),
        (["--optimizer", "adamw"], "--optimizer adamw would change the run"),
        (["--epochs", "3", "--schedule", "onecycle"], "--schedule onecycle would change"),
        (["--epochs", "1"], "already holds 2 epochs of 2: nothing to resume"),
    ],
)
def test_resume_refuses_flags_that_change_the_run(runner, tiny_data, flags, message):
    assert _train(runner, *SGD, "--epochs", "2").exit_code == 0
    before = Path("ckpt.pt").read_bytes()
    result = runner.invoke(app(), ["train", "--resume", *flags])
    assert result.exit_code == 1, result.output
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
    assert Path("ckpt.pt").read_bytes() == before


def test_resume_accepts_the_same_values_and_may_extend_a_constant_schedule(runner, tiny_data):
    assert _train(runner, *SGD, "--epochs", "1").exit_code == 0
    result = _train(runner, "--resume", *SGD, "--epochs", "3", "--json")
    assert result.exit_code == 0, result.output
    assert [row["epoch"] for row in torch.load("ckpt.pt", weights_only=True)["history"]] == [
        1,
        2,
        3,
    ]


def test_a_finished_one_cycle_run_cannot_be_extended(runner, tiny_data):
    assert _train(runner, *ADAMW, "--epochs", "1").exit_code == 0
    again = runner.invoke(app(), ["train", "--resume"])
    assert again.exit_code == 1
    assert "already holds 1 epochs of 1: nothing to resume" in again.stderr
    longer = runner.invoke(app(), ["train", "--resume", "--epochs", "2"])
    assert longer.exit_code == 1
    assert "was planned for 1 epochs: --epochs can extend only runs with" in longer.stderr


def test_resume_without_a_checkpoint(runner, tiny_data):
    result = runner.invoke(app(), ["train", "--resume", "--checkpoint", "nope.pt"])
    assert result.exit_code == 1
    assert "no checkpoint at nope.pt" in result.stderr
