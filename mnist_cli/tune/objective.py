"""One trial of `mnist tune`: train with the settings the trial suggests and return the final
validation accuracy (never the test set's). Each epoch's validation accuracy goes to the pruner,
which may stop a trial that lags the others. A trial keeps no checkpoint: it trains into a
temporary folder of its own (named after its worker: workers.py), removed when the trial ends;
the best settings, written as TOML, make the model again with `mnist train --config`."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import optuna

from mnist_cli.checkpoint.format import EpochRecord
from mnist_cli.config import TrainConfig
from mnist_cli.errors import Interrupted, MnistError
from mnist_cli.train.loop import train
from mnist_cli.tune.space import suggest
from mnist_cli.tune.workers import trial_folder, worker_record


class TrialFailed(Exception):
    """A trial whose training failed (diverged, out of memory): the study records it as failed
    and goes on with the next."""


class Objective:
    """Callable for `study.optimize`: one trial, one training run."""

    def __init__(self, base: TrainConfig, data_dir: Path) -> None:
        self.base = base
        self.data_dir = Path(data_dir)

    def __call__(self, trial: optuna.Trial) -> float:
        trial.set_user_attr("worker", worker_record())  # who runs it, should it die
        config = suggest(trial, self.base)

        def report(record: EpochRecord) -> None:
            trial.report(record.val_accuracy, record.epoch)
            trial.set_user_attr("seconds", trial.user_attrs.get("seconds", 0) + record.seconds)
            if record.epoch < config.epochs and trial.should_prune():
                raise optuna.TrialPruned(f"pruned after epoch {record.epoch}")

        try:
            with trial_folder() as folder:
                result = train(config, self.data_dir, Path(folder) / "trial.pt", on_epoch=report)
        except Interrupted:
            raise
        except MnistError as error:
            trial.set_user_attr("error", str(error))
            raise TrialFailed(str(error)) from None
        trial.set_user_attr("config", asdict(result.config))  # as it ran: what --config repeats
        return result.final.val_accuracy
