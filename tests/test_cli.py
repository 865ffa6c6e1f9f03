"""The command itself: help, version, start-up cost, usage errors."""

import subprocess
import sys

import pytest

from mnist_cli import __version__
from tests.conftest import app


def test_version(runner):
    result = runner.invoke(app(), ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"mnist {__version__}"


@pytest.mark.parametrize("command", ["download", "train", "evaluate", "predict", "info", "tune"])
def test_every_command_explains_itself_with_examples(runner, command):
    result = runner.invoke(app(), [command, "--help"])
    assert result.exit_code == 0
    assert "Examples" in result.stdout
    assert f"mnist {command}" in result.stdout


def test_top_level_help_lists_the_commands(runner):
    result = runner.invoke(app(), ["--help"])
    assert result.exit_code == 0
    for command in ("download", "train", "evaluate", "predict", "info", "tune"):
        assert command in result.stdout


@pytest.mark.parametrize("command", ["download", "train", "evaluate", "predict", "info", "tune"])
def test_flags_take_no_value_and_their_help_says_so(runner, command):
    result = runner.invoke(app(), [command, "--help"], env={"COLUMNS": "80"})
    assert "<bool>" not in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 80


COMMANDS = ["download", "train", "evaluate", "predict", "info", "export", "tune", "serve"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_reads_as_words_not_python_types(runner, command):
    """No `<list[Path]>`, no `{IMAGE}...` in the usage line, no summary broken mid-line."""
    result = runner.invoke(app(), [command, "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0
    text = result.stdout
    assert "list[" not in text and "<str>" not in text
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert "{" not in usage and "......" not in usage
    summary = app().registered_commands[COMMANDS.index(command)].callback.__doc__
    assert "\n" not in summary.strip(), "a command's summary is one line: Typer keeps its breaks"


def test_usage_lines_name_each_argument_once(runner):
    predict = runner.invoke(app(), ["predict", "--help"], env={"COLUMNS": "80"}).stdout
    assert "Usage: mnist predict [OPTIONS] IMAGE..." in predict
    evaluate = runner.invoke(app(), ["evaluate", "--help"], env={"COLUMNS": "80"}).stdout
    assert "Usage: mnist evaluate [OPTIONS] [CHECKPOINT...]" in evaluate
    assert "<path>" in evaluate


def test_the_top_level_help_offers_shell_completion_and_fits_80_columns(runner):
    result = runner.invoke(app(), ["--help"], env={"COLUMNS": "80"})
    assert "--install-completion" in result.stdout and "--show-completion" in result.stdout
    lines = result.stdout.splitlines()
    evaluate = lines.index(next(line for line in lines if line.startswith("│ evaluate ")))
    predict = lines.index(next(line for line in lines if line.startswith("│ predict ")))
    assert predict - evaluate == 2  # its summary wrapped by the table alone, no stray break


def test_config_is_beside_help_not_in_a_panel_of_one_kind(runner):
    lines = runner.invoke(app(), ["train", "--help"], env={"COLUMNS": "80"}).stdout.splitlines()
    options = lines.index(next(line for line in lines if line.startswith("╭─ Options ")))
    model = lines.index(next(line for line in lines if line.startswith("╭─ Model ")))
    config = lines.index(next(line for line in lines if line.startswith("│ --config ")))
    assert options < config < model


def test_train_help_is_grouped_in_panels_that_read_at_80_columns(runner):
    result = runner.invoke(app(), ["train", "--help"], env={"COLUMNS": "80"})
    lines = result.stdout.splitlines()
    for panel in ("Data", "Model", "Optimisation", "Runtime", "Output"):
        assert any(line.startswith(f"╭─ {panel} ") for line in lines), panel
    # A screen and a half: 100 until --config, --init-from and --tensorboard came (issue 16),
    # each on one line of its own.
    assert len(lines) < 104
    # Descriptions get a column wide enough for a short sentence on one line.
    assert any("--epochs" in line and "Passes over the data." in line for line in lines)
    assert any(
        "--threads" in line and "CPU threads. [default: one per free core]" in line
        for line in lines
    )


def test_a_flag_given_a_value_is_a_usage_error(runner):
    assert runner.invoke(app(), ["info", "ckpt.pt", "--json", "true"]).exit_code == 2


def test_help_does_not_import_torch():
    code = (
        "import sys\n"
        "from mnist_cli.cli.app import app\n"
        "try:\n"
        "    app(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "for command in ('train', 'evaluate', 'predict', 'download', 'info'):\n"
        "    try:\n"
        "        app([command, '--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "assert 'torchvision' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_python_dash_m_runs_the_same_app():
    result = subprocess.run(
        [sys.executable, "-m", "mnist_cli", "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert result.stdout.strip() == f"mnist {__version__}"


@pytest.mark.parametrize(
    "arguments",
    [
        ["train", "--model", "resnet"],
        ["train", "--epochs", "0"],
        ["train", "--optimizer", "lion"],
        ["train", "--device", "tpu"],
        ["predict"],
        ["predict", "x.png", "--top-k", "0"],
        ["download", "--mirror", "ftp://example.org/"],
        ["no-such-command"],
    ],
)
def test_usage_errors_exit_2(runner, arguments):
    result = runner.invoke(app(), arguments)
    assert result.exit_code == 2, result.output
