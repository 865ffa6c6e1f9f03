"""`mnist tune --storage` against what users and crashes do to it: every spelling of a SQLite URL
names the file it opens, so another program's database is refused however it is written and
no stray file is made; a query is understood or refused; a password never reaches a message;
an unwritable storage is one sentence. A worker killed with SIGKILL leaves a trial that the next
start marks failed and a folder that it sweeps; a trial whose heartbeat stopped is failed too;
a hot journal left by a kill does not lock the study out."""

import errno
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest

from tests.conftest import app
from tests.test_tune import FAST, _trials, _worker

SIGNS_OF_A_CRASH = ("Traceback", "unexpected")


def _tune(runner, *arguments):
    return runner.invoke(app(), ["tune", *FAST, *arguments])


def _one_line_error(result) -> str:
    assert result.exit_code == 1, result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not any(sign in result.stderr for sign in SIGNS_OF_A_CRASH), result.stderr
    return result.stderr


def _foreign_database(path: Path, *, with_optuna: bool = False) -> bytes:
    """Another program's SQLite database (optionally one Optuna already wrote into)."""
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE notes (text)")
        connection.execute("INSERT INTO notes VALUES ('mine')")
    if with_optuna:
        optuna.create_study(storage=f"sqlite:///{path}", study_name="other")
    return path.read_bytes()


@pytest.mark.parametrize(
    "url",
    [
        "sqlite+pysqlite:///app.db",
        "sqlite:///app.db?timeout=5",
        "sqlite:///app%2Edb",  # %-escapes are the file's name, as SQLAlchemy reads them
        "sqlite:///./app.db",
    ],
)
def test_every_spelling_of_another_programs_database_is_refused(runner, tiny_data, url):
    before = _foreign_database(Path("app.db"))
    listing = sorted(os.listdir("."))
    stderr = _one_line_error(_tune(runner, "--trials", "1", "--storage", url))
    assert "app.db is a SQLite database of something else" in stderr
    assert Path("app.db").read_bytes() == before
    assert sorted(os.listdir(".")) == listing  # no `app.db?timeout=5` beside it


def test_a_database_optuna_already_wrote_into_beside_another_program_is_refused(runner, tiny_data):
    before = _foreign_database(Path("app.db"), with_optuna=True)
    stderr = _one_line_error(_tune(runner, "--trials", "1", "--storage", "sqlite:///app.db"))
    assert "a SQLite database of something else" in stderr
    assert Path("app.db").read_bytes() == before


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite:///new.db?mode=ro", "tune does not take ?mode= for SQLite"),
        ("sqlite:///new.db?uri=true", "tune does not take ?uri= for SQLite"),
        ("sqlite:///new.db?timeout=soon", "?timeout= takes seconds"),
        ("sqlite:///file:new.db", "names a SQLite URI, not a file"),
        ("sqlite:///:memory:", "names an in-memory database: leave --storage out"),
        ("sqlite://", "names an in-memory database"),
        ("sqlite+aiosqlite:///new.db", "tune opens SQLite through Python's sqlite3"),
        ("sqlite://host/new.db", "a SQLite URL names a file, no host"),
        ("new.db", "--storage new.db is not a database URL: give sqlite:///tune.db"),
    ],
)
def test_what_tune_does_not_understand_is_refused_and_creates_nothing(
    runner, tiny_data, url, message
):
    listing = sorted(os.listdir("."))
    stderr = _one_line_error(_tune(runner, "--trials", "1", "--storage", url))
    assert message in stderr
    assert sorted(os.listdir(".")) == listing


def test_a_timeout_query_opens_the_file_it_names(runner, tiny_data):
    result = _tune(runner, "--trials", "1", "--storage", "sqlite:///tune.db?timeout=5")
    assert result.exit_code == 0, result.output
    assert not Path("tune.db?timeout=5").exists()
    assert len(_trials("sqlite:///tune.db")) == 1


