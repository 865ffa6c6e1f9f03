"""The whole workflow on the real MNIST: download from a local mirror -> train -> evaluate ->
predict. These are the tests that show the tool really learns."""

import json
from pathlib import Path

import pytest
from PIL import Image

from mnist_cli.data.catalog import MNIST
from mnist_cli.data.store import load_split
from tests.conftest import app

pytestmark = pytest.mark.real_data


@pytest.fixture
def real_data(runner, real_mnist, serve) -> Path:
    result = runner.invoke(app(), ["download", "--mirror", serve(real_mnist)])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("downloaded") == 4
    return Path("data")


def test_download_train_evaluate_predict(runner, real_data):
    trained = runner.invoke(app(), ["train", "--model", "mlp", "--epochs", "1", "--json"])
    assert trained.exit_code == 0, trained.output
    report = json.loads(trained.stdout)
    assert report["test_accuracy"] >= 0.95

    evaluated = runner.invoke(app(), ["evaluate", "ckpt.pt", "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["accuracy"] == pytest.approx(report["test_accuracy"])

    images, labels = load_split(MNIST, real_data, "test")
    files = []
    for index in range(20):
        path = Path(f"test-{index}.png")
        Image.fromarray(images[index].numpy()).save(path)
        files.append(str(path))
    predicted = runner.invoke(app(), ["predict", *files, "--json"])
    assert predicted.exit_code == 0, predicted.output
    answers = json.loads(predicted.stdout)
    right = sum(a["prediction"] == int(labels[i]) for i, a in enumerate(answers))
    assert right >= 18


def test_default_cnn_learns_in_one_epoch(runner, real_data):
    trained = runner.invoke(app(), ["train", "--epochs", "1", "--json"])
    assert trained.exit_code == 0, trained.output
    report = json.loads(trained.stdout)
    assert report["model"] == "cnn"
    assert report["test_accuracy"] >= 0.98
