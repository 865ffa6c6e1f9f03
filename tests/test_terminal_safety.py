"""What a file says never drives the terminal (issue 29, items 7 and 8): class names, a dataset
or a config string holding escape codes, bells, carriage returns or newlines are shown escaped,
in tables and in the one-line error alike; a model whose answers are not numbers leaves no NaN
in the JSON (RFC 8259 has none) and no "nan" on the screen."""

import contextlib
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mnist_cli.checkpoint.write import payload_sha256
from mnist_cli.export.metadata import seal
from mnist_cli.inference.export_info import SEAL_KEY, SEAL_PLACEHOLDER
from tests.conftest import app

EVIL = "a\x1b[31mred\x07\rback\nnext\x9b2J"  # ESC, BEL, CR, LF and a C1 CSI
UNSAFE = [chr(c) for c in range(0x20) if c != 0x0A] + ["\x7f"] + [chr(c) for c in range(0x80, 0xA0)]


def _safe(text: str) -> None:
    """No character that could move the cursor, ring, colour or clear the screen."""
    found = sorted({hex(ord(c)) for c in text if c in UNSAFE})
    assert not found, found


def _one_line_error(result) -> None:
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.output
    _safe(result.stderr)


def _digit() -> str:
    Image.new("L", (28, 28), 0).save("digit.png")
    return "digit.png"


def _export_with(target: str, **changes: str) -> str:
    """A copy of ckpt.onnx whose metadata entries `changes` names are replaced, sealed again as
    the writer seals it: an export an attacker made, which every check but the text passes."""
    import onnx

    model = onnx.load("ckpt.onnx")
    for entry in model.metadata_props:
        if entry.key in changes:
            entry.value = changes[entry.key]
        if entry.key == SEAL_KEY:
            entry.value = SEAL_PLACEHOLDER
    Path(target).write_bytes(seal(model.SerializeToString()))
    return target


def _checkpoint_with(target: str, change) -> str:
    """A copy of ckpt.pt changed by `change(dict)` and signed again."""
    data = torch.load("ckpt.pt", weights_only=True)
    change(data)
    data["sha256"] = payload_sha256(data)
    torch.save(data, target)
    return target


def _evil_names() -> str:
    return json.dumps([f"{EVIL}{index}" for index in range(10)])


# -- item 7: escape codes from a file are shown, not obeyed


def test_an_exports_class_names_reach_predict_escaped(runner, tiny_checkpoint):
    evil = _export_with("evil.onnx", class_names=_evil_names())
    digit = _digit()
    for options in ([], ["--show"], ["--json"]):
        command = ["predict", digit, "--checkpoint", evil, *options]
        result = runner.invoke(app(), command, env={"COLUMNS": "400"})  # one row, unwrapped
        assert result.exit_code == 0, result.output
        _safe(result.output)
        if options == ["--json"]:
            assert json.loads(result.stdout)[0]["label"].startswith(EVIL)  # the data, intact
        else:
            assert "\\x1b[31mred\\x07\\rback\\nnext\\x9b2J" in result.stdout


def test_an_exports_class_names_reach_evaluate_escaped(runner, tiny_checkpoint):
    evil = _export_with("evil.onnx", class_names=_evil_names())
    result = runner.invoke(app(), ["evaluate", evil])
    assert result.exit_code == 0, result.output
    _safe(result.output)
    assert "\\x1b[31mred" in result.stdout


def test_an_exports_dataset_reaches_the_error_line_escaped(runner, tiny_checkpoint):
    evil = _export_with("evil.onnx", dataset=EVIL)
    _one_line_error(runner.invoke(app(), ["evaluate", evil]))


def test_a_checkpoints_dataset_and_config_strings_reach_info_escaped(runner, tiny_checkpoint):
    def change(data):
        data["dataset"] = EVIL
        data["config"]["init_from"] = EVIL
        data["torch_version"] = EVIL
        data["created"] = EVIL

    evil = _checkpoint_with("evil.pt", change)
    result = runner.invoke(app(), ["info", evil])
    assert result.exit_code == 0, result.output
    _safe(result.output)
    assert "\\x1b[31mred" in result.stdout
    document = json.loads(runner.invoke(app(), ["info", evil, "--json"]).stdout)
    assert document["dataset"] == EVIL  # JSON escapes control characters itself


