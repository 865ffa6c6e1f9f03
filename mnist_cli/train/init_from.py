"""`mnist train --init-from CKPT`: a new run that starts from a checkpoint's weights. Only the
weights are taken: the optimiser, the schedule, the history and the batch order start afresh.
The checkpoint must hold the same model (and width) for the same dataset, or the run is refused
with a line naming what differs."""

from __future__ import annotations

from pathlib import Path

import torch

from mnist_cli.checkpoint.read import Checkpoint, load_checkpoint
from mnist_cli.config import TrainConfig
from mnist_cli.data.catalog import Dataset
from mnist_cli.errors import MnistError


def initial_weights(config: TrainConfig, dataset: Dataset) -> dict[str, torch.Tensor] | None:
    """The weights `config.init_from` names, checked against the run; None without one."""
    if config.init_from is None:
        return None
    path = Path(config.init_from)
    loaded = load_checkpoint(path)  # the one safe loader: tensors only, its SHA-256 checked
    mismatch = _mismatch(loaded, config, dataset)
    if mismatch:
        raise MnistError(f"--init-from {path}: {mismatch}")
    return loaded.model.state_dict()


def _mismatch(loaded: Checkpoint, config: TrainConfig, dataset: Dataset) -> str | None:
    """What keeps `loaded`'s weights from starting this run, in a user's words; None if they fit."""
    if loaded.dataset != dataset.name:
        return (
            f"it was trained on {loaded.dataset}, this run trains on {dataset.name}:"
            f" give --dataset {loaded.dataset}"
        )
    if loaded.model_name != config.model:
        return (
            f"it holds a {loaded.model_name}, this run trains a {config.model}:"
            f" give --model {loaded.model_name}"
        )
    if len(loaded.class_names) != len(dataset.class_names):
        classes = len(dataset.class_names)
        return f"it has {len(loaded.class_names)} classes, {dataset.name} has {classes}"
    width = config.model_kwargs().get("width")
    if width is not None:
        theirs = loaded.model.state_dict()["0.weight"].shape[0]  # the first conv's channels
        if theirs != width:
            return f"its cnn has width {theirs}, this run's has {width}: give --width {theirs}"
    return None
