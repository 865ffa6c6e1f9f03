"""The validation split: training images held out of training (chosen by the run's seed), scored
after every epoch, and the data the temperature is fitted on. Every choice the tool makes from
data (today the temperature) looks here, never at the test set, which stays the reported figure.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mnist_cli.config import TrainConfig
from mnist_cli.data.catalog import Dataset
from mnist_cli.data.store import LabelledImages, normalise
from mnist_cli.errors import MnistError
from mnist_cli.evaluate.calibration import fit_temperature
from mnist_cli.evaluate.metrics import score
from mnist_cli.inference.torch_model import predict_logits

MAX_SHARE = 10  # at most one training image in MAX_SHARE is held out


def validation_size(requested: int, available: int) -> int:
    """How many images `--val-split requested` holds out of `available`: all it asks for, up
    to a tenth of them (a small dataset keeps most of its images to learn from)."""
    if requested < 0:
        raise MnistError("--val-split must be at least 0")
    return min(requested, available // MAX_SHARE)


def validation_indices(available: int, requested: int, seed: int) -> torch.Tensor:
    """The indices (into the training images) of the validation split: the same for the same
    seed, size and request, on any machine (drawn on the CPU from its own generator)."""
    order = torch.randperm(available, generator=torch.Generator().manual_seed(seed))
    return order[: validation_size(requested, available)].sort().values


def hold_out(
    split: LabelledImages, requested: int, seed: int
) -> tuple[LabelledImages, LabelledImages | None]:
    """(the images to train on, the validation split or None): two disjoint parts of `split`."""
    available = len(split.labels)
    held = validation_indices(available, requested, seed)
    if len(held) == 0:
        return split, None
    keep = torch.ones(available, dtype=torch.bool)
    keep[held] = False
    kept = keep.nonzero().flatten()
    device = split.labels.device
    held, kept = held.to(device), kept.to(device)
    return (
        LabelledImages(split.images[kept], split.labels[kept]),
        LabelledImages(split.images[held], split.labels[held]),
    )


def hold_out_validation(
    images: torch.Tensor, labels: torch.Tensor, config: TrainConfig, dataset: Dataset, device
) -> tuple[tuple[torch.Tensor, torch.Tensor], LabelledImages | None]:
    """For the training loop: (the training images and labels left to learn from, as loaded;
    the validation split `config` asks for, normalised on `device`, or None)."""
    kept, held = hold_out(LabelledImages(images, labels), config.val_split, config.seed)
    if held is None:
        return (kept.images, kept.labels), None
    inputs = normalise(held.images, dataset.mean, dataset.std, device)
    return (kept.images, kept.labels), LabelledImages(inputs, held.labels.to(device))


@dataclass(frozen=True)
class Validation:
    """An epoch's scores on the validation split, and the temperature fitted on it."""

    loss: float | None = None  # mean cross-entropy of the plain logits; None: no split
    accuracy: float | None = None
    temperature: float = 1.0


def validate(model: nn.Module, split: LabelledImages | None, num_classes: int) -> Validation:
    """Score `model` on the validation split and fit its temperature there."""
    if split is None:
        return Validation()
    logits = predict_logits(model, split.images).float()
    metrics = score(logits, split.labels, num_classes)
    return Validation(metrics.loss, metrics.accuracy, fit_temperature(logits, split.labels))
