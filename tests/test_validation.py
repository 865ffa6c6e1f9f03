"""The validation split: held out of the training images by seed, disjoint from what is trained
on, recorded in the checkpoint, scored every epoch; and checkpoints written before it still load.
"""

from __future__ import annotations

import json

import pytest
import torch

from mnist_cli.checkpoint.read import load_checkpoint
from mnist_cli.checkpoint.write import payload_sha256
from mnist_cli.data.store import LabelledImages
from mnist_cli.errors import CheckpointError
from mnist_cli.train.record import read_record
from mnist_cli.train.validation import hold_out, validation_indices, validation_size
from tests.conftest import app


def _numbered(count: int) -> LabelledImages:
    """Images whose single pixel is their own index, so each part says where it came from."""
    return LabelledImages(torch.arange(count).view(count, 1, 1, 1).float(), torch.arange(count))


def test_the_split_is_disjoint_and_covers_every_image():
    train, validation = hold_out(_numbered(60000), 5000, seed=0)
    trained = set(train.labels.tolist())
    held = set(validation.labels.tolist())
    assert len(held) == 5000 and len(trained) == 55000
    assert trained.isdisjoint(held) and trained | held == set(range(60000))
    # images and labels stay together
    assert torch.equal(validation.images.flatten().long(), validation.labels)


def test_the_same_seed_holds_out_the_same_images_and_another_seed_others():
    first = validation_indices(60000, 5000, seed=0)
    assert torch.equal(first, validation_indices(60000, 5000, seed=0))
    other = validation_indices(60000, 5000, seed=1)
    assert len(set(first.tolist()) & set(other.tolist())) < 1000  # about 5000 * 5000/60000


def test_the_split_draws_its_own_random_numbers():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    validation_indices(60000, 5000, seed=7)
    assert torch.equal(torch.rand(3), expected)  # the global generator is left alone


def test_at_most_a_tenth_is_held_out_and_zero_holds_out_none():
    assert validation_size(5000, 60000) == 5000
    assert validation_size(5000, 600) == 60
    train, validation = hold_out(_numbered(600), 0, seed=0)
    assert validation is None and len(train.labels) == 600


def _train(runner, *arguments):
    return runner.invoke(
        app(), ["train", "--model", "mlp", "--batch-size", "32", "--json", *arguments]
    )


def test_train_scores_the_validation_split_every_epoch_and_records_it(runner, tiny_data):
    result = _train(runner, "--epochs", "2", "--val-split", "50", "--checkpoint", "a.pt")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["config"]["val_split"] == 50
    for row in report["history"]:
        assert 0 <= row["val_accuracy"] <= 1 and row["val_loss"] > 0
    rows = read_record("a.jsonl")
    assert [row["val_accuracy"] for row in rows] == [r["val_accuracy"] for r in report["history"]]
    loaded = load_checkpoint("a.pt")
    assert loaded.config.val_split == 50
    assert loaded.history[-1].val_accuracy == report["history"][-1]["val_accuracy"]
    assert loaded.temperature == report["temperature"] != 1.0


def test_epoch_rows_show_the_validation_scores(runner, tiny_data):
    result = runner.invoke(app(), ["train", "--model", "mlp", "--epochs", "1"])
    assert result.exit_code == 0, result.output
    assert "val loss" in result.stdout and "val accuracy" in result.stdout
    assert "temperature" in result.stdout


def test_without_a_validation_split_there_is_no_temperature(runner, tiny_data):
    result = _train(runner, "--epochs", "1", "--val-split", "0")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["temperature"] == 1.0
    assert report["history"][0]["val_loss"] is None
    assert report["history"][0]["val_accuracy"] is None
    assert load_checkpoint("ckpt.pt").history[0].val_accuracy is None


def test_a_negative_split_is_a_usage_error(runner, tiny_data):
    result = _train(runner, "--val-split", "-1")
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_resume_refuses_another_split(runner, tiny_data):
    assert _train(runner, "--epochs", "1", "--schedule", "constant").exit_code == 0
    result = _train(runner, "--resume", "--epochs", "2", "--val-split", "10")
    assert result.exit_code == 1
    assert "--val-split 10 would change the run" in result.stderr


def _rewrite(path, change) -> None:
    data = torch.load(path, weights_only=True)
    change(data)
    data["sha256"] = payload_sha256(data)
    torch.save(data, path)


def test_a_checkpoint_from_before_the_split_still_loads(tiny_checkpoint):
    def as_before(data):
        del data["temperature"]
        del data["config"]["val_split"]
        for row in data["history"]:
            del row["val_loss"], row["val_accuracy"]

    _rewrite(tiny_checkpoint, as_before)
    loaded = load_checkpoint(tiny_checkpoint)
    assert loaded.temperature == 1.0
    assert loaded.config.val_split == 0  # that run held nothing out
    assert loaded.history[-1].val_accuracy is None


@pytest.mark.parametrize("temperature", [-1.0, 0.0, float("inf"), "hot", 2])
def test_a_malformed_temperature_is_refused(tiny_checkpoint, temperature):
    _rewrite(tiny_checkpoint, lambda data: data.update(temperature=temperature))
    with pytest.raises(CheckpointError, match="temperature is malformed"):
        load_checkpoint(tiny_checkpoint)
