"""`mnist predict` on many inputs: directories, glob patterns, stdin; --show,
--save-preprocessed and the table, on a model of the synthetic dataset."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnist_cli.predict.sources import expand_sources
from tests.conftest import app, synthetic_split, train_mlp
from tests.test_images import _encode, _paper_digit


def _digits(folder: Path, count: int = 3) -> list[Path]:
    images, _ = synthetic_split(count, seed=5)
    pixels = np.frombuffer(images[16:], dtype=np.uint8).reshape(count, 28, 28)
    folder.mkdir(exist_ok=True)
    paths = []
    for index in range(count):
        paths.append(folder / f"digit-{index}.png")
        Image.fromarray(pixels[index]).save(paths[-1])
    return paths


def _no_stdin() -> bytes:
    raise AssertionError("stdin must not be read")


def test_directories_patterns_and_files_expand_in_order(tmp_path):
    _digits(Path("photos"))
    Path("photos/notes.txt").write_text("not an image")
    Path("photos/.hidden.png").write_bytes(b"")
    Path("photos/inner").mkdir()
    Image.new("L", (5, 5)).save("photos/inner/deep.png")
    Image.new("L", (5, 5)).save("single.PNG")
    names = [s.name for s in expand_sources(["single.PNG", "photos", "photos/*-1.png"], _no_stdin)]
    assert names == [
        "single.PNG",
        "photos/digit-0.png",
        "photos/digit-1.png",
        "photos/digit-2.png",
        "photos/digit-1.png",
    ]
    deep = expand_sources(["photos/**/*.png"], _no_stdin)
    assert "photos/inner/deep.png" in [s.name for s in deep]


def test_inputs_that_name_nothing_carry_their_error(tmp_path):
    Path("empty").mkdir()
    sources = expand_sources(["empty", "nothing-*.png", "missing.png"], _no_stdin)
    assert [s.error is not None for s in sources] == [True, True, False]
    assert "no images in this directory" in sources[0].error
    assert "no file matches" in sources[1].error
    assert sources[2].path == Path("missing.png")  # read later: "no such file" in its row


def test_stdin_is_read_once():
    calls = []
    sources = expand_sources(["-", "-"], lambda: calls.append(1) or b"bytes")
    assert calls == [1]
    assert sources[0].data == b"bytes" and sources[0].name == "stdin"
    assert "given twice" in sources[1].error


@pytest.fixture
def trained(tiny_data, runner) -> Path:
    return train_mlp(runner, 4, "--batch-size", "32")


def test_a_directory_a_pattern_and_stdin_in_one_call(runner, trained):
    paths = _digits(Path("photos"))
    arguments = ["photos", "photos/digit-0.*", "-", "missing-*.png"]
    result = runner.invoke(
        app(), ["predict", *arguments, "--no-preprocess", "--json"], input=paths[1].read_bytes()
    )
    assert result.exit_code == 1  # the pattern that matches nothing
    answers = json.loads(result.stdout)
    assert [a["file"] for a in answers] == [
        "photos/digit-0.png",
        "photos/digit-1.png",
        "photos/digit-2.png",
        "photos/digit-0.png",
        "stdin",
        "missing-*.png",
    ]
    assert answers[4]["prediction"] == answers[1]["prediction"]  # the same bytes
    assert answers[5]["error"] == "missing-*.png: no file matches this pattern"
    assert "error: missing-*.png: no file matches this pattern" in result.stderr


def test_table_has_a_confidence_bar_and_a_row_for_each_bad_file(runner, trained):
    paths = _digits(Path("photos"), 2)
    Path("notes.png").write_text("hello")
    result = runner.invoke(app(), ["predict", str(paths[0]), "notes.png", "--top-k", "3"])
    assert result.exit_code == 1
    rows = [line for line in result.stdout.splitlines() if "photos" in line or "notes" in line]
    assert len(rows) == 2
    assert "█" in rows[0] and "%" in rows[0]
    assert "notes.png" in rows[1] and "not an image" in rows[1]
    assert result.stderr.startswith("error: notes.png: not an image")


def test_show_draws_what_the_model_saw(runner, trained):
    pixels = np.zeros((28, 28), dtype=np.uint8)
    pixels[4:24, 12:16] = 255  # a bar: rows 4-23, columns 12-15
    Image.fromarray(pixels).save("bar.png")
    result = runner.invoke(app(), ["predict", "bar.png", "--no-preprocess", "--show"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    picture = [line[1:29] for line in lines if line.startswith("│")]
    assert len(picture) == 14  # 28 rows, two per line
    assert picture[2][12:16] == "████" and picture[11][12:16] == "████"
    assert picture[1].strip() == "" and picture[12].strip() == ""
    assert set(picture[5][:12] + picture[5][16:]) == {" "}
    assert "bar.png" in result.stdout and "digit" in result.stdout


def test_show_with_json_keeps_stdout_for_json(runner, trained):
    _digits(Path("photos"), 1)
    result = runner.invoke(app(), ["predict", "photos", "--show", "--json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)) == 1
    assert "▀" in result.stderr or "█" in result.stderr


def test_save_preprocessed_writes_the_inputs_as_png(runner, trained):
    Image.fromarray(np.asarray(_paper_digit())).save("a.png")
    Path("other").mkdir()
    Image.fromarray(np.asarray(_paper_digit())).save("other/a.png")
    Path("bad.png").write_text("no")
    result = runner.invoke(
        app(), ["predict", "a.png", "other/a.png", "bad.png", "--save-preprocessed", "out/seen"]
    )
    assert result.exit_code == 1  # bad.png
    assert sorted(p.name for p in Path("out/seen").iterdir()) == ["a-2.png", "a.png"]
    saved = Image.open("out/seen/a.png")
    assert saved.size == (28, 28) and saved.mode == "L"
    pixels = np.asarray(saved)
    assert pixels[0].max() == 0 and pixels.max() == 255  # white ink on black, like MNIST


def test_save_preprocessed_into_a_file_is_one_error(runner, trained):
    _digits(Path("photos"), 1)
    Path("taken").write_text("a file, not a directory")
    result = runner.invoke(app(), ["predict", "photos", "--save-preprocessed", "taken"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot save preprocessed images in taken")
    assert len(result.stderr.strip().splitlines()) == 1


def test_stdin_photo_through_the_cli(runner, trained):
    result = runner.invoke(app(), ["predict", "-", "--json"], input=_encode(_paper_digit(), "JPEG"))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["file"] == "stdin"
    empty = runner.invoke(app(), ["predict", "-"], input=b"")
    assert empty.exit_code == 1
    assert empty.stderr.strip() == "error: stdin: empty file, not an image"
