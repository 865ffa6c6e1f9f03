"""`mnist predict` and `mnist evaluate` through the CLI, on a model of the synthetic dataset."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnist_cli.data.catalog import DIGITS
from tests.conftest import app, synthetic_split, train_mlp


def _save_synthetic_digits(count=10) -> list[tuple[Path, int]]:
    images, labels = synthetic_split(count, seed=5)
    pixels = np.frombuffer(images[16:], dtype=np.uint8).reshape(count, 28, 28)
    files = []
    for index in range(count):
        path = Path(f"digit-{index}.png")
        Image.fromarray(pixels[index]).save(path)
        files.append((path, labels[8 + index]))
    return files


@pytest.fixture
def trained(tiny_data, runner) -> Path:
    return train_mlp(runner, 8, "--batch-size", "32")


def test_predicts_the_digits_it_learned(runner, trained):
    files = _save_synthetic_digits()
    arguments = [str(path) for path, _ in files]
    result = runner.invoke(app(), ["predict", *arguments, "--no-preprocess", "--json"])
    assert result.exit_code == 0, result.output
    answers = json.loads(result.stdout)
    assert [a["file"] for a in answers] == arguments
    right = sum(a["prediction"] == label for a, (_, label) in zip(answers, files, strict=True))
    assert right >= 9
    first = answers[0]
    assert set(first) == {"file", "checkpoints", "prediction", "label", "probability", "top_k"}
    assert first["checkpoints"] == ["ckpt.pt"]
    assert first["label"] == DIGITS[first["prediction"]]
    assert len(first["top_k"]) == 3
    assert first["top_k"][0]["prediction"] == first["prediction"]
    probabilities = [g["probability"] for g in first["top_k"]]
    assert probabilities == sorted(probabilities, reverse=True)
    assert 0 < first["probability"] <= 1


def test_table_for_people(runner, trained):
    (path, label), *_ = _save_synthetic_digits(1)
    result = runner.invoke(app(), ["predict", str(path), "--top-k", "2"])
    assert result.exit_code == 0, result.output
    assert str(path) in result.stdout
    assert "%" in result.stdout


def test_one_bad_file_among_good_ones(runner, trained):
    files = _save_synthetic_digits(2)
    Path("notes.png").write_text("not an image")
    arguments = [str(files[0][0]), "notes.png", "missing.png", str(files[1][0])]
    result = runner.invoke(app(), ["predict", *arguments, "--json"])
    assert result.exit_code == 1
    answers = json.loads(result.stdout)
    assert [a["file"] for a in answers] == arguments
    assert "error" in answers[1] and "error" in answers[2]
    assert "prediction" in answers[0] and "prediction" in answers[3]
    assert result.stderr.count("error:") == 2
    assert "notes.png: not an image" in result.stderr
    assert "Traceback" not in result.output


def test_a_single_non_image_is_one_line(runner, trained):
    Path("notes.txt").write_text("hello")
    result = runner.invoke(app(), ["predict", "notes.txt"])
    assert result.exit_code == 1
    expected = "error: notes.txt: not an image (or not one of PNG, JPEG, BMP, GIF, TIFF, WEBP)"
    assert result.stderr.strip() == expected
    assert result.stdout == ""


def test_predict_without_a_checkpoint(runner):
    Image.new("L", (28, 28)).save("x.png")
    result = runner.invoke(app(), ["predict", "x.png"])
    assert result.exit_code == 1
    assert "no checkpoint at ckpt.pt" in result.stderr


def test_evaluate_reports_accuracy_and_per_digit(runner, trained):
    result = runner.invoke(app(), ["evaluate", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["count"] == 200
    assert report["accuracy"] >= 0.9
    assert report["correct"] == round(report["accuracy"] * 200)
    assert list(report["per_class_accuracy"]) == list(DIGITS)
    table = runner.invoke(app(), ["evaluate", str(trained)])
    assert table.exit_code == 0
    assert "per digit" in table.stdout and "recall" in table.stdout
    assert "seven" in table.stdout
