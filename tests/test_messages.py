"""Every refusal a user can act on, in one line (issue 12, items 9, 10, 11): options bounded
where the machine bounds them, no "unexpected ..." for the inputs an adversarial user found, -q on
every command, the threads a run used in its checkpoint, and a wrong path reported before torch
is imported."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from mnist_cli.checkpoint.write import payload_sha256
from tests.conftest import REPO, app

SGD = ["--model", "mlp", "--optimizer", "sgd", "--lr", "0.1", "--batch-size", "32"]


def _train(runner, *arguments):
    return runner.invoke(app(), ["train", *SGD, "--epochs", "1", *arguments])


def _crafted(source: str, target: str, change) -> None:
    """A copy of a checkpoint, changed by `change(dict)` and signed again, as an attacker would."""
    data = torch.load(source, weights_only=True)
    change(data)
    data["sha256"] = payload_sha256(data)
    torch.save(data, target)


# -- item 9: --threads at most the usable cores


def test_more_threads_than_cores_is_refused_before_training(runner, tiny_data):
    from mnist_cli.config import usable_cores

    cores = usable_cores()
    result = _train(runner, "--threads", "10000")
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: --threads 10000 is more than the {cores} cores this process may use:"
        f" give at most {cores}\n"
    )
    assert not Path("ckpt.pt").exists()


# -- item 10: sentences instead of "unexpected ..."


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--seed", str(2**64)], "--seed must be at least -2**63 and below 2**64"),
        (["--weight-decay", "inf"], "--weight-decay must be a finite number, at least 0"),
        (
            ["--model", "cnn", "--batch-size", "1"],
            "--batch-size must be at least 2 for the cnn (its batch norm needs two)",
        ),
    ],
    ids=["seed-2**64", "weight-decay-inf", "cnn-batch-1"],
)
def test_impossible_settings_are_one_sentence(runner, tiny_data, options, message):
    result = _train(runner, *options)
    assert result.exit_code == 1
    assert result.stderr == f"error: {message}\n"


def test_a_batch_too_large_for_memory_is_one_sentence(runner, tiny_data, monkeypatch):
    from mnist_cli.train import state as training  # where a run builds its model

    real_build = training.build_model

    def model_that_runs_out(*args, **kwargs):
        model = real_build(*args, **kwargs)
        model.register_forward_hook(lambda *_: torch.empty(2**50, dtype=torch.uint8))
        return model  # the real allocator refuses 1 PiB, as it refuses a batch too large

    monkeypatch.setattr(training, "build_model", model_that_runs_out)
    result = _train(runner)
    assert result.exit_code == 1
    assert result.stderr == (
        "error: out of memory on cpu with --batch-size 32: try a smaller --batch-size\n"
    )


@pytest.mark.parametrize(
    ("progress", "why"),
    [
        ({"permutation": torch.tensor([5, 5])}, "batch order"),
        ({"permutation": torch.tensor([10**9])}, "batch order"),
        ({"permutation": torch.rand(3)}, "batch order"),
        ({"step": 10**6}, "step 1000000"),
        ({"noise_state": torch.zeros(3, dtype=torch.uint8)}, "random state"),
    ],
    ids=["repeated", "out-of-range", "floats", "step", "noise-state"],
)
def test_a_crafted_resume_state_is_one_sentence(runner, tiny_data, monkeypatch, progress, why):
    from mnist_cli.train import steps

    real_loss, calls = steps.F.cross_entropy, []

    def loss_then_sigint(*args, **kwargs):  # stopped at step 3 of epoch 1, saved
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return real_loss(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(steps.F, "cross_entropy", loss_then_sigint)
        assert _train(runner, "--epochs", "3").exit_code == 130

    _crafted(
        "ckpt.pt", "crafted.pt", lambda data: data["training"]["epoch_progress"].update(progress)
    )
    result = runner.invoke(app(), ["train", "--resume", "--checkpoint", "crafted.pt"])
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "error: not a valid mnist checkpoint: its training state does not fit ("
    )
    assert why in result.stderr and result.stderr.count("\n") == 1


def test_an_unreadable_colour_mode_names_its_file(runner, tiny_checkpoint):
    Image.new("LAB", (28, 28)).save("lab.tif")
    result = runner.invoke(app(), ["predict", "lab.tif"])
    assert result.exit_code == 1
    assert result.stderr == (
        "error: lab.tif: cannot read colour mode LAB: conversion from LAB to RGB not supported\n"
    )


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda d: d["normalization"].update(mean=float("nan")), "normalisation holds NaN"),
        (lambda d: d["normalization"].update(std=float("inf")), "normalisation holds NaN"),
        (lambda d: d["class_names"].__setitem__(3, "\x1b[2J\x1b]0;pwned\x07"), "control"),
    ],
    ids=["nan-mean", "inf-std", "ansi-class-name"],
)
def test_a_crafted_checkpoint_is_refused_before_it_reaches_the_terminal(
    runner, tiny_checkpoint, change, why
):
    _crafted("ckpt.pt", "crafted.pt", change)
    Image.new("L", (28, 28), 255).save("digit.png")
    for command in (
        ["predict", "digit.png", "--checkpoint", "crafted.pt", "--json"],
        ["info", "crafted.pt"],
    ):
        result = runner.invoke(app(), command)
        assert result.exit_code == 1
        assert result.stderr.startswith("error: not a valid mnist checkpoint: crafted.pt: ")
        assert why in result.stderr
        assert "\x1b" not in result.output and "NaN" not in result.stdout


# -- item 10: -q on every command; long checkpoint names


def test_every_command_takes_q(runner, tiny, tiny_checkpoint):
    Image.new("L", (28, 28), 255).save("digit.png")
    for command in (
        ["download", "-q", "--from", str(tiny.source)],
        ["info", "-q"],
        ["predict", "-q", "digit.png"],
        ["evaluate", "-q"],
        ["train", "-q", *SGD, "--epochs", "1", "--checkpoint", "q.pt"],
    ):
        result = runner.invoke(app(), command)
        assert result.exit_code == 0, (command, result.output)
        assert result.stderr == "", command  # no progress, no notes


def test_a_checkpoint_name_of_252_characters_works(runner, tiny_data):
    name = "c" * 249 + ".pt"
    result = _train(runner, "--checkpoint", name)
    assert result.exit_code == 0, result.output
    assert runner.invoke(app(), ["info", name]).exit_code == 0
    assert len(json.loads(Path("c" * 249 + ".jsonl").read_text())) > 0
    assert [p.name for p in Path().iterdir() if p.name.startswith(".")] == []  # no temp, no lock


# -- item 11: the threads a run used; paths checked before torch is imported


def test_the_checkpoint_records_the_threads_used(runner, tiny_data):
    from mnist_cli.config import usable_cores

    assert _train(runner, "--threads", "1", "--json").exit_code == 0
    info = json.loads(runner.invoke(app(), ["info", "--json"]).stdout)
    assert info["config"]["threads"] == 1
    assert _train(runner, "--json").exit_code == 0  # no --threads: the default's choice
    threads = json.loads(runner.invoke(app(), ["info", "--json"]).stdout)["config"]["threads"]
    assert isinstance(threads, int) and 1 <= threads <= usable_cores()


_NO_TORCH = """
import sys
from mnist_cli.__main__ import main
try:
    main(sys.argv[1:])
except SystemExit as exiting:
    print(exiting.code, "torch" in sys.modules)
"""


@pytest.mark.parametrize(
    "command",
    [
        ["info", "missing.pt"],
        ["evaluate", "missing.pt"],
        ["predict", "digit.png", "--checkpoint", "missing.pt"],
        ["train", "--checkpoint", "README.md"],
        ["train", "--threads", "10000"],
    ],
    ids=["info", "evaluate", "predict", "train-foreign-file", "train-threads"],
)
def test_a_wrong_path_is_reported_before_torch_is_imported(command):
    Path("README.md").write_text("# my project\n")
    result = subprocess.run(
        [sys.executable, "-c", _NO_TORCH, *command],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout == "1 False\n", result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
