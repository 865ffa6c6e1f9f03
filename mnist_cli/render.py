"""What a person reads: Rich consoles, progress bars and tables for the values the core returns.

With cli.py and the render_*.py modules, the only code that imports rich. Tables go to stdout;
progress, errors and, under --json, everything else go to stderr. Progress bars are drawn only on
a terminal; --quiet leaves only results and errors; NO_COLOR turns colour off.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
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
from rich.text import Text

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)
quiet_mode = False  # --quiet: no progress, no notes; results and errors only


def configure(quiet_output: bool = False) -> None:
    """Set up the consoles for this command: read NO_COLOR (and FORCE_COLOR) now, not when this
    module was first imported, and remember --quiet."""
    global out, err, quiet_mode
    out = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    quiet_mode = quiet_output


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
    if not quiet_mode:
        err.print(escape(message), soft_wrap=True)


def _progress(*columns, quiet: bool) -> Progress:
    # No redirection of stdout: with stdout piped, lines meant for the pipe must reach it.
    return Progress(
        *columns,
        console=err,
        transient=True,
        disable=quiet or quiet_mode or not err.is_terminal,
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


SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float]) -> str:
    """One block character per value, from lowest to highest; a flat series sits mid-height."""
    low, high = min(values), max(values)
    if high - low <= 1e-12 * max(1.0, abs(high)):
        return SPARKS[3] * len(values)
    top = len(SPARKS) - 1
    return "".join(SPARKS[round((value - low) / (high - low) * top)] for value in values)


def _trend(values: list[float], text) -> str:
    return f"{sparkline(values)}  {text(values[0])} to {text(values[-1])}"


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
    if len(result.history) > 1:
        loss = [row.test_loss for row in result.history]
        accuracy = [row.test_accuracy for row in result.history]
        table.add_row("accuracy by epoch", _trend(accuracy, percent))
        table.add_row("test loss by epoch", _trend(loss, lambda value: f"{value:.4f}"))
    table.add_row("time", f"{result.seconds:.1f} s")
    table.add_row("checkpoint", escape(str(result.checkpoint)))
    out.print(table)


def confidence_bar(fraction: float, width: int = 10) -> str:
    """A bar of `width` cells in eighths of a cell, then the percentage."""
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, part = divmod(eighths, 8)
    bar = "█" * full + (" ▏▎▍▌▋▊▉"[part] if part else "")
    return f"{bar:░<{width}} {probability(fraction):>7}"


def _others(prediction) -> str:
    return ", ".join(
        f"{guess.prediction} {probability(guess.probability)}" for guess in prediction.top_k[1:]
    )


def _without_file(prediction) -> str:
    """The error, without the file name that starts it: the row already shows it."""
    prefix = f"{prediction.file}: "
    message = prediction.error
    return message[len(prefix) :] if message.startswith(prefix) else message


def prediction_table(predictions, noun: str = "digit") -> None:
    table = Table()
    table.add_column("file", overflow="fold")
    table.add_column(noun, justify="right", style="bold")
    table.add_column("name")
    table.add_column("confidence", no_wrap=True)
    table.add_column("next guesses")
    for prediction in predictions:
        if prediction.error:
            error = f"[red]{escape(_without_file(prediction))}[/]"
            table.add_row(escape(prediction.file), "[red]-[/]", error, "", "")
            continue
        best = prediction.best
        table.add_row(
            escape(prediction.file),
            str(best.prediction),
            escape(best.label),
            confidence_bar(best.probability),
            _others(prediction),
        )
    out.print(table)


def info_report(info) -> None:
    table = Table(title=escape(f"{info.checkpoint}"), show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("model", f"{info.model} ({info.parameters:,} parameters)")
    table.add_row("dataset", f"{escape(info.dataset)} ({len(info.classes)} classes)")
    table.add_row("epochs", str(len(info.history)))
    if info.test_accuracy is not None:
        table.add_row("test accuracy", f"[bold green]{percent(info.test_accuracy)}[/]")
    if info.test_loss is not None:
        table.add_row("test loss", f"{info.test_loss:.4f}")
    settings = ", ".join(f"{key} {value}" for key, value in info.config.items())
    table.add_row("training", escape(settings) or "not recorded")
    table.add_row("torch", escape(info.torch_version) or "not recorded")
    table.add_row("created", escape(info.created) or "not recorded")
    table.add_row("size", f"{info.size:,} bytes")
    out.print(table)


def _picture(pixels, colour: bool) -> Text:
    """The 28x28 input as 14 lines of half blocks: each character shows two pixel rows, in
    shades of grey where the terminal has colour, else as ink (>= 0.5) or not."""
    picture = Text()
    levels = (pixels.clip(0, 1) * 255).round().astype(int).tolist()
    for line, (top_row, bottom_row) in enumerate(zip(levels[0::2], levels[1::2], strict=True)):
        if line:
            picture.append("\n")
        for top, bottom in zip(top_row, bottom_row, strict=True):
            if colour:
                picture.append(
                    "▀", style=f"rgb({top},{top},{top}) on rgb({bottom},{bottom},{bottom})"
                )
            else:
                picture.append(" ▄▀█"[2 * (top >= 128) + (bottom >= 128)])
    return picture


def show_predictions(predictions, to_stderr: bool = False) -> None:
    """Each image the model saw, beside what it made of it."""
    console = err if to_stderr else out
    colour = console.color_system is not None
    for prediction in predictions:
        if prediction.error:
            continue
        best = prediction.best
        words = Text.from_markup(
            f"[bold]{escape(prediction.file)}[/]\n\n"
            f"digit [bold]{best.prediction}[/] ({escape(best.label)})\n"
            f"{confidence_bar(best.probability)}\n"
        )
        for guess in prediction.top_k[1:]:
            words.append(f"then {guess.prediction}  {probability(guess.probability)}\n")
        grid = Table.grid(padding=(0, 2))
        grid.add_row(Panel(_picture(prediction.pixels, colour), expand=False, padding=0), words)
        console.print(grid)
