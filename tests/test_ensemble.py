"""Calibrated probabilities where they are shown, ensembles in `evaluate` and `predict` (and
their refusal across datasets), the calibration figures and `--reliability`."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from mnist_cli.checkpoint.read import load_checkpoint
from mnist_cli.checkpoint.write import payload_sha256
from mnist_cli.data.catalog import FASHION_MNIST
from mnist_cli.evaluate.scoring import evaluate_checkpoint
from tests.conftest import app, train_mlp


@pytest.fixture
def two(tiny_data, runner):
    """Two mlps of the synthetic dataset, of different seeds."""
    train_mlp(runner, 2, "--checkpoint", "a.pt")
    train_mlp(runner, 2, "--checkpoint", "b.pt", "--seed", "1")
    return "a.pt", "b.pt"


def _digit(path="digit.png", row=10) -> str:
    pixels = np.zeros((28, 28), np.uint8)
    pixels[row : row + 2, 4:24] = 230  # a bar on rows 10-11: the synthetic digit 3
    Image.fromarray(pixels).save(path)
    return path


def _probabilities(runner, *checkpoints: str) -> np.ndarray:
    options = [part for path in checkpoints for part in ("--checkpoint", path)]
    result = runner.invoke(app(), ["predict", _digit(), "--top-k", "10", "--json", *options])
    assert result.exit_code == 0, result.output
    [answer] = json.loads(result.stdout)
    assert answer["checkpoints"] == list(checkpoints)
    vector = np.zeros(10)
    for guess in answer["top_k"]:
        vector[guess["prediction"]] = guess["probability"]
    return vector


def test_predict_shows_probabilities_with_the_temperature_applied(runner, two):
    loaded = load_checkpoint("a.pt")
    pixels = np.asarray(Image.open(_digit()), np.float32) / 255
    inputs = torch.from_numpy((pixels - loaded.mean) / loaded.std).view(1, 1, 28, 28)
    with torch.no_grad():
        logits = loaded.model(inputs).double()
    expected = (logits / loaded.temperature).softmax(1).flatten().numpy()
    assert loaded.temperature != 1.0
    arguments = "predict digit.png --no-preprocess --top-k 10 --json --checkpoint a.pt"
    result = runner.invoke(app(), arguments.split())
    assert result.exit_code == 0, result.output
    shown = {g["prediction"]: g["probability"] for g in json.loads(result.stdout)[0]["top_k"]}
    assert np.allclose([shown[i] for i in range(10)], expected, atol=1e-6)


def test_an_ensemble_predicts_the_mean_of_its_members(runner, two):
    mean = (_probabilities(runner, "a.pt") + _probabilities(runner, "b.pt")) / 2
    assert np.allclose(_probabilities(runner, "a.pt", "b.pt"), mean, atol=1e-9)
    table = runner.invoke(app(), "predict digit.png --checkpoint a.pt --checkpoint b.pt".split())
    assert table.exit_code == 0, table.output
    assert "an ensemble of a.pt, b.pt" in table.stdout


def test_evaluate_an_ensemble(runner, two):
    result = runner.invoke(app(), ["evaluate", "a.pt", "b.pt", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ensemble"] is True
    assert report["checkpoint"] is None and report["model"] is None
    members = report["members"]
    assert [m["checkpoint"] for m in members] == ["a.pt", "b.pt"]
    assert all(m["model"] == "mlp" and m["temperature"] > 0 for m in members)
    assert report["accuracy"] >= 0.9
    assert report["loss"] == pytest.approx(report["calibration"]["nll"], rel=1e-5)
    text = runner.invoke(app(), ["evaluate", "a.pt", "b.pt"])
    assert text.exit_code == 0, text.output
    assert "ensemble of a.pt (mlp), b.pt (mlp)" in text.stdout
    assert "temperatures" in text.stdout and "ECE" in text.stdout


def test_evaluate_one_checkpoint_reports_its_calibration(runner, two):
    result = runner.invoke(app(), ["evaluate", "a.pt", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ensemble"] is False and report["checkpoint"] == "a.pt"
    assert report["members"] == [
        {"checkpoint": "a.pt", "model": "mlp", "temperature": load_checkpoint("a.pt").temperature}
    ]
    figures = report["calibration"]
    assert figures["bins"] == 15
    assert 0 <= figures["ece"] <= 1 and 0 <= figures["ece_before"] <= 1
    assert figures["nll"] <= figures["nll_before"] + 1e-9  # fitted to lower it (on validation)


def test_the_gallery_shows_calibrated_confidence(two):
    loaded = load_checkpoint("a.pt")
    evaluation = evaluate_checkpoint(loaded, "data", mistakes=5)
    for mistake, pixels in zip(evaluation.mistakes, evaluation.images, strict=True):
        inputs = (torch.from_numpy(pixels).float() / 255 - loaded.mean) / loaded.std
        logits = loaded.model(inputs.view(1, 1, 28, 28)).detach().double()
        expected = (logits / loaded.temperature).softmax(1).max().item()
        assert mistake.confidence == pytest.approx(expected, abs=1e-6)


def _as_fashion(path: str) -> None:
    data = torch.load(path, weights_only=True)
    data["dataset"] = FASHION_MNIST.name
    data["class_names"] = list(FASHION_MNIST.class_names)
    data["sha256"] = payload_sha256(data)
    torch.save(data, path)


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_an_ensemble_across_datasets_is_refused_in_one_line(runner, two, command):
    _as_fashion("b.pt")
    arguments = (
        ["evaluate", "a.pt", "b.pt"]
        if command == "evaluate"
        else ["predict", _digit(), "--checkpoint", "a.pt", "--checkpoint", "b.pt"]
    )
    result = runner.invoke(app(), arguments)
    assert result.exit_code == 1
    assert result.stderr == (
        "error: cannot average a.pt (mnist) with b.pt (fashion-mnist): the checkpoints of an"
        " ensemble must be trained on the same dataset\n"
    )
    assert result.stdout == ""


def test_reliability_diagram_is_written(runner, two):
    pytest.importorskip("matplotlib")
    result = runner.invoke(app(), ["evaluate", "a.pt", "--reliability", "reliability.png"])
    assert result.exit_code == 0, result.output
    assert "reliability diagram in reliability.png" in result.stderr
    with Image.open("reliability.png") as picture:
        assert picture.format == "PNG" and picture.width > 300


def test_reliability_checks_its_path_and_matplotlib_first(runner, two, monkeypatch):
    result = runner.invoke(app(), ["evaluate", "a.pt", "--reliability", "r.txt"])
    assert result.exit_code == 1
    assert "--reliability r.txt: give a file name ending in .png" in result.stderr
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now fails
    result = runner.invoke(app(), ["evaluate", "missing.pt", "--reliability", "r.png"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: --reliability needs matplotlib")
