"""The evaluate report for a person: accuracy with its confidence interval, calibration, a
per-class table, the confusion matrix with its large off-diagonal counts highlighted, the most
confused pairs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from mnist_cli.cli.output import Output, shown
from mnist_cli.cli.report import number, percent
from mnist_cli.evaluate.metrics import ClassScore, Metrics, most_confused

if TYPE_CHECKING:
    from mnist_cli.data.catalog import Dataset
    from mnist_cli.evaluate.scoring import Evaluation
    from mnist_cli.inference.card import Classifier

CONFUSED_PAIRS = 5  # pairs listed under the matrix


def evaluation_report(
    output: Output,
    paths: list[Path],
    checkpoints: list[Classifier],
    evaluation: Evaluation,
    dataset: Dataset | None,
) -> None:
    """`dataset`: the registry entry of the checkpoints' dataset (None if this version lacks
    it); it names the test set and what a class is ("digit", "article", "character")."""
    noun = dataset.class_noun if dataset else "class"
    test_set = f"the {dataset.title} test set" if dataset else "the test set"
    metrics = evaluation.metrics
    members = [f"{path} ({c.model_name})" for path, c in zip(paths, checkpoints, strict=True)]
    what = members[0] if len(members) == 1 else "ensemble of " + ", ".join(members)
    output.out.print(_summary(f"{what} on {test_set}", metrics))
    output.out.print(_calibration(checkpoints, evaluation))
    output.out.print(_per_class(checkpoints[0].class_names, metrics.per_class, noun))
    output.out.print(confusion_table(metrics.confusion, noun))
    pairs = most_confused(metrics.confusion, CONFUSED_PAIRS)
    if pairs:
        output.out.print("[bold]most confused[/]")
        for pair in pairs:
            times = "time" if pair.count == 1 else "times"
            output.out.print(f"  {pair.true} read as {pair.predicted}: {pair.count} {times}")


def _summary(title: str, metrics: Metrics) -> Table:
    table = Table(title=shown(title), show_header=False)
    table.add_column(style="bold")
    table.add_column()
    low, high = metrics.accuracy_interval
    table.add_row(
        "accuracy",
        f"[bold green]{percent(metrics.accuracy)}[/]"
        f"  (95% CI {percent(low)} to {percent(high)}, Wilson)",
    )
    table.add_row("correct", f"{metrics.correct:,} of {metrics.count:,}")
    return table


def _calibration(checkpoints: list[Classifier], evaluation: Evaluation) -> Table:
    """How far the probabilities shown are from how often they are right."""
    figures = evaluation.calibration
    table = Table(title="calibration")
    table.add_column("probabilities")
    table.add_column("ECE (15 bins)", justify="right")
    table.add_column("NLL", justify="right")
    temperatures = ", ".join(f"{c.temperature:.3f}" for c in checkpoints)
    name = "temperature" + ("s" if len(checkpoints) > 1 else "")
    table.add_row(f"shown: {name} {temperatures}", percent(figures.ece), number(figures.nll))
    table.add_row("plain softmax", percent(figures.ece_before), number(figures.nll_before))
    return table


def _per_class(class_names: list[str], scores: list[ClassScore], noun: str = "digit") -> Table:
    table = Table(title=f"per {noun}", show_footer=True)
    table.add_column(noun, justify="right")
    table.add_column("name", footer="mean")
    for column, field in (("precision", "precision"), ("recall", "recall"), ("F1", "f1")):
        mean = sum(getattr(score, field) for score in scores) / len(scores)
        table.add_column(column, justify="right", footer=percent(mean))
    table.add_column("support", justify="right", footer=f"{sum(s.support for s in scores):,}")
    for index, (name, score) in enumerate(zip(class_names, scores, strict=True)):
        table.add_row(
            str(index),
            shown(name),
            percent(score.precision),
            percent(score.recall),
            percent(score.f1),
            f"{score.support:,}",
        )
    return table


def _cell(count: int, largest: int, diagonal: bool) -> Text:
    """A count styled by what it means: the diagonal is right; off it, the larger the count
    the louder (bold marks the largest, so it still shows without colour)."""
    if diagonal:
        return Text(f"{count:,}", style="green")
    if count == 0:
        return Text("·", style="dim")
    share = count / largest
    style = "bold red" if share >= 0.5 else "yellow" if share >= 0.2 else ""
    return Text(f"{count:,}", style=style)


def confusion_table(confusion: list[list[int]], noun: str = "digit") -> Table:
    """Rows are the true classes, columns what the model read."""
    size = len(confusion)
    largest = max((confusion[i][j] for i in range(size) for j in range(size) if i != j), default=0)
    table = Table(title=f"confusion matrix (rows: true {noun}, columns: predicted)")
    table.add_column("true", justify="right", style="bold")
    for column in range(size):
        table.add_column(str(column), justify="right")
    for row in range(size):
        cells = [_cell(confusion[row][col], largest, row == col) for col in range(size)]
        table.add_row(str(row), *cells)
    return table
