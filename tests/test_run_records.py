"""What `mnist train` leaves for later: the per-epoch record beside the checkpoint, the chart in
the summary, and the learning curves of --plot."""

import json
import sys
from pathlib import Path

import pytest
from PIL import Image

from mnist_cli.checkpoint.format import record_path
from mnist_cli.cli.report import sparkline
from mnist_cli.train.record import read_record
from tests.conftest import app

KEYS = {"epoch", "train_loss", "test_loss", "test_accuracy", "lr", "seconds"}  # at least these


def _train(runner, *arguments):
    return runner.invoke(app(), ["train", "--model", "mlp", "--batch-size", "32", *arguments])


def test_record_has_a_line_per_epoch_matching_the_history(runner, tiny_data):
    result = _train(runner, "--epochs", "3", "--json")
    assert result.exit_code == 0, result.output
    rows = read_record(Path("ckpt.jsonl"))
    assert [row["epoch"] for row in rows] == [1, 2, 3]
    assert all(KEYS <= set(row) for row in rows)
    assert rows == json.loads(result.stdout)["history"]


def test_record_lines_are_written_as_each_epoch_ends(runner, tiny_data, monkeypatch):
    from mnist_cli.train import loop as training

    seen = []
    real_evaluate = training.evaluate

    def evaluate_and_look(*args, **kwargs):
        seen.append(len(read_record(Path("ckpt.jsonl"))) if Path("ckpt.jsonl").exists() else 0)
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(training, "evaluate", evaluate_and_look)
    assert _train(runner, "--epochs", "3").exit_code == 0
    assert seen == [0, 1, 2]  # before each epoch's test pass, the earlier epochs are on disk


def test_a_fresh_run_replaces_an_old_record(runner, tiny_data):
    assert _train(runner, "--epochs", "3").exit_code == 0
    assert _train(runner, "--epochs", "1").exit_code == 0
    assert [row["epoch"] for row in read_record(Path("ckpt.jsonl"))] == [1]


def test_an_interrupted_fresh_run_keeps_the_old_record_with_its_checkpoint(
    runner, tiny_data, monkeypatch
):
    from mnist_cli.train import loop as training

    assert _train(runner, "--epochs", "2").exit_code == 0
    old = Path("ckpt.jsonl").read_text()

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "evaluate", interrupt)
    assert _train(runner, "--epochs", "5").exit_code == 130
    assert Path("ckpt.jsonl").read_text() == old  # still describes ckpt.pt, which is unchanged


@pytest.mark.parametrize(
    ("checkpoint", "record"),
    [("runs/a.pt", "runs/a.jsonl"), ("model", "model.jsonl"), ("b.jsonl", "b.jsonl.jsonl")],
)
def test_record_sits_beside_the_checkpoint(runner, tiny_data, checkpoint, record):
    assert record_path(Path(checkpoint)) == Path(record)
    assert _train(runner, "--epochs", "1", "--checkpoint", checkpoint).exit_code == 0
    assert len(read_record(Path(record))) == 1


def test_a_record_path_that_holds_something_else_is_one_line_before_training(runner, tiny_data):
    Path("ckpt.jsonl").mkdir()
    result = _train(runner, "--epochs", "1")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ckpt.jsonl is not an mnist run record")
    assert "Traceback" not in result.output
    assert not Path("ckpt.pt").exists()  # refused before any epoch


def test_summary_charts_accuracy_and_loss_per_epoch(runner, tiny_data):
    result = _train(runner, "--epochs", "4")
    assert result.exit_code == 0, result.output
    rows = read_record(Path("ckpt.jsonl"))
    accuracy_line = next(line for line in result.stdout.splitlines() if "accuracy by epoch" in line)
    loss_line = next(line for line in result.stdout.splitlines() if "test loss by epoch" in line)
    assert sparkline([row["test_accuracy"] for row in rows]) in accuracy_line
    assert sparkline([row["test_loss"] for row in rows]) in loss_line


def test_sparkline_scales_from_lowest_to_highest():
    assert sparkline([0.0, 0.5, 1.0]) == "▁▅█"
    assert sparkline([3.0, 1.0]) == "█▁"
    assert sparkline([2.0, 2.0, 2.0]) == "▄▄▄"


def test_plot_draws_the_learning_curves(runner, tiny_data):
    pytest.importorskip("matplotlib")
    result = _train(runner, "--epochs", "2", "--plot", "curves.png")
    assert result.exit_code == 0, result.output
    assert "learning curves in curves.png" in result.stderr
    with Image.open("curves.png") as image:
        assert image.format == "PNG"
        assert image.width > 400 and image.height > 200


def test_plot_without_matplotlib_fails_before_training(runner, tiny_data, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now fails
    result = _train(runner, "--epochs", "1", "--plot", "curves.png")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: --plot needs matplotlib, which is not installed: pip install 'mnist-cli[plot]'"
    )
    assert not Path("ckpt.pt").exists()  # no run was spent on it
    assert not Path("curves.png").exists()


def test_plot_to_a_non_image_name_is_refused(runner, tiny_data):
    result = _train(runner, "--epochs", "1", "--plot", "curves.txt")
    assert result.exit_code == 1
    assert "--plot curves.txt: give a file name ending in .png" in result.stderr
    assert not Path("ckpt.pt").exists()
