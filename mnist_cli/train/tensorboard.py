"""`mnist train --tensorboard DIR`: TensorBoard event files for a run: each epoch's losses,
accuracies, learning rate and seconds as scalars, the run's settings as text, and at the end the
picture of the surest mistakes on the test set. The tensorboard package is an optional extra
(`pip install 'mnist-cli[tensorboard]'`), checked before training starts."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from mnist_cli.errors import MnistError, OutputError

if TYPE_CHECKING:
    from mnist_cli.checkpoint.format import EpochRecord
    from mnist_cli.config import TrainConfig

MISSING = (
    "--tensorboard needs tensorboard, which is not installed: pip install 'mnist-cli[tensorboard]'"
)
GALLERY_SIZE = 40  # the surest mistakes drawn at the end


def check_tensorboard(folder: Path) -> None:
    """Before training: the tensorboard package is there and `folder` is (or can be) a folder."""
    if importlib.util.find_spec("tensorboard") is None:
        raise MnistError(MISSING)
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"--tensorboard {folder} is not a folder: give a folder name")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot write --tensorboard {folder}: {error.strerror}") from None


def scalars(record: EpochRecord) -> dict[str, float]:
    """The scalars an epoch adds, by tag; the validation ones where the run held a split out."""
    values = {
        "loss/train": record.train_loss,
        "loss/val": record.val_loss,
        "loss/test": record.test_loss,
        "accuracy/val": record.val_accuracy,
        "accuracy/test": record.test_accuracy,
        "lr": record.lr,
        "seconds": record.seconds,
    }
    return {tag: value for tag, value in values.items() if value is not None}


class TensorBoardLog:
    """One run's event file in `folder` (a new file, named by TensorBoard after the time, the
    host and the process: never one that was there before)."""

    def __init__(self, folder: Path, config: TrainConfig) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(folder))
        self._settings(config, 0)

    def _settings(self, config: TrainConfig, step: int) -> None:
        from mnist_cli.config_file import config_toml

        settings = config_toml(config, "the settings of this run (mnist train --config takes it)")
        # TensorBoard renders text as markdown: four spaces make it a code block.
        text = "".join(f"    {line}\n" for line in settings.splitlines())
        self.writer.add_text("config", text, step)
        self.writer.flush()

    def epoch(self, record: EpochRecord) -> None:
        for tag, value in scalars(record).items():
            self.writer.add_scalar(tag, value, record.epoch)
        self.writer.flush()

    def finish(self, config: TrainConfig, checkpoint: Path, data_dir: Path) -> None:
        """At the end of the run: its settings as it ran (the device's batch size and rate
        filled in), and the surest mistakes of the saved model on the test set, as an image."""
        import numpy as np

        from mnist_cli.checkpoint.read import load_checkpoint
        from mnist_cli.evaluate.gallery import gallery_image
        from mnist_cli.evaluate.scoring import evaluate_checkpoint

        loaded = load_checkpoint(checkpoint)
        self._settings(config, len(loaded.history))
        evaluation = evaluate_checkpoint(loaded, data_dir, GALLERY_SIZE)
        picture = np.asarray(gallery_image(evaluation.mistakes, evaluation.images))
        step = len(loaded.history)
        self.writer.add_image("mistakes", picture, step, dataformats="HWC")
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
