"""Pictures drawn with matplotlib: the learning curves (`train --plot`) and the reliability
diagram (`evaluate --reliability`), marked and written as every picture of ours is (pictures.py):
never over anything but a picture mnist drew. An optional extra (`pip install 'mnist-cli[plot]'`),
imported only when a plot is asked for."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from mnist_cli.errors import MnistError, OutputError
from mnist_cli.pictures import PICTURES, check_picture_path, savefig_metadata, write_picture

if TYPE_CHECKING:
    from mnist_cli.checkpoint.format import EpochRecord
    from mnist_cli.evaluate.calibration import Calibration

FORMATS = (".png", ".svg", ".pdf")
MISSING = "{option} needs matplotlib, which is not installed: pip install 'mnist-cli[plot]'"


def check_plot(path: Path, option: str = "--plot") -> None:
    """Before the work starts: `path` can be a plot, holds nothing but a picture mnist drew,
    and matplotlib is there."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise MnistError(f"{option} {path}: give a file name ending in {', '.join(FORMATS)}")
    check_picture_path(path, option)
    _pyplot(option)


def _pyplot(option: str = "--plot"):
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: no window, no display needed
        import matplotlib.pyplot as pyplot
    except ImportError:
        raise MnistError(MISSING.format(option=option)) from None
    return pyplot


@contextmanager
def _saved(pyplot, figure, path: Path, option: str) -> Iterator[None]:
    """Draw in the block, then write `figure` to `path`, marked as the picture of `option`;
    always close it."""
    image = io.BytesIO()  # written atomically: never through a planted link, never half
    image_format = Path(path).suffix.lower().lstrip(".")
    try:
        yield
        figure.tight_layout()
        metadata = savefig_metadata(image_format, option)
        figure.savefig(image, dpi=120, format=image_format, metadata=metadata)
    except (OSError, ValueError) as error:
        raise OutputError(f"cannot write {PICTURES[option].what} {path}: {error}") from None
    finally:
        pyplot.close(figure)
    write_picture(path, image.getbuffer(), option)


def plot_history(history: list[EpochRecord], path: Path) -> None:
    """Loss (train, validation and test) and accuracy (validation and test) per epoch, side by
    side; the validation curves where the run held a split out."""
    pyplot = _pyplot()
    epochs = [row.epoch for row in history]
    validated = [row for row in history if row.val_loss is not None]
    figure, (loss_axes, accuracy_axes) = pyplot.subplots(1, 2, figsize=(10, 4))
    with _saved(pyplot, figure, path, "--plot"):
        loss_axes.plot(epochs, [row.train_loss for row in history], "o-", label="train")
        if validated:
            val_epochs = [row.epoch for row in validated]
            val_loss = [row.val_loss for row in validated]
            loss_axes.plot(val_epochs, val_loss, "o-", label="validation")
            val_accuracy = [100 * row.val_accuracy for row in validated]
            accuracy_axes.plot(val_epochs, val_accuracy, "o-", label="validation")
        loss_axes.plot(epochs, [row.test_loss for row in history], "o-", label="test")
        loss_axes.set(title="loss", xlabel="epoch", ylabel="cross-entropy")
        loss_axes.legend()
        accuracy = [100 * row.test_accuracy for row in history]
        accuracy_axes.plot(epochs, accuracy, "o-", color="tab:green", label="test")
        accuracy_axes.set(title="accuracy", xlabel="epoch", ylabel="%")
        accuracy_axes.legend()
        for axes in (loss_axes, accuracy_axes):
            axes.grid(alpha=0.3)
            axes.xaxis.get_major_locator().set_params(integer=True)


def plot_reliability(calibration: Calibration, title: str, path: Path) -> None:
    """The reliability diagram: accuracy against confidence in each bin (a calibrated model
    keeps to the diagonal), with and without the temperature, and how many images fall in
    each bin."""
    pyplot = _pyplot("--reliability")
    figure, (bars, counts) = pyplot.subplots(
        2, 1, figsize=(6, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    with _saved(pyplot, figure, path, "--reliability"):
        width = calibration.bins[0].high - calibration.bins[0].low
        for bins, label, style in (
            (
                calibration.bins,
                f"calibrated (ECE {100 * calibration.ece:.2f}%)",
                {"color": "tab:blue", "edgecolor": "black"},
            ),
            (
                calibration.bins_before,
                f"plain softmax (ECE {100 * calibration.ece_before:.2f}%)",
                {"fill": False, "edgecolor": "tab:red", "linewidth": 2},
            ),
        ):
            shown = [b for b in bins if b.count]
            bars.bar(
                [b.low for b in shown],
                [b.accuracy for b in shown],
                width=width,
                align="edge",
                label=label,
                **style,
            )
        bars.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
        bars.set(title=title, ylabel="accuracy", xlim=(0, 1), ylim=(0, 1))
        bars.legend(loc="upper left")
        counts.bar(
            [b.low for b in calibration.bins],
            [b.count for b in calibration.bins],
            width=width,
            align="edge",
            edgecolor="black",
            label="calibrated",
        )
        counts.set(xlabel="confidence (top probability)", ylabel="images", yscale="symlog")
