"""ONNX against torch on the real MNIST: for a cnn and an mlp, each trained for one epoch on one
thread, the export that `mnist train` leaves beside the checkpoint reads all 10,000 test images
as torch does (0 disagreements, logits within 1e-4), and `mnist evaluate` scores it the same."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from mnist_cli.data import catalog
from tests.conftest import REAL_MNIST, app

pytestmark = pytest.mark.real_data

MAX_LOGIT_DIFFERENCE = 1e-4  # fp32


@pytest.fixture(scope="module")
def real_data(tmp_path_factory):
    if not all((REAL_MNIST / f"{f.name}.gz").is_file() for f in catalog.MNIST.files):
        pytest.skip(f"the real MNIST files are not in {REAL_MNIST}")
    data = tmp_path_factory.mktemp("export-real") / "data"
    imported = CliRunner().invoke(
        app(), ["download", "--from", str(REAL_MNIST), "--data-dir", str(data)]
    )
    assert imported.exit_code == 0, imported.output
    return data


@pytest.fixture(scope="module", params=["cnn", "mlp"])
def trained(request, real_data):
    """A checkpoint of one epoch on the real MNIST, and the ckpt.onnx train left beside it."""
    checkpoint = real_data.parent / f"{request.param}.pt"
    result = CliRunner().invoke(
        app(),
        ["train", "--model", request.param, "--epochs", "1", "--threads", "1", "--json"]
        + ["--data-dir", str(real_data), "--checkpoint", str(checkpoint)],
    )
    assert result.exit_code == 0, result.output
    assert checkpoint.with_suffix(".onnx").is_file(), result.stderr
    return checkpoint


def test_onnx_reads_the_test_set_as_torch_does(real_data, trained):
    from mnist_cli.checkpoint.read import load_checkpoint
    from mnist_cli.data.store import load_split_arrays
    from mnist_cli.inference.onnx_model import load_onnx
    from mnist_cli.inference.torch_model import TorchClassifier

    images, labels = load_split_arrays(catalog.MNIST, real_data, "test")
    exported = load_onnx(trained.with_suffix(".onnx")).logits(images)
    expected = TorchClassifier.of(load_checkpoint(trained)).logits(images)
    assert exported.shape == expected.shape == (10_000, 10)
    disagreements = int((exported.argmax(1) != expected.argmax(1)).sum())
    difference = float(np.abs(exported - expected).max())
    print(f"{trained.stem}: {disagreements} disagreements, max abs logit difference {difference}")
    assert disagreements == 0
    assert difference <= MAX_LOGIT_DIFFERENCE
    assert (expected.argmax(1) == labels).mean() > 0.9  # a model that has learned


def test_evaluate_scores_the_export_as_the_checkpoint(real_data, trained):
    def evaluate(path) -> dict:
        result = CliRunner().invoke(
            app(), ["evaluate", str(path), "--data-dir", str(real_data), "--json"]
        )
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    torch_report, onnx_report = evaluate(trained), evaluate(trained.with_suffix(".onnx"))
    assert onnx_report["accuracy"] == torch_report["accuracy"]
    assert onnx_report["confusion_matrix"] == torch_report["confusion_matrix"]
    assert onnx_report["loss"] == pytest.approx(torch_report["loss"], abs=1e-5)
