"""`mnist train --init-from CKPT`: a new run from a checkpoint's weights, with a fresh optimiser,
schedule and history, recorded in the new checkpoint's config; another model, width or dataset
is refused in one line naming what differs."""

from pathlib import Path

import torch

from mnist_cli.checkpoint.read import load_checkpoint
from mnist_cli.checkpoint.write import make_checkpoint, payload_sha256
from mnist_cli.config import TrainConfig
from mnist_cli.data.catalog import MNIST
from mnist_cli.models import build_model
from tests.conftest import app

FAST = ["--threads", "1", "--device", "cpu", "--quiet", "--batch-size", "128"]


def _train(runner, *arguments):
    return runner.invoke(app(), ["train", *FAST, *arguments])


def test_a_new_run_starts_from_the_weights_with_a_fresh_optimiser(runner, tiny_data):
    assert _train(runner, "--model", "mlp", "--epochs", "2").exit_code == 0
    # A rate so small that the new run's one epoch leaves the weights where they started.
    result = _train(
        runner,
        *("--model", "mlp", "--epochs", "1", "--init-from", "ckpt.pt", "--checkpoint", "b.pt"),
        *("--lr", "1e-12", "--schedule", "constant", "--no-augment"),
    )
    assert result.exit_code == 0, result.output
    start, new = load_checkpoint(Path("ckpt.pt")), load_checkpoint(Path("b.pt"))
    for key, tensor in start.model.state_dict().items():
        assert torch.allclose(new.model.state_dict()[key], tensor, atol=1e-6), key
    assert new.config.init_from == "ckpt.pt"
    assert len(new.history) == 1  # a history of its own
    steps = new.training["optimizer"]["state"][0]["step"]  # AdamW's count: this run's alone
    assert int(steps) == -(-540 // 128)  # one epoch of the 540 images left to train on
    scratch = _train(runner, "--model", "mlp", "--epochs", "1", "--checkpoint", "c.pt")
    assert scratch.exit_code == 0
    first = load_checkpoint(Path("c.pt")).model.state_dict()["1.weight"]
    assert not torch.allclose(first, new.model.state_dict()["1.weight"], atol=1e-3)


def test_another_model_or_width_is_refused_naming_it(runner, tiny_data):
    assert _train(runner, "--model", "cnn", "--width", "4", "--epochs", "1").exit_code == 0
    before = Path("ckpt.pt").read_bytes()
    for options, message in [
        (["--model", "mlp"], "--init-from ckpt.pt: it holds a cnn, this run trains a mlp:"),
        (["--width", "8"], "--init-from ckpt.pt: its cnn has width 4, this run's has 8:"),
    ]:
        result = _train(
            runner, "--epochs", "1", "--init-from", "ckpt.pt", "--checkpoint", "b.pt", *options
        )
        assert result.exit_code == 1
        assert message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert not Path("b.pt").exists()
    assert Path("ckpt.pt").read_bytes() == before


def test_another_dataset_is_refused(runner, tiny_data):
    model = build_model("mlp", num_classes=10)
    fashion = MNIST.__class__(**{**MNIST.__dict__, "name": "fashion-mnist"})
    config = TrainConfig(model="mlp", dataset="fashion-mnist", batch_size=8)
    torch.save(make_checkpoint(model=model, config=config, dataset=fashion, history=[]), "f.pt")
    result = _train(runner, "--model", "mlp", "--init-from", "f.pt", "--epochs", "1")
    assert result.exit_code == 1
    assert "it was trained on fashion-mnist, this run trains on mnist" in result.stderr


def test_init_from_with_resume_or_a_missing_file_is_refused_before_any_work(runner, tiny_data):
    result = _train(runner, "--init-from", "missing.pt")
    assert result.exit_code == 1
    assert "no checkpoint at missing.pt" in result.stderr
    result = _train(runner, "--init-from", "missing.pt", "--resume")
    assert "--init-from starts a new run and --resume goes on with one" in result.stderr


def test_checkpoints_written_before_init_from_still_load():
    model = build_model("mlp", num_classes=10)
    data = make_checkpoint(model=model, config=TrainConfig(model="mlp"), dataset=MNIST, history=[])
    del data["config"]["init_from"]
    data["sha256"] = payload_sha256(data)
    torch.save(data, "old.pt")
    assert load_checkpoint(Path("old.pt")).config.init_from is None
