"""`mnist tune`'s study: opened in memory or in Optuna's RDB storage (a SQLite file, or a
PostgreSQL or MySQL server that workers on many machines share), run trial by trial with a
callback after each, stopped between trials when asked, and its best settings as a TrainConfig.
Never prints: what a trial ended with comes back as a `TrialRow`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna

from mnist_cli.config import TrainConfig
from mnist_cli.errors import MnistError
from mnist_cli.tune.objective import Objective, TrialFailed
from mnist_cli.tune.storage import GRACE_PERIOD, Storage, check_storage, one_opener, open_rdb
from mnist_cli.tune.workers import Abandoned, fail_abandoned, sweep_trial_folders

OPEN_ATTEMPTS = 5  # workers that start together race to create a new storage's tables
# The settings a study's trials share (those tune does not search): a study opened again with
# others would mix trials that cannot be compared.
FIXED = ("dataset", "model", "epochs", "optimizer", "augment", "seed", "val_split", "init_from")


@dataclass(frozen=True)
class TrialRow:
    """What one finished trial says, for the table."""

    number: int
    state: str  # "complete", "pruned" or "failed"
    val_accuracy: float | None  # the last one reported
    params: dict[str, float | int]
    seconds: float
    best_number: int | None  # the best trial of the study so far (all workers')
    best_accuracy: float | None
    error: str | None = None  # why a failed trial failed


@dataclass(frozen=True)
class TuneRequest:
    """What to search and how long."""

    base: TrainConfig  # the settings every trial starts from
    data_dir: Path
    trials: int | None  # this process's trials; None: until the timeout
    timeout: float | None  # seconds, for this process
    storage: str | None  # an RDB URL (sqlite:///tune.db); None: in memory
    study: str


def open_study(request: TuneRequest) -> tuple[optuna.Study, list[Abandoned]]:
    """The study, created or (in a storage) loaded, and the trials that workers which died had
    left running, now marked failed; refused where its fixed settings differ."""
    # The CLI shows each trial itself, a failed one with its reason: Optuna's own warning of a
    # failed trial comes with a traceback.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = check_storage(request.storage)
    seeded = storage is None  # workers sharing a storage must not draw the same settings
    sampler = optuna.samplers.TPESampler(
        seed=request.base.seed if seeded else None,
        n_startup_trials=max(1, min(10, (request.trials or 20) // 2)),
    )
    pruner = optuna.pruners.MedianPruner(n_startup_trials=2)
    for attempt in range(1, OPEN_ATTEMPTS + 1):
        try:
            with one_opener(storage):
                study = optuna.create_study(
                    storage=open_rdb(storage),
                    study_name=request.study,
                    direction="maximize",
                    sampler=sampler,
                    pruner=pruner,
                    load_if_exists=True,
                )
            break
        except MnistError:
            raise
        except Exception as error:  # a bad URL, a missing driver, a server that does not answer
            if attempt < OPEN_ATTEMPTS and _racing(error):
                time.sleep(0.2 * attempt)
                continue
            first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
            raise MnistError(f"cannot open --storage {storage.shown}: {first}") from None
    _check_fixed(study, request, storage)
    return study, fail_abandoned(study)


def _racing(error: Exception) -> bool:
    """Whether another worker was creating the same storage's tables at the same moment (the
    next attempt finds them made), or held SQLite's write lock a moment too long."""
    text = str(error).lower()
    return any(sign in text for sign in ("already exists", "database is locked", "unique"))


def _check_fixed(study: optuna.Study, request: TuneRequest, storage: Storage | None) -> None:
    fixed = {name: getattr(request.base, name) for name in FIXED}
    stored = study.user_attrs.get("fixed")
    if stored is None:
        study.set_user_attr("fixed", fixed)
        return
    where = storage.shown if storage else "memory"
    for name, value in fixed.items():
        if stored.get(name) != value:
            flag = "--" + name.replace("_", "-")
            raise MnistError(
                f"study {request.study!r} in {where} was run with {flag}"
                f" {stored.get(name)}, not {value}: give the same, or another --study"
            )


def run_study(
    study: optuna.Study,
    request: TuneRequest,
    on_trial: Callable[[TrialRow], None],
    should_stop: Callable[[], bool],
) -> None:
    """Run trials until `request.trials` or `request.timeout`; after each, `on_trial(row)`, and
    if `should_stop()` the study stops there (the trial in progress always finishes). First,
    the trial folders that killed workers of this machine left are removed."""

    def after_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        on_trial(_row(study, trial))
        if should_stop():
            study.stop()

    sweep_trial_folders()  # those that killed workers of this machine left
    try:
        study.optimize(
            Objective(request.base, request.data_dir),
            n_trials=request.trials,
            timeout=request.timeout,
            callbacks=[after_trial],
            catch=(TrialFailed,),
        )
    except ValueError as error:  # Optuna's "Cannot tell a FAIL trial."
        if "cannot tell" not in str(error).lower():
            raise
        raise MnistError(
            f"the trial in progress was marked failed by another worker: this one sent no"
            f" heartbeat for {GRACE_PERIOD // 60} minutes (was it stopped?); start it again"
        ) from None


def _row(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> TrialRow:
    states = {
        optuna.trial.TrialState.COMPLETE: "complete",
        optuna.trial.TrialState.PRUNED: "pruned",
    }
    value = trial.value
    if value is None and trial.intermediate_values:
        value = trial.intermediate_values[max(trial.intermediate_values)]
    best = best_trial(study)
    return TrialRow(
        number=trial.number,
        state=states.get(trial.state, "failed"),
        val_accuracy=value,
        params=dict(trial.params),
        seconds=float(trial.user_attrs.get("seconds", 0.0)),
        best_number=best.number if best else None,
        best_accuracy=best.value if best else None,
        error=trial.user_attrs.get("error"),  # set only where a trial failed
    )


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The complete trial with the highest validation accuracy; None before one has ended."""
    try:
        return study.best_trial
    except ValueError:
        return None


def best_config(study: optuna.Study) -> tuple[TrainConfig, optuna.trial.FrozenTrial] | None:
    """The settings of the best trial, as it ran; None if no trial has completed."""
    best = best_trial(study)
    if best is None or "config" not in best.user_attrs:
        return None
    return TrainConfig(**best.user_attrs["config"]), best


def counts(study: optuna.Study) -> dict[str, int]:
    """How many trials of the study (all workers') ended in each state."""
    tally: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        tally[trial.state.name.lower()] = tally.get(trial.state.name.lower(), 0) + 1
    return tally
