"""Learning curves as an image, with matplotlib: an optional extra
(`pip install 'mnist-cli[plot]'`), imported only when a plot is asked for."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mnist_cli.errors import MnistError, OutputError

if TYPE_CHECKING:
    from mnist_cli.train.record import EpochRecord

FORMATS = (".png", ".svg", ".pdf")
MISSING = "--plot needs matplotlib, which is not installed: pip install 'mnist-cli[plot]'"


def check_plot(path: Path) -> None:
    """Before training starts: matplotlib is there and `path` can be a plot."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise MnistError(f"--plot {path}: give a file name ending in {', '.join(FORMATS)}")
    if not path.parent.is_dir():
        raise MnistError(f"--plot {path}: folder {path.parent} does not exist")
    _pyplot()


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: no window, no display needed
        import matplotlib.pyplot as pyplot
    except ImportError:
        raise MnistError(MISSING) from None
    return pyplot


def plot_history(history: list[EpochRecord], path: Path) -> None:
    """Loss (train and test) and test accuracy per epoch, side by side."""
    pyplot = _pyplot()
    epochs = [row.epoch for row in history]
    figure, (loss_axes, accuracy_axes) = pyplot.subplots(1, 2, figsize=(10, 4))
    try:
        loss_axes.plot(epochs, [row.train_loss for row in history], "o-", label="train")
        loss_axes.plot(epochs, [row.test_loss for row in history], "o-", label="test")
        loss_axes.set(title="loss", xlabel="epoch", ylabel="cross-entropy")
        loss_axes.legend()
        accuracy = [100 * row.test_accuracy for row in history]
        accuracy_axes.plot(epochs, accuracy, "o-", color="tab:green")
        accuracy_axes.set(title="test accuracy", xlabel="epoch", ylabel="%")
        for axes in (loss_axes, accuracy_axes):
            axes.grid(alpha=0.3)
            axes.xaxis.get_major_locator().set_params(integer=True)
        figure.tight_layout()
        figure.savefig(path, dpi=120)
    except (OSError, ValueError) as error:
        raise OutputError(f"cannot write the plot {path}: {error}") from None
    finally:
        pyplot.close(figure)
