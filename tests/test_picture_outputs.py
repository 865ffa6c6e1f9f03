"""`train --plot` and `evaluate --reliability` write as `evaluate --errors` does, through the
one rule of pictures.py: a picture mnist drew carries a mark and is replaced on a rerun; a file
of the user's, a FIFO or a planted link at that path is refused in one line before any work,
and again if one appears while the work runs."""

import os
from pathlib import Path

import pytest
from PIL import Image

from mnist_cli.checkpoint.format import EpochRecord
from mnist_cli.errors import OutputError
from mnist_cli.evaluate import scoring
from mnist_cli.pictures import PICTURES, is_our_picture
from mnist_cli.train import loop
from tests.conftest import app
from tests.test_messages_more import _one_line_error

TRAIN = ["train", "--model", "mlp", "--batch-size", "32", "--epochs", "1"]


@pytest.fixture(params=["--plot", "--reliability"])
def picture(request, monkeypatch):
    """(option, the command line before it): the data, and for --reliability a checkpoint, are
    there; the work itself (training, or loading the test set) fails the test if it starts."""
    option = request.param
    if option == "--plot":
        request.getfixturevalue("tiny_data")
        monkeypatch.setattr(loop, "train", lambda *a, **k: pytest.fail("a run was started"))
        return option, TRAIN
    request.getfixturevalue("tiny_checkpoint")
    monkeypatch.setattr(scoring, "load_split_arrays", lambda *a: pytest.fail("data was loaded"))
    return option, ["evaluate"]


def test_a_picture_of_the_users_is_refused_before_any_work(runner, picture):
    option, command = picture
    Image.new("RGB", (20, 20), "red").save("mine.png")
    before = Path("mine.png").read_bytes()
    result = runner.invoke(app(), [*command, option, "mine.png"])
    _one_line_error(result, f"{option} mine.png holds a file that mnist did not draw")
    assert Path("mine.png").read_bytes() == before


def test_a_fifo_is_refused_at_once(runner, picture, within_seconds):
    option, command = picture
    os.mkfifo("pipe.png")
    result = runner.invoke(app(), [*command, option, "pipe.png"])
    _one_line_error(result, f"{option} pipe.png is a FIFO (named pipe)")
    assert Path("pipe.png").is_fifo()


@pytest.mark.parametrize("target", ["elsewhere.png", "nowhere.png"], ids=["file", "dangling"])
def test_a_planted_link_is_refused_and_never_followed(runner, picture, target):
    option, command = picture
    if target == "elsewhere.png":
        Image.new("RGB", (20, 20), "blue").save(target)
    before = Path(target).read_bytes() if Path(target).exists() else None
    os.symlink(target, "picture.png")
    result = runner.invoke(app(), [*command, option, "picture.png"])
    _one_line_error(result, f"{option} picture.png is a symbolic link")
    assert Path("picture.png").is_symlink()
    assert (Path(target).read_bytes() if Path(target).exists() else None) == before


def test_a_directory_is_refused_before_any_work(runner, picture):
    option, command = picture
    Path("pictures.png").mkdir()
    result = runner.invoke(app(), [*command, option, "pictures.png"])
    _one_line_error(result, f"{option} pictures.png is a directory")


def test_plot_replaces_the_curves_it_drew(runner, tiny_data):
    pytest.importorskip("matplotlib")
    for checkpoint in ("a.pt", "b.pt"):
        result = runner.invoke(app(), [*TRAIN, "--checkpoint", checkpoint, "--plot", "curves.png"])
        assert result.exit_code == 0, result.output
        assert is_our_picture(Path("curves.png"))
        assert PICTURES["--plot"].mark.encode() in Path("curves.png").read_bytes()
    with Image.open("curves.png") as image:
        assert image.format == "PNG"


def test_reliability_replaces_the_diagram_it_drew(runner, tiny_checkpoint):
    pytest.importorskip("matplotlib")
    for _ in range(2):
        result = runner.invoke(app(), ["evaluate", "--reliability", "reliability.png"])
        assert result.exit_code == 0, result.output
        assert PICTURES["--reliability"].mark.encode() in Path("reliability.png").read_bytes()
    with Image.open("reliability.png") as image:
        image.verify()


@pytest.mark.parametrize("name", ["curves.png", "curves.svg", "curves.pdf"])
def test_every_format_plot_takes_keeps_the_mark(name):
    pytest.importorskip("matplotlib")
    from mnist_cli.cli.plot import plot_history

    history = [EpochRecord(epoch, 1 / epoch, 0.5, 0.9, 0.1, 1.0, 1.0) for epoch in (1, 2)]
    for _ in range(2):  # the second replaces the first
        plot_history(history, Path(name))
        assert is_our_picture(Path(name))
    Path("mine" + Path(name).suffix).write_bytes(Path(name).read_bytes().replace(b"mnist-", b"m"))
    with pytest.raises(OutputError, match="holds a file that mnist did not draw"):
        plot_history(history, Path("mine" + Path(name).suffix))


@pytest.mark.parametrize(
    ("option", "needs", "work"),
    [
        ("--plot", "tiny_data", (loop, "train")),
        ("--reliability", "tiny_checkpoint", (scoring, "evaluate_checkpoints")),
    ],
)
def test_a_file_that_appears_during_the_work_is_not_replaced(
    runner, request, monkeypatch, option, needs, work
):
    pytest.importorskip("matplotlib")
    request.getfixturevalue(needs)
    module, name = work
    real_work = getattr(module, name)

    def work_while_the_user_saves(*args, **kwargs):
        Image.new("RGB", (20, 20), "green").save("picture.png")
        return real_work(*args, **kwargs)

    monkeypatch.setattr(module, name, work_while_the_user_saves)
    command = TRAIN if option == "--plot" else ["evaluate"]
    result = runner.invoke(app(), [*command, option, "picture.png"])
    _one_line_error(result, f"{option} picture.png holds a file that mnist did not draw")
    with Image.open("picture.png") as image:
        assert image.getpixel((0, 0)) == (0, 128, 0)