def test_a_password_in_the_url_never_reaches_a_message(runner, tiny_data):
    url = "postgresql://tuner:s3cret@127.0.0.1:9/mnist"
    stderr = _one_line_error(_tune(runner, "--trials", "1", "--storage", url))
    assert "cannot open --storage postgresql://tuner:***@127.0.0.1:9/mnist" in stderr
    assert "s3cret" not in stderr


def test_a_storage_in_a_missing_folder_is_one_sentence(runner, tiny_data):
    url = "sqlite:///nosuch/x.db"
    stderr = _one_line_error(_tune(runner, "--trials", "1", "--storage", url))
    assert stderr.strip() == f"error: --storage {url}: folder nosuch does not exist"


def test_a_read_only_storage_is_one_sentence(runner, tiny_data, monkeypatch):
    real_open = os.open

    def read_only(path, flags, *args, **kwargs):
        if str(path).endswith("x.db") and flags & (os.O_RDWR | os.O_WRONLY):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)  # what a read-only mount answers (root too)
    url = "sqlite:///x.db"
    stderr = _one_line_error(_tune(runner, "--trials", "1", "--storage", url))
    assert stderr.count(url) == 1, stderr
    assert "tune cannot write x.db (a read-only file system)" in stderr
    assert not Path("x.db").exists()


def test_a_killed_worker_leaves_no_running_trial_and_no_folder(
    runner, tiny, tiny_data, monkeypatch
):
    url = "sqlite:///tune.db"
    scratch = Path("scratch").resolve()
    scratch.mkdir()
    worker = _worker(tiny, "--trials", "50", "--storage", url, env={"TMPDIR": str(scratch)})
    try:
        _kill_inside_a_trial(worker, url, scratch)
    finally:
        worker.kill()
        worker.communicate(timeout=60)
    [left] = [t for t in _trials(url) if t.state == optuna.trial.TrialState.RUNNING]
    assert _trial_folders(scratch), "the killed trial's folder: the problem this test shows"

    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # this process's $TMPDIR
    result = _tune(runner, "--trials", "1", "--storage", url)
    assert result.exit_code == 0, result.output
    assert f"trial {left.number} was left running by a worker that is gone" in result.stderr
    trial = _trials(url)[left.number]
    assert trial.state == optuna.trial.TrialState.FAIL
    assert f"pid {worker.pid}" in trial.user_attrs["error"]
    assert not [t for t in _trials(url) if t.state == optuna.trial.TrialState.RUNNING]
    assert _trial_folders(scratch) == []


def _kill_inside_a_trial(worker: subprocess.Popen, url: str, scratch: Path) -> None:
    """SIGKILL the worker while a trial of it runs and its folder exists: stopped first, so
    that the trial cannot end between the look and the kill."""
    deadline = time.monotonic() + 300  # a bound on the test, not a claim about speed
    while time.monotonic() < deadline:
        assert worker.poll() is None, worker.communicate()
        worker.send_signal(signal.SIGSTOP)
        if _trial_folders(scratch) and _running(url):
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=60)
            return
        worker.send_signal(signal.SIGCONT)
        time.sleep(0.05)
    raise AssertionError("no trial was seen running")


def _trial_folders(scratch: Path) -> list[str]:
    return [p.name for p in scratch.iterdir() if p.name.startswith("mnist-tune-")]


def _running(url: str) -> bool:
    try:
        trials = optuna.load_study(study_name="mnist", storage=url).trials
    except Exception:  # not created yet, or the stopped worker holds the write lock
        return False
    return any(trial.state == optuna.trial.TrialState.RUNNING for trial in trials)