def test_a_checkpoints_dataset_reaches_evaluate_as_one_escaped_line(runner, tiny_checkpoint):
    evil = _checkpoint_with("evil.pt", lambda data: data.update(dataset=EVIL))
    Path("ckpt.onnx").unlink()  # no export beside: the checkpoint itself answers
    _one_line_error(runner.invoke(app(), ["evaluate", evil]))


def test_an_init_from_with_a_newline_is_one_escaped_line(runner, tiny_data):
    Path("run.toml").write_text('init-from = "old\\u001b[31m\\nnew.pt"\n')
    result = runner.invoke(app(), ["train", "--model", "mlp", "--config", "run.toml"])
    _one_line_error(result)
    assert "no checkpoint at old\\x1b[31m\\nnew.pt" in result.stderr


def test_a_path_with_control_characters_is_one_escaped_line(runner):
    _one_line_error(runner.invoke(app(), ["info", "x\x1b]0;title\x07\n.pt"]))


def test_printable_escapes_what_is_not_printable_and_keeps_the_rest():
    from mnist_cli.cli.output import printable, shown

    assert printable("seven") == "seven"
    assert printable("七 ünïcode tab\tend") == "七 ünïcode tab\\tend"
    assert printable(EVIL) == "a\\x1b[31mred\\x07\\rback\\nnext\\x9b2J"
    assert printable("bidi \u202e gnp.exe") == "bidi \\u202e gnp.exe"
    assert shown("[bold]x\n") == "\\[bold]x\\n"  # rich markup too


# -- item 8: non-finite answers never reach JSON or the screen as NaN


@pytest.fixture
def nan_model(monkeypatch):
    """Every model, on either runtime, answers NaN for every class."""
    from mnist_cli.inference.onnx_model import OnnxModel
    from mnist_cli.inference.torch_model import TorchClassifier

    def logits(self, pixels):
        return np.full((len(pixels), len(self.class_names)), np.nan, dtype=np.float32)

    monkeypatch.setattr(OnnxModel, "logits", logits)
    monkeypatch.setattr(TorchClassifier, "logits", logits)


def _strict(text: str):
    """json.loads as RFC 8259 reads: NaN, Infinity and -Infinity are not JSON."""

    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("checkpoint", ["ckpt.pt", "ckpt.onnx"])
def test_nan_answers_give_strict_json_and_no_nan_on_screen(
    runner, tiny_checkpoint, nan_model, checkpoint
):
    digit = _digit()
    for command in (
        ["evaluate", checkpoint],
        ["predict", digit, "--checkpoint", checkpoint],
        ["predict", digit, "--checkpoint", checkpoint, "--show"],
    ):
        with _no_runtime_warning():
            shown = runner.invoke(app(), command)
        assert shown.exit_code == 0, shown.output
        assert "nan" not in shown.output.lower() and "inf%" not in shown.output
        assert "n/a" in shown.stdout
        printed = runner.invoke(app(), [*command, "--json"])
        assert printed.exit_code == 0, printed.output
        document = _strict(printed.stdout)
        assert "NaN" not in printed.stdout
        if command[0] == "evaluate":
            assert document["loss"] is None and document["calibration"]["nll"] is None
            assert document["count"] > 0 and math.isfinite(document["accuracy"])
        else:
            assert document[0]["probability"] is None


@contextlib.contextmanager
def _no_runtime_warning():
    """numpy's "invalid value encountered" is not for the user to read."""
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        yield
    messages = [str(r.message) for r in records if r.category is RuntimeWarning]
    assert not messages, messages


def test_the_json_writer_turns_non_finite_numbers_into_null(capsys):
    from mnist_cli.cli.output import Output

    Output.create().json({"a": math.nan, "b": [math.inf, -math.inf, 1.5], "c": {"d": (2, "x")}})
    printed = capsys.readouterr().out
    assert _strict(printed) == {"a": None, "b": [None, None, 1.5], "c": {"d": [2, "x"]}}
