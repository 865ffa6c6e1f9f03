"""What `mnist predict` shows a person: a table of answers with confidence bars, or, with
--show, each 28x28 input the model saw drawn in half blocks beside its answer."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from mnist_cli.cli.output import Output, shown
from mnist_cli.cli.report import probability

if TYPE_CHECKING:
    import numpy as np

    from mnist_cli.predict.pipeline import Prediction


def confidence_bar(fraction: float, width: int = 10) -> str:
    """A bar of `width` cells in eighths of a cell, then the percentage (an empty bar and n/a
    where the model's answer is not a number)."""
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8) if math.isfinite(fraction) else 0
    full, part = divmod(eighths, 8)
    bar = "█" * full + (" ▏▎▍▌▋▊▉"[part] if part else "")
    return f"{bar:░<{width}} {probability(fraction):>7}"


def _others(prediction: Prediction) -> str:
    return ", ".join(
        f"{guess.prediction} {probability(guess.probability)}" for guess in prediction.top_k[1:]
    )


def _without_file(prediction: Prediction) -> str:
    """The error, without the file name that starts it: the row already shows it."""
    prefix = f"{prediction.file}: "
    message = prediction.error or ""
    return message[len(prefix) :] if message.startswith(prefix) else message


def prediction_table(
    output: Output, predictions: list[Prediction], noun: str = "digit", title: str | None = None
) -> None:
    table = Table(title=shown(title) if title else None)
    table.add_column("file", overflow="fold")
    table.add_column(noun, justify="right", style="bold")
    table.add_column("name")
    table.add_column("confidence", no_wrap=True)
    table.add_column("next guesses")
    for prediction in predictions:
        if prediction.error:
            error = f"[red]{shown(_without_file(prediction))}[/]"
            table.add_row(shown(prediction.file), "[red]-[/]", error, "", "")
            continue
        best = prediction.best
        table.add_row(
            shown(prediction.file),
            str(best.prediction),
            shown(best.label),
            confidence_bar(best.probability),
            _others(prediction),
        )
    output.out.print(table)


def _picture(pixels: np.ndarray, colour: bool) -> Text:
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


def show_predictions(output: Output, predictions: list[Prediction], to_stderr: bool) -> None:
    """Each image the model saw, beside what it made of it."""
    console = output.err if to_stderr else output.out
    colour = console.color_system is not None
    for prediction in predictions:
        if prediction.error or prediction.pixels is None:
            continue
        best = prediction.best
        words = Text.from_markup(
            f"[bold]{shown(prediction.file)}[/]\n\n"
            f"digit [bold]{best.prediction}[/] ({shown(best.label)})\n"
            f"{confidence_bar(best.probability)}\n"
        )
        for guess in prediction.top_k[1:]:
            words.append(f"then {guess.prediction}  {probability(guess.probability)}\n")
        grid = Table.grid(padding=(0, 2))
        grid.add_row(Panel(_picture(prediction.pixels, colour), expand=False, padding=0), words)
        console.print(grid)