def test_only_the_folders_of_dead_workers_of_this_machine_are_swept(tmp_path):
    from mnist_cli.tune.workers import MACHINE, sweep_trial_folders

    dead = _dead_pid()
    kept_target = tmp_path / "elsewhere"
    kept_target.mkdir()
    (kept_target / "precious").write_text("x")
    names = {
        "swept": f"mnist-tune-{dead}-{MACHINE}-abc",
        "alive": f"mnist-tune-{os.getpid()}-{MACHINE}-abc",
        "other machine": f"mnist-tune-{dead}-{'0' * 12}-abc",
        "not ours": "mnist-tune-notes",
    }
    for name in names.values():
        (tmp_path / name).mkdir()
        (tmp_path / name / "trial.pt").write_bytes(b"")
    link = tmp_path / f"mnist-tune-{dead}-{MACHINE}-link"
    link.symlink_to(kept_target)
    assert sweep_trial_folders(tmp_path) == 1
    assert not (tmp_path / names["swept"]).exists()
    assert all((tmp_path / names[key]).is_dir() for key in ("alive", "other machine", "not ours"))
    assert link.is_symlink() and (kept_target / "precious").read_text() == "x"


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", ""])
    child.wait()
    return child.pid


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # the test's ask() outside optimize
def test_a_trial_whose_heartbeat_stopped_is_failed_when_the_study_opens(tiny_data, monkeypatch):
    from mnist_cli.config import TrainConfig
    from mnist_cli.tune import storage
    from mnist_cli.tune.study import TuneRequest, open_study
    from mnist_cli.tune.workers import MACHINE

    monkeypatch.setattr(storage, "GRACE_PERIOD", 1)
    base = TrainConfig(model="mlp", epochs=1, threads=1, device="cpu")
    request = TuneRequest(base, Path("data"), 1, None, "sqlite:///tune.db", "s")
    study, abandoned = open_study(request)
    assert abandoned == []
    remote, local = study.ask(), study.ask()
    remote.set_user_attr("worker", {"host": "far", "machine": "0" * 12, "pid": os.getpid()})
    local.set_user_attr("worker", {"host": "here", "machine": MACHINE, "pid": os.getppid()})
    study._storage.record_heartbeat(remote._trial_id)  # then nothing: its machine went down
    time.sleep(2.5)  # past the grace period, in SQLite's whole seconds
    _, abandoned = open_study(request)
    assert [(a.number, a.pid, a.host) for a in abandoned] == [(remote.number, None, "far")]
    states = {t.number: t.state for t in _trials("sqlite:///tune.db", "s")}
    assert states == {
        remote.number: optuna.trial.TrialState.FAIL,
        local.number: optuna.trial.TrialState.RUNNING,  # its worker (our parent) is alive
    }


def test_a_hot_journal_left_by_a_kill_does_not_lock_the_study_out(tiny_data):
    from mnist_cli.config import TrainConfig
    from mnist_cli.tune.storage import check_storage
    from mnist_cli.tune.study import TuneRequest, open_study

    base = TrainConfig(model="mlp", epochs=1, threads=1, device="cpu")
    request = TuneRequest(base, Path("data"), 1, None, "sqlite:///tune.db", "mnist")
    open_study(request)
    killed_in_a_write = (
        "import os, sqlite3\n"
        "db = sqlite3.connect('tune.db', isolation_level=None)\n"
        "db.execute('PRAGMA cache_size=2'); db.execute('BEGIN')\n"
        "for n in range(2000):\n"
        "    db.execute('INSERT INTO alembic_version VALUES (?)', (f'{n:999}',))\n"
        "os._exit(9)\n"
    )
    subprocess.run([sys.executable, "-c", killed_in_a_write], check=False)
    assert Path("tune.db-journal").stat().st_size > 0  # hot: the write is to be rolled back
    check_storage("sqlite:///tune.db")
    study, _ = open_study(request)
    assert study.user_attrs["fixed"]["model"] == "mlp"


def test_a_failed_trial_says_why_in_its_line_without_a_traceback(
    runner, tiny_data, monkeypatch, capfd
):
    from mnist_cli.errors import MnistError
    from mnist_cli.tune import objective

    def diverges(*args, **kwargs):
        raise MnistError("the loss diverged")

    monkeypatch.setattr(objective, "train", diverges)
    result = _tune(runner, "--trials", "1")
    assert result.exit_code == 1
    assert "trial 0 failed (the loss diverged): val accuracy -" in result.stderr
    assert "no trial completed" in result.stderr
    leaked = capfd.readouterr()  # Optuna's logger writes to the real stderr, not the runner's
    assert "Traceback" not in leaked.err + result.stderr, leaked.err


@pytest.fixture(autouse=True)
def _quiet_optuna():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
