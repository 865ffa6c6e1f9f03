"""The reports on the real MNIST, from one checkpoint trained for an epoch: the matrix covers the
10,000 test images and agrees with the accuracy; the gallery, the run record and info are real."""

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from mnist_cli.data import catalog
from tests.conftest import REAL_MNIST, app

pytestmark = pytest.mark.real_data


@pytest.fixture(scope="module")
def real_run(tmp_path_factory) -> dict:
    """An mlp trained for one epoch on the real MNIST (one run shared by this module's tests)."""
    if not all((REAL_MNIST / f"{f.name}.gz").is_file() for f in catalog.MNIST.files):
        pytest.skip(f"the real MNIST files are not in {REAL_MNIST}")
    folder = tmp_path_factory.mktemp("real-run")
    data, checkpoint = folder / "data", folder / "ckpt.pt"
    runner = CliRunner()
    imported = runner.invoke(
        app(), ["download", "--from", str(REAL_MNIST), "--data-dir", str(data)]
    )
    assert imported.exit_code == 0, imported.output
    trained = runner.invoke(
        app(),
        ["train", "--model", "mlp", "--epochs", "1", "--json"]
        + ["--data-dir", str(data), "--checkpoint", str(checkpoint)],
    )
    assert trained.exit_code == 0, trained.output
    return {"data": data, "checkpoint": checkpoint, "train": json.loads(trained.stdout)}


def test_matrix_sums_to_the_test_set_and_agrees_with_the_accuracy(runner, real_run):
    arguments = [str(real_run["checkpoint"]), "--data-dir", str(real_run["data"])]
    result = runner.invoke(app(), ["evaluate", *arguments, "--errors", "errors.png", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    matrix = report["confusion_matrix"]
    assert sum(map(sum, matrix)) == report["count"] == 10_000
    assert sum(matrix[i][i] for i in range(10)) == report["correct"]
    assert report["accuracy"] == report["correct"] / 10_000
    assert report["accuracy"] == pytest.approx(real_run["train"]["test_accuracy"])
    assert report["accuracy"] >= 0.95
    supports = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]  # MNIST's test digits
    assert [row["support"] for row in report["per_class"]] == supports
    assert [sum(row) for row in matrix] == supports
    low, high = report["accuracy_interval"]["low"], report["accuracy_interval"]["high"]
    assert 0.002 < high - low < 0.02  # about +-0.4 points at 97% on 10,000 images
    with Image.open("errors.png") as image:
        image.verify()


def test_report_for_people_on_real_data(runner, real_run):
    arguments = [str(real_run["checkpoint"]), "--data-dir", str(real_run["data"])]
    result = runner.invoke(app(), ["evaluate", *arguments])
    assert result.exit_code == 0, result.output
    assert "10,000" in result.stdout and "read as" in result.stdout


def test_run_record_of_the_real_run(real_run):
    record = real_run["checkpoint"].with_suffix(".jsonl")
    rows = [json.loads(line) for line in record.read_text().splitlines()]
    assert rows == real_run["train"]["history"]


def test_info_on_a_real_checkpoint(runner, real_run):
    result = runner.invoke(app(), ["info", str(real_run["checkpoint"]), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["model"] == "mlp" and info["epochs"] == 1
    assert info["test_accuracy"] == real_run["train"]["test_accuracy"]
    assert info["parameters"] == real_run["train"]["parameters"]
    assert not Path("data").exists()  # nothing was fetched
