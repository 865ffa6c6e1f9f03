"""Output that adapts: plain progress lines when not on a terminal, live bars on one, NO_COLOR,
and --quiet (results and errors only)."""

import dataclasses
import itertools
import json
import re
import types
from pathlib import Path

import pytest

from mnist_cli.data import catalog
from mnist_cli.train import steps
from tests.conftest import app

ESCAPE = re.compile(r"\x1b\[([0-9;]*)m")
PLAIN_LINE = re.compile(r"^epoch 1/2 +\d+% \(\d+/68 batches\)  train loss \d\.\d{4}  \d+\.\d s$")


def _colours(text: str) -> list[str]:
    """The colour codes (30-38, 40-48, 90-107) among the ANSI styles in `text`."""
    codes = [code for match in ESCAPE.finditer(text) for code in match.group(1).split(";")]
    return [c for c in codes if c.isdigit() and (30 <= int(c) <= 48 or 90 <= int(c) <= 107)]


@pytest.fixture(autouse=True)
def steady_clock(monkeypatch):
    """Progress is due at most every quarter second; this clock moves 1/64 s at each look, so it
    is due every 16 steps, however fast the machine."""
    ticks = itertools.count(0, 1 / 64)
    monkeypatch.setattr(steps, "time", types.SimpleNamespace(monotonic=lambda: next(ticks)))


def _train(runner, *arguments, env=None):
    # 540 images (60 of the 600 held out for validation) in batches of 8: 68 steps an epoch,
    # progress due every 16 steps (steady_clock).
    command = ["train", "--model", "mlp", "--batch-size", "8", "--epochs", "2", *arguments]
    return runner.invoke(app(), command, env=env)


def test_not_a_terminal_gets_plain_periodic_lines(runner, tiny_data):
    result = _train(runner)
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 6, result.stderr  # a quarter, a half, three quarters: twice
    assert all(PLAIN_LINE.match(line.replace("epoch 2/2", "epoch 1/2")) for line in lines)
    assert [line.split()[2] for line in lines] == ["47%", "71%", "94%"] * 2
    assert "\r" not in result.output and "\x1b" not in result.output  # no redraws, no styles
    assert "epoch 1/2  train loss" in result.stdout and "epoch 2/2  train loss" in result.stdout


def test_a_terminal_gets_live_bars_instead(runner, tiny_data):
    result = _train(runner, env={"FORCE_COLOR": "1", "TTY_COMPATIBLE": "1"})
    assert result.exit_code == 0, result.output
    assert "batches)" not in result.stderr  # no plain lines
    assert "epochs" in result.stderr and "\x1b[" in result.stderr  # the bars, drawn and redrawn


def test_json_keeps_stdout_for_the_document(runner, tiny_data):
    result = _train(runner, "--json")
    assert result.exit_code == 0, result.output
    json.loads(result.stdout)
    assert "batches)" in result.stderr and "epoch 2/2  train loss" in result.stderr


def test_no_color_turns_colour_off(runner, tiny_checkpoint):
    coloured = runner.invoke(app(), ["evaluate"], env={"FORCE_COLOR": "1"})
    assert coloured.exit_code == 0, coloured.output
    assert _colours(coloured.stdout)  # the check below can see colour when there is some
    plain = runner.invoke(app(), ["evaluate"], env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert plain.exit_code == 0, plain.output
    assert _colours(plain.stdout) == []
    assert "confusion matrix" in plain.stdout


def test_no_color_applies_to_errors_too(runner):
    result = runner.invoke(
        app(), ["evaluate", "missing.pt"], env={"FORCE_COLOR": "1", "NO_COLOR": "1"}
    )
    assert result.exit_code == 1
    assert _colours(result.stderr) == []
    assert "no checkpoint at missing.pt" in result.stderr


@pytest.mark.parametrize("where", ["global", "command"])
def test_quiet_train_prints_only_the_result(runner, tiny_data, where):
    command = ["--quiet", "train"] if where == "global" else ["train", "--quiet"]
    result = runner.invoke(
        app(), [*command, "--model", "mlp", "--batch-size", "8", "--epochs", "2"]
    )
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert "epoch 1/2" not in result.stdout
    assert "training finished" in result.stdout


def test_quiet_keeps_errors(runner):
    result = runner.invoke(app(), ["-q", "evaluate", "missing.pt"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no checkpoint at missing.pt")


def test_quiet_evaluate_drops_the_notes(runner, tiny, tiny_checkpoint, monkeypatch):
    Path("data", "mnist", "t10k-images-idx3-ubyte").unlink()  # evaluate will fetch it again
    mirrored = dataclasses.replace(tiny.dataset, mirrors=(f"file://{tiny.source}/",))
    monkeypatch.setitem(catalog.DATASETS, "mnist", mirrored)
    result = runner.invoke(app(), ["evaluate", "-q", "--errors", "e.png"])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert Path("e.png").is_file() and "confusion matrix" in result.stdout


def test_the_live_bars_draw_no_epoch_after_the_last():
    """A 1-epoch run used to flash an empty "epoch 2 0/430" bar after its only epoch."""
    import io

    from rich.console import Console

    from mnist_cli.checkpoint.format import EpochRecord
    from mnist_cli.cli.output import Output
    from mnist_cli.cli.progress import TrainDisplay

    terminal = Console(file=io.StringIO(), force_terminal=True, width=80)
    output = Output(out=terminal, err=terminal)
    record = EpochRecord(1, 0.5, 0.4, 0.9, 0.0, 1.0, 1.0)
    with TrainDisplay(output, epochs=2, report=terminal) as display:
        display.step(10, 10, loss=0.5)
        display.end_epoch(record)
        batch = display.progress.tasks[display.batch_task]
        assert batch.visible and batch.description == "epoch 2"
        display.end_epoch(EpochRecord(2, 0.5, 0.4, 0.9, 0.0, 1.0, 1.0))
        batch = display.progress.tasks[display.batch_task]
        assert not batch.visible and batch.description == "epoch 2"
