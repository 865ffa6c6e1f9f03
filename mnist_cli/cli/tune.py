"""`mnist tune`: an Optuna study over the training settings, maximising validation accuracy;
a table row as each trial ends, and the best settings as TOML for `mnist train --config`."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from mnist_cli.cli.download import ensure_data
from mnist_cli.cli.options import DEFAULTS, OUTPUT, DataDir, Dataset, Device, Quiet
from mnist_cli.cli.output import Output, output_of
from mnist_cli.cli.report import percent
from mnist_cli.cli.train_options import ModelOption, Optimizer, Seed, Threads, ValSplit
from mnist_cli.config import DEFAULT_DATA_DIR, TrainConfig, check_threads
from mnist_cli.errors import Interrupted, MnistError
from mnist_cli.tune.space import searched

if TYPE_CHECKING:
    from mnist_cli.tune.study import TrialRow

SEARCH = "Search"
MISSING = "mnist tune needs optuna, which is not installed: pip install 'mnist-cli[tune]'"
# How long to train the best settings: the trials ran the short recipe (its augmentation is in
# the file), which reaches its best in 8 epochs (docs/tune.md).
TRAIN_EPOCHS = 8
EXAMPLES = (
    "Examples:\n\n"
    "  mnist tune --trials 20 --epochs 2\n\n"
    "  mnist tune --storage sqlite:///tune.db --study cnn   (in several shells)\n\n"
    f"  mnist train --config best.toml --epochs {TRAIN_EPOCHS}   (train with what it found)"
)
PARAMS = {  # the searched settings: column heading and format
    "lr": ("lr", "{:.3g}"),
    "weight_decay": ("decay", "{:.1e}"),
    "batch_size": ("batch", "{}"),
    "label_smoothing": ("smooth", "{:.3f}"),
    "width": ("width", "{}"),
}


def _column(name: str) -> tuple[str, str]:
    """A searched setting's heading and format; a model's own setting shows by its name."""
    return PARAMS.get(name, (name.replace("_", " "), "{}"))


STATES = {"complete": "done", "pruned": "pruned", "failed": "failed"}


def _option(*names: str, panel: str = SEARCH, **settings) -> typer.models.OptionInfo:
    return typer.Option(*names, rich_help_panel=panel, **settings)


def tune(
    ctx: typer.Context,
    trials: Annotated[
        int, _option("--trials", min=1, metavar="N", help="Trials this process runs.")
    ] = 20,
    timeout: Annotated[
        float | None,
        _option("--timeout", min=0.0, metavar="S", help="Start no trial after S seconds."),
    ] = None,
    storage: Annotated[
        str | None,
        _option(
            "--storage",
            metavar="URL",
            help="Optuna storage shared by workers: sqlite:///tune.db, postgresql://...",
        ),
    ] = None,
    study: Annotated[str, _option("--study", metavar="NAME", help="The study's name.")] = "mnist",
    epochs: Annotated[
        int, _option("--epochs", min=1, metavar="N", help="Epochs of each trial.")
    ] = 2,
    best: Annotated[
        Path,
        _option("--best", metavar="FILE", panel=OUTPUT, help="The best settings, as TOML."),
    ] = Path("best.toml"),
    dataset: Dataset = DEFAULTS.dataset,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    val_split: ValSplit = DEFAULTS.val_split,
    model: ModelOption = DEFAULTS.model,
    optimizer: Optimizer = DEFAULTS.optimizer,
    seed: Seed = DEFAULTS.seed,
    device: Device = DEFAULTS.device,
    threads: Threads = None,
    quiet: Quiet = False,
) -> None:
    """Search the training settings (Optuna) for the best validation accuracy."""
    output = output_of(ctx, quiet)
    base = TrainConfig(
        dataset=dataset,
        model=model,
        epochs=epochs,
        optimizer=optimizer,
        seed=seed,
        device=device,
        threads=threads,
        val_split=val_split,
    )
    with output.handled():
        check_threads(threads)
        if val_split < 1:
            raise MnistError("mnist tune maximises validation accuracy: --val-split must be > 0")
        if importlib.util.find_spec("optuna") is None:
            raise MnistError(MISSING)
        from mnist_cli.tune.best import check_best_path
        from mnist_cli.tune.storage import check_storage

        check_best_path(best)
        where = check_storage(storage)
        from mnist_cli.data.store import get_dataset
        from mnist_cli.train.interrupts import stop_on_signals
        from mnist_cli.tune.study import TuneRequest, open_study, run_study

        ensure_data(output, get_dataset(dataset), data_dir, quiet=False)
        request = TuneRequest(base, data_dir, trials, timeout, storage, study)
        found, abandoned = open_study(request)
        for trial in abandoned:
            worker = f"pid {trial.pid} on {trial.host}" if trial.pid else "its heartbeat stopped"
            output.note(
                f"trial {trial.number} was left running by a worker that is gone ({worker}):"
                " marked failed"
            )
        shown = f"in {where.shown}" if where else "in memory"
        output.note(f"study {study!r} {shown}: {trials} trials of {epochs} epoch(s) each")
        with TrialTable(output, base) as table, stop_on_signals() as stop:
            run_study(found, request, table.add, stop)
        trial = _write_best(found, best, study)
        if stop():
            kept = "the study ends here"
            if where:
                kept = f"the study keeps its trials in {where.shown}"
            kept += f"; best settings in {best}"
            stopped = Interrupted(f"stopped after trial {table.last}: {kept}")
            stopped.exit_code = stop.exit_code  # 143 after SIGTERM
            raise stopped
        if trial is None:
            raise MnistError("no trial completed (see their rows): no best settings to write")
    output.out.print(
        f"best: trial {trial.number}, validation accuracy [bold]{percent(trial.value)}[/]"
        f"; its settings in {escape(str(best))}: mnist train --config {escape(str(best))}"
        f" --epochs {TRAIN_EPOCHS}",
        soft_wrap=True,
    )


def _write_best(found, best: Path, study: str):
    """The best trial of the study so far, its settings written to `best`; None if no trial
    has completed."""
    from mnist_cli.tune.best import write_best
    from mnist_cli.tune.study import best_config

    result = best_config(found)
    if result is None:
        return None
    config, trial = result
    summary = (
        f"trial {trial.number} of study {study!r}, the best of {len(found.trials)}:"
        f" validation accuracy {percent(trial.value)}"
    )
    write_best(best, config, summary)
    return trial


class TrialTable:
    """The trials as they end: a live table on a terminal; elsewhere a line for each, then the
    table once at the end. Nothing under --quiet until the table."""

    def __init__(self, output: Output, base: TrainConfig) -> None:
        self.output = output
        settings = searched(base)
        self.params = [name for name in PARAMS if name in settings]
        self.params += [name for name in settings if name not in PARAMS]
        self.rows: list[TrialRow] = []
        self.live: Live | None = None
        self.last: int | None = None

    def __enter__(self) -> TrialTable:
        if self.output.live:
            self.live = Live(self.table(), console=self.output.out, auto_refresh=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)
        elif self.rows:
            self.output.out.print(self.table())

    def add(self, row: TrialRow) -> None:
        self.rows.append(row)
        self.last = row.number
        if self.live is not None:
            self.live.update(self.table(), refresh=True)
        else:
            cells = self.cells(row)
            settings = ", ".join(
                f"{_column(name)[0]} {value}"
                for name, value in zip(self.params, cells[3:-1], strict=True)
            )
            state = f"{row.state} ({row.error})" if row.error else row.state
            self.output.note(
                f"trial {row.number} {state}: val accuracy {cells[2]} ({settings};"
                f" {cells[-1]} s); {self._best(row)}"
            )

    def _best(self, row: TrialRow) -> str:
        if row.best_number is None:
            return "no trial complete yet"
        return f"best {percent(row.best_accuracy)} (trial {row.best_number})"

    def table(self) -> Table:
        best = f": {self._best(self.rows[-1])}" if self.rows else ""
        table = Table(title=f"validation accuracy of each trial{best}")
        for heading in ["trial", "state", "val acc"]:
            table.add_column(heading, justify="right")
        for name in self.params:
            table.add_column(_column(name)[0], justify="right")
        table.add_column("s", justify="right")
        for row in self.rows:
            table.add_row(*self.cells(row), style="bold" if row.number == row.best_number else "")
        return table

    def cells(self, row: TrialRow) -> list[str]:
        accuracy = "-" if row.val_accuracy is None else percent(row.val_accuracy)
        params = [
            _column(name)[1].format(row.params[name]) if name in row.params else "-"
            for name in self.params
        ]
        return [str(row.number), STATES[row.state], accuracy, *params, f"{row.seconds:.0f}"]
