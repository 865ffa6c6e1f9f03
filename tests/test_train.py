"""`mnist train` on the synthetic dataset: learning, JSON, checkpoints, downloads, interrupts."""

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from mnist_cli.checkpoint.read import load_checkpoint
from mnist_cli.data import catalog
from tests.conftest import app


def _train(runner, *arguments):
    return runner.invoke(app(), ["train", "--batch-size", "32", *arguments])


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_learns_the_synthetic_digits(runner, tiny_data, model):
    result = _train(runner, "--model", model, "--epochs", "6", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["test_accuracy"] >= 0.9
    assert report["epochs"] == 6
    assert report["checkpoint"] == "ckpt.pt"
    assert [row["epoch"] for row in report["history"]] == [1, 2, 3, 4, 5, 6]
    first, last = report["history"][0], report["history"][-1]
    assert last["train_loss"] < first["train_loss"]
    assert set(first) == set(
        "epoch train_loss test_loss test_accuracy lr seconds train_seconds".split()
        + ["val_loss", "val_accuracy"]
    )
    assert 0 <= last["val_accuracy"] <= 1 and last["val_loss"] > 0
    assert report["config"]["val_split"] == 5000 and report["temperature"] > 0
    assert 0 < first["train_seconds"] <= first["seconds"]
    assert 0 <= last["test_accuracy"] <= 1


def test_tables_and_epoch_rows_for_people(runner, tiny_data):
    result = _train(runner, "--model", "mlp", "--epochs", "2")
    assert result.exit_code == 0, result.output
    assert "epoch 1/2" in result.stdout and "epoch 2/2" in result.stdout
    assert "training finished" in result.stdout
    assert "test accuracy" in result.stdout and "%" in result.stdout


def test_checkpoint_describes_itself(runner, tiny_data):
    result = _train(runner, "--model", "mlp", "--epochs", "2", "--checkpoint", "runs/a.pt")
    assert result.exit_code == 0, result.output
    raw = torch.load("runs/a.pt", weights_only=True)
    assert raw["format_version"] == 2
    assert len(raw["sha256"]) == 64
    assert set(raw["training"]) >= {"optimizer", "schedule", "generator", "torch_rng"}
    assert raw["model"] == {"name": "mlp", "kwargs": {"num_classes": 10}}
    assert raw["normalization"] == {"mean": 0.1307, "std": 0.3081}
    assert raw["class_names"][7] == "seven"
    assert raw["config"]["model"] == "mlp" and raw["config"]["epochs"] == 2
    assert len(raw["history"]) == 2
    assert raw["torch_version"] == str(torch.__version__)
    assert all(isinstance(v, torch.Tensor) for v in raw["state_dict"].values())


def test_the_mlp_is_the_exercise_network(runner, tiny_data):
    assert _train(runner, "--model", "mlp", "--epochs", "1").exit_code == 0
    model = load_checkpoint(Path("ckpt.pt")).model
    linear = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [(784, 256), (256, 128), (128, 10)]
    assert sum(isinstance(m, torch.nn.Sigmoid) for m in model.modules()) == 2


def test_same_seed_same_weights_on_the_cpu(runner, tiny_data):
    # The thread count is pinned: float sums split across threads round differently.
    for name in ("a.pt", "b.pt"):
        result = _train(
            runner, "--epochs", "1", "--device", "cpu", "--threads", "1", "--checkpoint", name
        )
        assert result.exit_code == 0, result.output
    a = torch.load("a.pt", weights_only=True)["state_dict"]
    b = torch.load("b.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_exercise_recipe_options_are_accepted(runner, tiny_data):
    options = "--model mlp --optimizer sgd --lr 0.5 --schedule constant --epochs 3 --json"
    result = _train(runner, *options.split())
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["config"]["optimizer"] == "sgd"
    assert all(row["lr"] == 0.5 for row in report["history"])


def test_downloads_missing_data_first_and_says_so(runner, tiny, serve, monkeypatch):
    mirrored = dataclasses.replace(tiny.dataset, mirrors=(serve(tiny.source),))
    monkeypatch.setitem(catalog.DATASETS, "mnist", mirrored)
    result = _train(runner, "--model", "mlp", "--epochs", "1", "--json")
    assert result.exit_code == 0, result.output
    assert "downloading it first" in result.stderr
    json.loads(result.stdout)  # stdout holds the JSON document alone
    assert len(list(Path("data/mnist").iterdir())) == 4


def test_missing_data_without_network_is_one_line(runner, tiny):
    result = _train(runner, "--epochs", "1")
    assert result.exit_code == 1
    assert "downloading it first" in result.stderr
    assert "error: could not download" in result.stderr
    assert "Traceback" not in result.output
    assert not Path("ckpt.pt").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_asking_for_cuda_without_it(runner, tiny_data):
    result = _train(runner, "--device", "cuda")
    assert result.exit_code == 1
    assert "CUDA is not available" in result.stderr


def test_ctrl_c_keeps_the_last_finished_epoch(runner, tiny_data, monkeypatch):
    from mnist_cli.train import loop as training

    real_evaluate = training.evaluate
    calls = []

    def evaluate_then_interrupt(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(training, "evaluate", evaluate_then_interrupt)
    result = _train(runner, "--model", "mlp", "--epochs", "3")
    assert result.exit_code == 130
    assert "interrupted during epoch 2" in result.stderr
    assert "ckpt.pt holds epoch 1" in result.stderr
    assert len(load_checkpoint(Path("ckpt.pt")).history) == 1


def test_divergence_is_reported(runner, tiny_data):
    result = _train(runner, "--optimizer", "sgd", "--lr", "1e30", "--epochs", "1")
    assert result.exit_code == 1
    assert "diverged" in result.stderr


def test_checkpoint_mistakes_fail_before_any_epoch(runner, tiny_data, monkeypatch):
    from mnist_cli.train import loop as training

    monkeypatch.setattr(training, "load_normalised", lambda *a: pytest.fail("data was loaded"))
    Path("a-folder").mkdir()
    result = _train(runner, "--checkpoint", "a-folder")
    assert result.exit_code == 1
    assert "is a directory" in result.stderr


def test_stale_temporary_files_of_killed_runs_are_cleaned(runner, tiny_data):
    stale = Path(".ckpt.pt.999999999.tmp")  # no such pid
    stale.write_bytes(b"half a checkpoint")
    assert _train(runner, "--model", "mlp", "--epochs", "1").exit_code == 0
    assert not stale.exists()
    assert sorted(p.name for p in Path().glob(".ckpt.pt.*")) == []
