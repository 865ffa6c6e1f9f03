"""`mnist evaluate` on the synthetic dataset: the report a person reads, the JSON a script
reads, and the gallery of mistakes."""

import json
from pathlib import Path

import pytest
from PIL import Image

from mnist_cli.evaluate.gallery import COLUMNS, SCALE, save_gallery
from tests.conftest import app


@pytest.fixture
def poor_checkpoint(tiny_data, runner) -> Path:
    """A barely trained mlp: it gets many of the 200 test images wrong."""
    options = "--model mlp --optimizer sgd --lr 0.01 --epochs 1 --checkpoint poor.pt --json"
    result = runner.invoke(app(), ["train", *options.split()])
    assert result.exit_code == 0, result.output
    return Path("poor.pt")


def _evaluate_json(runner, *arguments) -> dict:
    result = runner.invoke(app(), ["evaluate", *arguments, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_json_has_the_matrix_and_per_class_scores(runner, poor_checkpoint):
    report = _evaluate_json(runner, str(poor_checkpoint))
    matrix = report["confusion_matrix"]
    assert len(matrix) == 10 and all(len(row) == 10 for row in matrix)
    assert sum(map(sum, matrix)) == report["count"] == 200
    assert sum(matrix[i][i] for i in range(10)) == report["correct"]
    assert report["accuracy"] == report["correct"] / 200
    assert [sum(row) for row in matrix] == [20] * 10  # rows are the true digits: 20 of each
    per_class = report["per_class"]
    assert len(per_class) == 10
    for digit, row in enumerate(per_class):
        assert set(row) == {"digit", "name", "precision", "recall", "f1", "support"}
        assert row["digit"] == digit and row["support"] == 20
        assert row["recall"] == pytest.approx(matrix[digit][digit] / 20)
        called = sum(matrix[true][digit] for true in range(10))
        assert row["precision"] == pytest.approx(matrix[digit][digit] / called if called else 0)
    interval = report["accuracy_interval"]
    assert interval["method"] == "wilson" and interval["confidence"] == 0.95
    assert interval["low"] <= report["accuracy"] <= interval["high"]
    assert set(report["per_class_accuracy"]) == {row["name"] for row in per_class}


def test_report_for_people(runner, poor_checkpoint):
    report = _evaluate_json(runner, str(poor_checkpoint))
    result = runner.invoke(app(), ["evaluate", str(poor_checkpoint)])
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "95% CI" in text and "Wilson" in text
    for header in ("precision", "recall", "F1", "support", "confusion matrix", "most confused"):
        assert header in text
    matrix = report["confusion_matrix"]
    true, predicted = max(
        ((i, j) for i in range(10) for j in range(10) if i != j), key=lambda c: matrix[c[0]][c[1]]
    )
    count = matrix[true][predicted]
    assert f"{true} read as {predicted}: {count} time" in text


def test_errors_gallery_is_an_image_of_the_mistakes(runner, poor_checkpoint):
    report = _evaluate_json(runner, str(poor_checkpoint))
    wrong = report["count"] - report["correct"]
    assert wrong > 12
    result = runner.invoke(
        app(), ["evaluate", str(poor_checkpoint), "--errors", "wrong.png", "--errors-count", "12"]
    )
    assert result.exit_code == 0, result.output
    assert "12 misclassified digits" in result.stderr
    with Image.open("wrong.png") as image:
        image.verify()
    with Image.open("wrong.png") as image:
        assert image.format == "PNG"
        tile = 28 * SCALE
        assert image.width > COLUMNS * tile  # 12 digits: a full row of ten, then two
        assert image.height > 2 * tile


def test_errors_gallery_is_capped_at_errors_count(runner, poor_checkpoint):
    arguments = ["--errors", "all.png", "--errors-count", "1000"]
    report = _evaluate_json(runner, str(poor_checkpoint), *arguments)
    wrong = report["count"] - report["correct"]
    assert wrong > 100  # more than the default cap
    with Image.open("all.png") as image:
        every = image.height
        assert every >= -(-wrong // COLUMNS) * 28 * SCALE
    result = runner.invoke(app(), ["evaluate", str(poor_checkpoint), "--errors", "100.png"])
    assert "100 misclassified digits" in result.stderr
    with Image.open("100.png") as image:
        assert image.height < every


def test_errors_gallery_without_mistakes_still_writes_an_image():
    save_gallery(Path("none.png"), [], [])
    with Image.open("none.png") as image:
        image.verify()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("errors.txt", "give an image file name"),
        ("no-folder/errors.png", "does not exist"),
    ],
)
def test_bad_errors_path_fails_before_evaluating(
    runner, tiny_checkpoint, monkeypatch, path, message
):
    from mnist_cli.evaluate import scoring

    monkeypatch.setattr(scoring, "load_split_arrays", lambda *a: pytest.fail("data was loaded"))
    result = runner.invoke(app(), ["evaluate", "--errors", path])
    assert result.exit_code == 1
    assert message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output


def test_errors_count_out_of_range_is_a_usage_error(runner):
    assert (
        runner.invoke(app(), ["evaluate", "--errors", "e.png", "--errors-count", "0"]).exit_code
        == 2
    )
