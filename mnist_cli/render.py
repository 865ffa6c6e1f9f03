"""What a person reads: Rich consoles, progress bars and tables for the values the core returns.

With cli.py, the only module that imports rich. Tables go to stdout; progress, errors and, under
--json, everything else go to stderr. Progress bars are drawn only on a terminal.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def percent(fraction: float) -> str:
    return f"{100 * fraction:.2f}%"


def probability(fraction: float) -> str:
    """Like percent, but never rounds a near-certainty to 100% or a long shot to 0%."""
    if fraction > 0.9999:
        return ">99.99%"
    if fraction < 0.0001:
        return "<0.01%"
    return percent(fraction)


def error_line(message: str) -> None:
    """One line on stderr, however long: scripts and people both read it whole."""
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)


def note(message: str) -> None:
    err.print(escape(message), soft_wrap=True)


def _progress(*columns, quiet: bool) -> Progress:
    # No redirection of stdout: with stdout piped, lines meant for the pipe must reach it.
    return Progress(
        *columns,
        console=err,
        transient=True,
        disable=quiet or not err.is_terminal,
        redirect_stdout=False,
        redirect_stderr=False,
    )


def print_above(progress: Progress, console: Console, text: str) -> None:
    """Print a line for `console`; while bars are live on the same terminal, print it above them
    through the bars' own console, so that the two do not overwrite each other."""
    if progress.live.is_started and console.is_terminal:
        progress.console.print(text)
    else:
        console.print(text)


def download_progress(quiet: bool = False) -> Progress:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    return _progress(*columns, quiet=quiet)


def train_progress(quiet: bool = False) -> Progress:
    columns = (
        TextColumn("{task.description:<8}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    return _progress(*columns, quiet=quiet)


def download_report(title: str, results) -> None:
    table = Table(title=escape(title))
    table.add_column("file")
    table.add_column("bytes", justify="right")
    table.add_column("status")
    for result in results:
        status = "already there" if result.status == "present" else result.status
        table.add_row(result.name, f"{result.size:,}", status)
    out.print(table)
    sources = sorted({str(Path(r.source).parent) for r in results if r.status == "imported"})
    sources += sorted(
        {r.source.rsplit("/", 1)[0] + "/" for r in results if r.status == "downloaded"}
    )
    for source in sources:
        out.print(f"from {escape(source)}", soft_wrap=True)
    checks = ", ".join(sorted({result.verified_by for result in results}))
    out.print(f"[green]all files verified[/] ({checks})")


def epoch_line(record, epochs: int) -> str:
    return (
        f"epoch {record.epoch:>{len(str(epochs))}}/{epochs}  "
        f"train loss {record.train_loss:.4f}  test loss {record.test_loss:.4f}  "
        f"test accuracy [bold]{percent(record.test_accuracy)}[/]  {record.seconds:.1f} s"
    )


def training_summary(model: str, result) -> None:
    table = Table(title="training finished", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("model", f"{model} ({result.parameters:,} parameters)")
    threads = f"{result.threads} CPU thread{'s' if result.threads != 1 else ''}"
    table.add_row("device", f"{result.device} ({threads})")
    table.add_row("epochs", str(len(result.history)))
    table.add_row("test accuracy", f"[bold green]{percent(result.final.test_accuracy)}[/]")
    table.add_row("test loss", f"{result.final.test_loss:.4f}")
    table.add_row("time", f"{result.seconds:.1f} s")
    table.add_row("checkpoint", escape(str(result.checkpoint)))
    out.print(table)


def evaluation_report(checkpoint: Path, loaded, metrics, dataset=None) -> None:
    """`dataset`: the registry entry of the checkpoint's dataset, None if this version lacks it."""
    noun = dataset.class_noun if dataset else "class"
    test_set = f"the {dataset.title} test set" if dataset else "the test set"
    title = f"{checkpoint} ({loaded.model_name}) on {test_set}"
    summary = Table(title=escape(title), show_header=False)
    summary.add_column(style="bold")
    summary.add_column()
    summary.add_row("accuracy", f"[bold green]{percent(metrics.accuracy)}[/]")
    summary.add_row("correct", f"{metrics.correct:,} of {metrics.count:,}")
    summary.add_row("mean loss", f"{metrics.loss:.4f}")
    out.print(summary)
    per_class = Table(title=f"accuracy per {noun}")
    per_class.add_column(noun, justify="right")
    per_class.add_column("name")
    per_class.add_column("accuracy", justify="right")
    per_class.add_column("images", justify="right")
    rows = zip(loaded.class_names, metrics.per_class_accuracy, metrics.per_class_count, strict=True)
    for index, (name, accuracy, count) in enumerate(rows):
        per_class.add_row(str(index), escape(name), percent(accuracy), f"{count:,}")
    out.print(per_class)


def prediction_table(predictions, noun: str = "digit") -> None:
    table = Table()
    table.add_column("file", overflow="fold")
    table.add_column(noun, justify="right", style="bold")
    table.add_column("name")
    table.add_column("probability", justify="right")
    table.add_column("then")
    for prediction in predictions:
        if prediction.error:
            continue
        best = prediction.best
        others = ", ".join(
            f"{guess.prediction} {probability(guess.probability)}" for guess in prediction.top_k[1:]
        )
        table.add_row(
            escape(prediction.file),
            str(best.prediction),
            escape(best.label),
            probability(best.probability),
            others,
        )
    out.print(table)
