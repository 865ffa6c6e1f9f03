"""`mnist info`: what a checkpoint holds, read from the file alone."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from mnist_cli.checkpoint.write import payload_sha256
from tests.conftest import app


def test_json_describes_the_checkpoint(runner, tiny_data):
    trained = runner.invoke(app(), ["train", "--model", "mlp", "--epochs", "2", "--json"])
    assert trained.exit_code == 0, trained.output
    training = json.loads(trained.stdout)
    shutil.rmtree(tiny_data)  # info must not need the data
    result = runner.invoke(app(), ["info", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["model"] == "mlp"
    assert info["parameters"] == training["parameters"] == 235_146
    assert info["test_accuracy"] == training["test_accuracy"]
    assert info["test_loss"] == training["test_loss"]
    assert info["epochs"] == 2
    assert info["history"] == training["history"]
    assert info["config"] == training["config"]
    assert info["dataset"] == "mnist" and info["classes"][7] == "seven"
    assert info["torch_version"] == str(torch.__version__)
    assert info["created"].endswith("+00:00")
    assert info["checkpoint"] == "ckpt.pt"
    assert info["size"] == Path("ckpt.pt").stat().st_size


def test_table_for_people(runner, tiny_checkpoint):
    result = runner.invoke(app(), ["info", str(tiny_checkpoint)])
    assert result.exit_code == 0, result.output
    for words in ("mlp (235,146 parameters)", "test accuracy", "epochs", "torch", "created"):
        assert words in result.stdout
    assert "optimizer adamw" in result.stdout


def test_a_checkpoint_without_history_says_so(runner, tiny_checkpoint):
    raw = torch.load(tiny_checkpoint, weights_only=True)
    raw["history"] = []
    del raw["created"]
    raw["sha256"] = payload_sha256(raw)  # an honest file of an older writer, not a damaged one
    torch.save(raw, "bare.pt")
    result = runner.invoke(app(), ["info", "bare.pt", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["test_accuracy"] is None and info["epochs"] == 0 and info["created"] == ""
    table = runner.invoke(app(), ["info", "bare.pt"])
    assert table.exit_code == 0 and "not recorded" in table.stdout


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: None, "no checkpoint at x.pt"),
        (lambda: Path("x.pt").write_bytes(b"not a checkpoint"), "not a valid mnist checkpoint"),
        (lambda: Path("x.pt").mkdir(), "is a directory"),
    ],
)
def test_bad_checkpoints_are_one_line(runner, make, message):
    make()
    result = runner.invoke(app(), ["info", "x.pt"])
    assert result.exit_code == 1
    assert message in result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == ""
