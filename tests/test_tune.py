"""`mnist tune`: seeded trials on the tiny dataset, a row for each as it ends, the best settings
as TOML that `train --config` takes (and never over a file tune did not write), pruning from the
per-epoch scores, two worker processes on one SQLite storage, and Ctrl-C after the running
trial with the study kept."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from mnist_cli.config_file import tomllib
from tests.conftest import REPO, app

FAST = ["--threads", "1", "--device", "cpu", "--epochs", "1"]


def _tune(runner, *arguments):
    return runner.invoke(app(), ["tune", *FAST, *arguments])


def test_three_seeded_trials_write_the_best_settings_train_takes(runner, tiny_data):
    result = _tune(runner, "--trials", "3", "--seed", "0")
    assert result.exit_code == 0, result.output
    assert [line.split(":")[0] for line in result.stderr.splitlines()[-3:]] == [
        "trial 0 complete",
        "trial 1 complete",
        "trial 2 complete",
    ]
    assert "validation accuracy of each trial" in result.stdout
    assert "best: trial" in result.stdout
    # The hint says what the help and docs/tune.md say: the best settings, trained longer.
    assert "mnist train --config best.toml --epochs 8" in " ".join(result.stdout.split())
    first = Path("best.toml").read_text()
    assert first.startswith("# mnist tune: trial ")
    settings = tomllib.loads(first)
    assert settings["epochs"] == 1 and settings["threads"] == 1 and "width" in settings
    # The same seed: the same trials, the same best.
    assert _tune(runner, "--trials", "3", "--seed", "0").exit_code == 0
    assert Path("best.toml").read_text() == first
    trained = runner.invoke(app(), ["train", "--config", "best.toml", "--json", "--quiet"])
    assert trained.exit_code == 0, trained.output
    assert '"batch_size": ' + str(settings["batch-size"]) in trained.stdout


def test_the_test_set_is_never_what_is_maximised(runner, tiny_data, monkeypatch):
    from mnist_cli.tune import objective

    seen = []
    real = objective.train

    def spy(*args, **kwargs):
        result = real(*args, **kwargs)
        seen.append(result.final)
        return result

    monkeypatch.setattr(objective, "train", spy)
    study = optuna.create_study(direction="maximize")
    from mnist_cli.config import TrainConfig

    base = TrainConfig(model="mlp", epochs=1, threads=1, device="cpu")
    study.optimize(objective.Objective(base, Path("data")), n_trials=1)
    assert study.best_value == seen[0].val_accuracy


def test_a_lagging_trial_is_pruned_from_the_epoch_scores(tiny_data):
    from mnist_cli.config import TrainConfig
    from mnist_cli.tune.objective import Objective

    study = optuna.create_study(
        direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=1.01)
    )
    base = TrainConfig(model="mlp", epochs=3, threads=1, device="cpu")
    study.optimize(Objective(base, Path("data")), n_trials=1)
    [trial] = study.trials
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert list(trial.intermediate_values) == [1]  # stopped after its first epoch


def test_refusals_are_one_line_before_any_trial(runner, tiny_data):
    Path("notes.toml").write_text("mine\n")
    Path("app.db").write_bytes(b"not sqlite at all")
    for options, message in [
        (["--best", "notes.toml"], "--best notes.toml holds a file that tune did not write"),
        (["--storage", "sqlite:///app.db"], "app.db is not a SQLite database"),
        (["--val-split", "0"], "--val-split must be > 0"),
        (["--storage", "nosuch://x"], "cannot open --storage nosuch://x"),
    ]:
        result = _tune(runner, "--trials", "1", *options)
        assert result.exit_code == 1, options
        assert message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert Path("notes.toml").read_text() == "mine\n"
    assert Path("app.db").read_bytes() == b"not sqlite at all"
    assert not Path("best.toml").exists()


def test_another_programs_sqlite_database_is_left_alone(runner, tiny_data):
    import sqlite3

    with sqlite3.connect("app.db") as connection:
        connection.execute("CREATE TABLE notes (text)")
    before = Path("app.db").read_bytes()
    result = _tune(runner, "--trials", "1", "--storage", "sqlite:///app.db")
    assert result.exit_code == 1
    assert "a SQLite database of something else" in result.stderr
    assert Path("app.db").read_bytes() == before


def test_without_optuna_tune_says_which_extra(runner, tiny_data, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "optuna" else real(name)
    )
    result = _tune(runner, "--trials", "1")
    assert result.exit_code == 1
    assert "pip install 'mnist-cli[tune]'" in result.stderr


def _worker(tiny, *arguments, env: dict[str, str] | None = None) -> subprocess.Popen:
    command = [sys.executable, "-m", "tests.tiny_cli", str(tiny.source), "tune", *FAST]
    return subprocess.Popen(
        [*command, *arguments],
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _trials(url: str, name: str = "mnist") -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=url).trials


def test_two_workers_share_one_sqlite_study(tiny, tiny_data):
    url = "sqlite:///tune.db"
    workers = [
        _worker(tiny, "--trials", "3", "--storage", url, "--study", "s", "--best", f"{n}.toml")
        for n in ("a", "b")
    ]
    for worker in workers:
        _, stderr = worker.communicate(timeout=600)
        assert worker.returncode == 0, stderr
    trials = _trials(url, "s")
    assert sorted(trial.number for trial in trials) == list(range(6))  # distinct, all recorded
    assert all(trial.state == optuna.trial.TrialState.COMPLETE for trial in trials)
    assert len({tuple(sorted(trial.params.items())) for trial in trials}) == 6


def test_ctrl_c_stops_after_the_running_trial_and_keeps_the_study(tiny, tiny_data):
    url = "sqlite:///tune.db"
    worker = _worker(tiny, "--trials", "50", "--storage", url)
    deadline = time.monotonic() + 300  # a bound on the test, not a claim about speed
    while not any(t.state.name == "COMPLETE" for t in _trials_or_none(url)):
        assert worker.poll() is None, worker.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    worker.send_signal(signal.SIGINT)
    _, stderr = worker.communicate(timeout=300)
    assert worker.returncode == 130, stderr
    assert "stopped after trial" in stderr and f"keeps its trials in {url}" in stderr
    assert "best settings in best.toml" in stderr
    assert "Traceback" not in stderr
    trials = _trials(url)
    assert 1 <= len(trials) < 50
    assert all(trial.state == optuna.trial.TrialState.COMPLETE for trial in trials)
    assert Path("best.toml").read_text().startswith("# mnist tune:")


def _trials_or_none(url: str) -> list:
    try:
        return _trials(url)
    except Exception:  # the study is not created yet (optuna raises KeyError), or locked
        return []


@pytest.fixture(autouse=True)
def _quiet_optuna():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
