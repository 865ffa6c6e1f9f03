"""`mnist train --config FILE` and `mnist info CKPT --config`: a run's settings as TOML, read
back as they were written (hypothesis), flags on the command line winning over the file, every
bad key or value one line naming the key, and the round trip info -> file -> train."""

import json
import math
import os
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mnist_cli.config import TrainConfig
from mnist_cli.config_file import (
    config_toml,
    config_values,
    read_config_file,
    tomllib,
    write_toml,
)
from mnist_cli.errors import MnistError
from tests.conftest import app

FAST = ["--model", "mlp", "--threads", "1", "--device", "cpu", "--quiet"]

keys = st.text(min_size=1, max_size=12).filter(lambda k: "\x00" not in k)
texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
scalars = st.one_of(
    st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=True), texts
)


def _same(a, b) -> bool:
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return type(a) is type(b) and a == b


@given(st.dictionaries(keys, scalars, max_size=8), texts)
def test_tomllib_reads_back_what_the_writer_wrote(values, comment):
    read = tomllib.loads(write_toml(values, comment))
    assert list(read) == list(values)
    assert all(_same(values[key], read[key]) for key in values)


@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_file_as_a_config_is_read_or_refused_in_one_line(content):
    path = Path(f"fuzz-{os.getpid()}.toml")
    path.write_bytes(content)
    try:
        values = read_config_file(path)
    except MnistError as error:
        assert "\n" not in str(error) and str(error).startswith(f"--config {path}")
    else:
        assert set(values) <= {field.name for field in fields(TrainConfig)}


def test_a_config_round_trips_through_toml():
    config = TrainConfig(epochs=3, lr=0.003, batch_size=64, init_from='odd "name".pt')
    values = config_values(tomllib.loads(config_toml(config, "comment")), "here")
    assert TrainConfig(**values) == config


def _info_config(runner, checkpoint: str) -> dict:
    result = runner.invoke(app(), ["info", checkpoint, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["config"]


def test_info_then_train_config_gives_the_same_config(runner, tiny_data):
    first = ["train", *FAST, "--epochs", "2", "--lr", "0.02", "--batch-size", "32"]
    assert runner.invoke(app(), [*first, "--no-augment", "--seed", "3"]).exit_code == 0
    printed = runner.invoke(app(), ["info", "ckpt.pt", "--config"])
    assert printed.exit_code == 0, printed.output
    assert tomllib.loads(printed.stdout)["lr"] == 0.02
    Path("run.toml").write_text(printed.stdout)
    again = runner.invoke(app(), ["train", "--config", "run.toml", "--checkpoint", "again.pt"])
    assert again.exit_code == 0, again.output
    assert _info_config(runner, "again.pt") == _info_config(runner, "ckpt.pt")


def test_flags_given_on_the_command_line_win_over_the_file(runner, tiny_data):
    Path("run.toml").write_text('model = "mlp"\nepochs = 2\nbatch-size = 50\nlr = 0.02\n')
    result = runner.invoke(
        app(), ["train", "--config", "run.toml", "--epochs", "1", "--threads", "1", "-q"]
    )
    assert result.exit_code == 0, result.output
    config = _info_config(runner, "ckpt.pt")
    assert (config["model"], config["epochs"], config["batch_size"]) == ("mlp", 1, 50)
    assert config["lr"] == 0.02 and config["optimizer"] == "adamw"  # the default, untouched


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("epochz = 2\n", "unknown key 'epochz'; the keys are dataset, model, epochs"),
        ("batch_size = 2\n", "unknown key 'batch_size' (keys are spelled as the options:"),
        ('epochs = "2"\n', "key 'epochs' must be an integer, not str"),
        ("epochs = 2.5\n", "key 'epochs' must be an integer, not float"),
        ("augment = 1\n", "key 'augment' must be true or false, not int"),
        ('model = "resnet"\n', "key 'model' must be one of cnn, mlp, not 'resnet'"),
        ("[train]\nepochs = 2\n", "unknown key 'train'"),
        ("epochs = \n", "not valid TOML"),
        ("epochs = 0\n", "--epochs must be at least 1"),
        ("threads = 0\n", "--threads must be at least 1"),
        (b"\xff\xfe", "not UTF-8 text"),
    ],
)
def test_a_bad_config_is_one_line_naming_the_key(runner, tiny_data, text, message):
    path = Path("run.toml")
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    result = runner.invoke(app(), ["train", "--config", "run.toml", *FAST, "--epochs", "1"][:3])
    assert result.exit_code == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.output
    assert not Path("ckpt.pt").exists()


def test_a_config_that_is_a_fifo_or_missing_is_refused_at_once(runner, tiny_data):
    os.mkfifo("pipe.toml")
    result = runner.invoke(app(), ["train", "--config", "pipe.toml"])
    assert result.exit_code == 1
    assert "--config pipe.toml: is a FIFO (named pipe), not a config file" in result.stderr
    result = runner.invoke(app(), ["train", "--config", "missing.toml"])
    assert result.exit_code == 1
    assert "--config missing.toml: no such file" in result.stderr


def test_resume_counts_the_file_as_given(runner, tiny_data):
    assert runner.invoke(app(), ["train", *FAST, "--epochs", "1"]).exit_code == 0
    Path("run.toml").write_text("batch-size = 16\n")
    result = runner.invoke(app(), ["train", "--resume", "--config", "run.toml", "--epochs", "2"])
    assert result.exit_code == 1
    assert "--batch-size 16 would change the run saved in ckpt.pt" in result.stderr


def test_info_config_of_an_unreadable_config_and_with_json(runner, tiny_checkpoint):
    result = runner.invoke(app(), ["info", str(tiny_checkpoint), "--config", "--json"])
    assert result.exit_code == 1
    assert "give one of them" in result.stderr


def test_config_values_refuse_a_table_by_name():
    with pytest.raises(MnistError, match="key 'lr' must be a number, not a table"):
        config_values({"lr": {"a": 1}}, "x")
