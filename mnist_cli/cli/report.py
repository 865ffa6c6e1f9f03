"""What a person reads after `download`, `train` and `info`: Rich tables for the values the core
returns, and the number formats every report shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

from mnist_cli.cli.output import Output

if TYPE_CHECKING:
    from mnist_cli.checkpoint.format import EpochRecord
    from mnist_cli.checkpoint.read import Checkpoint
    from mnist_cli.data.download import FileResult
    from mnist_cli.train.loop import TrainResult

SPARKS = "▁▂▃▄▅▆▇█"


def percent(fraction: float) -> str:
    return f"{100 * fraction:.2f}%"


def probability(fraction: float) -> str:
    """Like percent, but never rounds a near-certainty to 100% or a long shot to 0%."""
    if fraction > 0.9999:
        return ">99.99%"
    if fraction < 0.0001:
        return "<0.01%"
    return percent(fraction)


def sparkline(values: list[float]) -> str:
    """One block character per value, from lowest to highest; a flat series sits mid-height."""
    low, high = min(values), max(values)
    if high - low <= 1e-12 * max(1.0, abs(high)):
        return SPARKS[3] * len(values)
    top = len(SPARKS) - 1
    return "".join(SPARKS[round((value - low) / (high - low) * top)] for value in values)


def _trend(values: list[float], text: Callable[[float], str]) -> str:
    return f"{sparkline(values)}  {text(values[0])} to {text(values[-1])}"


def download_report(output: Output, title: str, results: list[FileResult]) -> None:
    table = Table(title=escape(title))
    table.add_column("file")
    table.add_column("bytes", justify="right")
    table.add_column("status")
    for result in results:
        status = "already there" if result.status == "present" else result.status
        table.add_row(result.name, f"{result.size:,}", status)
    output.out.print(table)
    sources = sorted({str(Path(r.source).parent) for r in results if r.status == "imported"})
    sources += sorted(
        {r.source.rsplit("/", 1)[0] + "/" for r in results if r.status == "downloaded"}
    )
    for source in sources:
        output.out.print(f"from {escape(source)}", soft_wrap=True)
    checks = ", ".join(sorted({result.verified_by for result in results}))
    output.out.print(f"[green]all files verified[/] ({checks})")


def epoch_line(record: EpochRecord, epochs: int) -> str:
    """The row a finished epoch leaves in the output (Rich markup)."""
    validation = ""
    if record.val_loss is not None and record.val_accuracy is not None:
        validation = (
            f"val loss {record.val_loss:.4f}  val accuracy {percent(record.val_accuracy)}  "
        )
    return (
        f"epoch {record.epoch:>{len(str(epochs))}}/{epochs}  "
        f"train loss {record.train_loss:.4f}  {validation}test loss {record.test_loss:.4f}  "
        f"test accuracy [bold]{percent(record.test_accuracy)}[/]  {record.seconds:.1f} s"
    )


def training_summary(output: Output, model: str, result: TrainResult) -> None:
    table = Table(title="training finished", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("model", f"{model} ({result.parameters:,} parameters)")
    threads = f"{result.threads} CPU thread{'s' if result.threads != 1 else ''}"
    table.add_row("device", f"{result.device} ({threads})")
    if result.world_size > 1:  # under torchrun
        table.add_row("processes", f"{result.world_size} (the batch split among them)")
        table.add_row("batch norm", result.batch_norm)
    table.add_row("epochs", str(len(result.history)))
    table.add_row("test accuracy", f"[bold green]{percent(result.final.test_accuracy)}[/]")
    table.add_row("test loss", f"{result.final.test_loss:.4f}")
    if len(result.history) > 1:
        loss = [row.test_loss for row in result.history]
        accuracy = [row.test_accuracy for row in result.history]
        table.add_row("accuracy by epoch", _trend(accuracy, percent))
        table.add_row("test loss by epoch", _trend(loss, lambda value: f"{value:.4f}"))
    if result.final.val_accuracy is not None:
        table.add_row("val accuracy", percent(result.final.val_accuracy))
        table.add_row("temperature", f"{result.temperature:.3f} (fitted on the validation split)")
    table.add_row("time", f"{result.seconds:.1f} s")
    table.add_row("checkpoint", escape(str(result.checkpoint)))
    output.out.print(table)


def info_report(output: Output, path: Path, checkpoint: Checkpoint, size: int) -> None:
    table = Table(title=escape(f"{path}"), show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("model", f"{checkpoint.model_name} ({checkpoint.parameters:,} parameters)")
    classes = len(checkpoint.class_names)
    table.add_row("dataset", f"{escape(checkpoint.dataset)} ({classes} classes)")
    table.add_row("epochs", str(len(checkpoint.history)))
    if checkpoint.final is not None:
        table.add_row("test accuracy", f"[bold green]{percent(checkpoint.final.test_accuracy)}[/]")
        table.add_row("test loss", f"{checkpoint.final.test_loss:.4f}")
    settings = ""
    if checkpoint.config is not None:
        settings = ", ".join(f"{k} {v}" for k, v in asdict(checkpoint.config).items())
    table.add_row("temperature", f"{checkpoint.temperature:.3f}")
    table.add_row("training", escape(settings) or "not recorded")
    table.add_row("torch", escape(checkpoint.torch_version) or "not recorded")
    table.add_row("created", escape(checkpoint.created) or "not recorded")
    table.add_row("size", f"{size:,} bytes")
    output.out.print(table)
