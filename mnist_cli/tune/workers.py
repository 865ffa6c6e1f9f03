"""What a worker that dies leaves behind, cleared by the next one. Each trial records the worker
that runs it (this machine, this pid); when a study is opened, a trial left running by a worker
of this machine that is gone is marked failed, and one of any machine whose heartbeat stopped
(storage.py) is too. A trial trains in a temporary folder named after its worker, so that one
a killed worker left is swept at the next start."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

import optuna

from mnist_cli.files import pid_alive

FOLDER_PREFIX = "mnist-tune-"


def _machine() -> str:
    """This machine as other workers see it: the host name, and on Linux the boot and the pid
    namespace, so that a pid is only ever checked where it means the same process."""
    parts = [socket.gethostname()]
    with contextlib.suppress(OSError):
        parts.append(Path("/proc/sys/kernel/random/boot_id").read_text().strip())
    with contextlib.suppress(OSError):
        parts.append(os.readlink("/proc/self/ns/pid"))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


MACHINE = _machine()
FOLDER = re.compile(re.escape(FOLDER_PREFIX) + r"(\d+)-([0-9a-f]{12})-")


@dataclass(frozen=True)
class Abandoned:
    """A trial that was left running by a worker that is gone, now marked failed."""

    number: int
    pid: int | None  # None: found by its heartbeat, on a machine this one cannot look into
    host: str | None


def worker_record() -> dict[str, str | int]:
    """What a trial stores about the worker that runs it."""
    return {"host": socket.gethostname(), "machine": MACHINE, "pid": os.getpid()}


def trial_folder() -> tempfile.TemporaryDirectory:
    """A trial's temporary folder, named after this worker: `mnist-tune-PID-MACHINE-...`."""
    return tempfile.TemporaryDirectory(prefix=f"{FOLDER_PREFIX}{os.getpid()}-{MACHINE}-")


def sweep_trial_folders(root: Path | None = None) -> int:
    """Remove the trial folders that workers of this machine left when they were killed; how
    many. Only our own names, only real folders of this user, only of processes that are gone."""
    root = Path(root or tempfile.gettempdir())
    try:
        entries = list(os.scandir(root))
    except OSError:
        return 0
    swept = 0
    for entry in entries:
        match = FOLDER.match(entry.name)
        if not match or match.group(2) != MACHINE or pid_alive(int(match.group(1))):
            continue
        if entry.is_dir(follow_symlinks=False) and _ours(entry):
            shutil.rmtree(entry.path, ignore_errors=True)
            swept += 1
    return swept


def _ours(entry: os.DirEntry) -> bool:
    getuid = getattr(os, "getuid", None)
    return getuid is None or entry.stat(follow_symlinks=False).st_uid == getuid()


def fail_abandoned(study: optuna.Study) -> list[Abandoned]:
    """Mark failed the trials of `study` left running by a worker that is gone: one of this
    machine whose pid is not alive, or one of any machine whose heartbeat stopped a grace
    period ago (Optuna's own test). In memory there are none."""
    storage = study._storage
    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    stale = _stale_ids(study) if running else set()
    abandoned = []
    for trial in running:
        worker = trial.user_attrs.get("worker")
        worker = worker if isinstance(worker, dict) else {}
        pid, host = worker.get("pid"), worker.get("host")
        if worker.get("machine") == MACHINE and isinstance(pid, int) and not pid_alive(pid):
            error = f"its worker (pid {pid} on {host}) died during the trial"
        elif trial._trial_id in stale:
            pid, error = None, f"its worker ({host or 'unknown'}) stopped sending heartbeats"
        else:
            continue
        if _fail(storage, trial._trial_id, error):
            abandoned.append(Abandoned(trial.number, pid, host))
    return abandoned


def _stale_ids(study: optuna.Study) -> set[int]:
    """The running trials whose heartbeat is older than the grace period (storage.py)."""
    storage = study._storage
    if getattr(storage, "get_heartbeat_interval", lambda: None)() is None:
        return set()
    return set(storage._get_stale_trial_ids(study._study_id))


def _fail(storage, trial_id: int, error: str) -> bool:
    """Mark one trial failed, saying why; False if another worker got there first."""
    try:
        storage.set_trial_user_attr(trial_id, "error", error)
        return storage.set_trial_state_values(trial_id, state=optuna.trial.TrialState.FAIL)
    except optuna.exceptions.UpdateFinishedTrialError:
        return False
