"""More refusals in one sentence (issue 29, items 9 and 11): a config nested too deeply, an
export given to a command that reads a checkpoint, and `evaluate --errors` over a file it did
not draw (the user's picture, a FIFO, a planted link), each refused in one line before any
work, while a picture it drew itself is still replaced."""

import os
from pathlib import Path

import pytest
from PIL import Image

from mnist_cli.evaluate import scoring
from tests.conftest import app


def _one_line_error(result, *words: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.output and "unexpected" not in result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


@pytest.fixture
def no_evaluation(monkeypatch):
    """The test data is never loaded: a refusal must come before the work."""
    monkeypatch.setattr(scoring, "load_split_arrays", lambda *a: pytest.fail("data was loaded"))


# -- item 9: sentences instead of "unexpected ..."


@pytest.mark.parametrize(
    "value", ["[" * 5000 + "]" * 5000, "{a = " * 5000 + "1" + "}" * 5000], ids=["array", "table"]
)
def test_a_config_nested_too_deeply_is_one_sentence(runner, value):
    Path("deep.toml").write_text(f"epochs = {value}\n")
    result = runner.invoke(app(), ["train", "--config", "deep.toml"])
    _one_line_error(result, "--config deep.toml: ", "nested too deeply")
    assert "RecursionError" not in result.stderr


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("ckpt.onnx", ["is an ONNX export", "`mnist evaluate ckpt.onnx`"]),
        ("ckpt.safetensors", ["is a safetensors export"]),
    ],
)
@pytest.mark.parametrize("command", ["info", "export"])
def test_an_export_given_for_a_checkpoint_says_what_reads_it(runner, command, name, words):
    Path(name).write_bytes(b"\x08\x09\x12\x07pytorch" + bytes(200))  # any export's bytes
    result = runner.invoke(app(), [command, name])
    _one_line_error(result, f"mnist {command} reads a checkpoint (.pt) and {name}", *words)
    assert "truncated" not in result.stderr


def test_a_checkpoint_named_like_an_export_is_still_read(runner, tiny_checkpoint):
    Path("ckpt.pt").rename("odd.onnx")
    result = runner.invoke(app(), ["info", "odd.onnx"])
    assert result.exit_code == 0, result.output
    assert "mlp" in result.stdout


# -- item 11: --errors replaces only a picture it drew


def test_errors_never_replaces_a_picture_of_the_users(runner, tiny_checkpoint, no_evaluation):
    Image.new("RGB", (20, 20), "red").save("mine.png")
    before = Path("mine.png").read_bytes()
    result = runner.invoke(app(), ["evaluate", "--errors", "mine.png"])
    _one_line_error(result, "--errors mine.png holds a file that mnist did not draw")
    assert Path("mine.png").read_bytes() == before


def test_errors_refuses_a_fifo_at_once(runner, tiny_checkpoint, no_evaluation, within_seconds):
    os.mkfifo("pipe.png")
    result = runner.invoke(app(), ["evaluate", "--errors", "pipe.png"])
    _one_line_error(result, "--errors pipe.png is a FIFO (named pipe)")
    assert Path("pipe.png").is_fifo()


@pytest.mark.parametrize("target", ["elsewhere.png", "nowhere.png"], ids=["file", "dangling"])
def test_errors_never_follows_a_planted_link(runner, tiny_checkpoint, no_evaluation, target):
    if target == "elsewhere.png":
        Image.new("RGB", (20, 20), "blue").save(target)
    before = Path(target).read_bytes() if Path(target).exists() else None
    os.symlink(target, "errors.png")
    result = runner.invoke(app(), ["evaluate", "--errors", "errors.png"])
    _one_line_error(result, "--errors errors.png is a symbolic link")
    assert Path("errors.png").is_symlink()
    assert (Path(target).read_bytes() if Path(target).exists() else None) == before


@pytest.mark.parametrize("name", ["errors.png", "errors.jpg", "errors.gif", "errors.tiff"])
def test_errors_replaces_a_picture_it_drew(runner, tiny_checkpoint, name):
    from mnist_cli.pictures import is_our_picture

    for _ in range(2):
        result = runner.invoke(app(), ["evaluate", "--errors", name, "--errors-count", "3"])
        assert result.exit_code == 0, result.output
        assert is_our_picture(Path(name))
    with Image.open(name) as picture:
        picture.verify()


def test_errors_never_replaces_a_picture_in_a_format_without_a_mark(runner, tiny_checkpoint):
    result = runner.invoke(app(), ["evaluate", "--errors", "errors.bmp", "--errors-count", "3"])
    assert result.exit_code == 0, result.output
    again = runner.invoke(app(), ["evaluate", "--errors", "errors.bmp"])
    _one_line_error(again, "holds a file that mnist did not draw")


def test_a_fifo_is_never_taken_for_our_picture(within_seconds):
    from mnist_cli.pictures import PICTURES, is_our_picture

    MARK = PICTURES["--errors"].mark

    os.mkfifo("pipe.png")
    assert not is_our_picture(Path("pipe.png"))  # refused without blocking on the open
    Path("note.txt").write_text(f"{MARK}\n")
    assert is_our_picture(Path("note.txt"))  # the mark is what counts, as for an export
