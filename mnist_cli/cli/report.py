"""What a person reads after `download`, `train` and `info`: Rich tables for the values the core
returns, and the number formats every report shares."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from mnist_cli.cli.output import Output, shown

if TYPE_CHECKING:
    from mnist_cli.checkpoint.format import EpochRecord
    from mnist_cli.checkpoint.read import Checkpoint
    from mnist_cli.data.download import FileResult
    from mnist_cli.train.loop import TrainResult

SPARKS = "▁▂▃▄▅▆▇█"
NOT_A_NUMBER = "n/a"  # what a report shows for NaN or infinity (JSON says null)


def number(value: float, digits: int = 4) -> str:
    """`value` with `digits` decimals; n/a where it is not finite (a loss of NaN logits)."""
    return f"{value:.{digits}f}" if math.isfinite(value) else NOT_A_NUMBER


def percent(fraction: float) -> str:
    return f"{100 * fraction:.2f}%" if math.isfinite(fraction) else NOT_A_NUMBER


def probability(fraction: float) -> str:
    """Like percent, but never rounds a near-certainty to 100% or a long shot to 0%."""
    if not math.isfinite(fraction):
        return NOT_A_NUMBER
    if fraction > 0.9999:
        return ">99.99%"
    if fraction < 0.0001:
        return "<0.01%"
    return percent(fraction)


def sparkline(values: list[float]) -> str:
    """One block character per value, from lowest to highest; a flat series sits mid-height,
    a value that is not finite is a space."""
    seen = [value for value in values if math.isfinite(value)] or [0.0]
    low, high = min(seen), max(seen)
    return "".join(_spark(value, low, high) for value in values)


def _spark(value: float, low: float, high: float) -> str:
    if not math.isfinite(value):
        return " "
    if high - low <= 1e-12 * max(1.0, abs(high)):
        return SPARKS[3]
    return SPARKS[round((value - low) / (high - low) * (len(SPARKS) - 1))]


def _trend(values: list[float], text: Callable[[float], str]) -> str:
    return f"{sparkline(values)}  {text(values[0])} to {text(values[-1])}"


def download_report(output: Output, title: str, results: list[FileResult]) -> None:
    table = Table(title=shown(title))
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
        output.out.print(f"from {shown(source)}", soft_wrap=True)
    checks = ", ".join(sorted({result.verified_by for result in results}))
    output.out.print(f"[green]all files verified[/] ({checks})")


def epoch_line(record: EpochRecord, epochs: int) -> str:
    """The row a finished epoch leaves in the output (Rich markup)."""
    validation = ""
    if record.val_loss is not None and record.val_accuracy is not None:
        validation = (
            f"val loss {number(record.val_loss)}  val accuracy {percent(record.val_accuracy)}  "
        )
    return (
        f"epoch {record.epoch:>{len(str(epochs))}}/{epochs}  "
        f"train loss {number(record.train_loss)}  {validation}"
        f"test loss {number(record.test_loss)}  "
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
    table.add_row("test loss", number(result.final.test_loss))
    if len(result.history) > 1:
        loss = [row.test_loss for row in result.history]
        accuracy = [row.test_accuracy for row in result.history]
        table.add_row("accuracy by epoch", _trend(accuracy, percent))
        table.add_row("test loss by epoch", _trend(loss, number))
    if result.final.val_accuracy is not None:
        table.add_row("val accuracy", percent(result.final.val_accuracy))
        table.add_row("temperature", f"{result.temperature:.3f} (fitted on the validation split)")
    table.add_row("time", f"{result.seconds:.1f} s")
    table.add_row("checkpoint", shown(str(result.checkpoint)))
    output.out.print(table)


def info_report(output: Output, path: Path, checkpoint: Checkpoint, size: int) -> None:
    table = Table(title=shown(f"{path}"), show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("model", f"{checkpoint.model_name} ({checkpoint.parameters:,} parameters)")
    classes = len(checkpoint.class_names)
    table.add_row("dataset", f"{shown(checkpoint.dataset)} ({classes} classes)")
    table.add_row("epochs", str(len(checkpoint.history)))
    if checkpoint.final is not None:
        table.add_row("test accuracy", f"[bold green]{percent(checkpoint.final.test_accuracy)}[/]")
        table.add_row("test loss", number(checkpoint.final.test_loss))
    settings = ""
    if checkpoint.config is not None:
        settings = ", ".join(f"{k} {v}" for k, v in asdict(checkpoint.config).items())
    table.add_row("temperature", f"{checkpoint.temperature:.3f}")
    table.add_row("training", shown(settings) or "not recorded")
    table.add_row("torch", shown(checkpoint.torch_version) or "not recorded")
    table.add_row("created", shown(checkpoint.created) or "not recorded")
    table.add_row("size", f"{size:,} bytes")
    output.out.print(table)
