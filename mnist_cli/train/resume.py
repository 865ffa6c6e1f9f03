"""Resuming a run: what a checkpoint keeps to continue training exactly where it stopped, and
which flags `mnist train --resume` may change.

The state is generic (optimizer.state_dict(), scheduler.state_dict(), generator states, the
position in the epoch), so it survives changes to the model, the optimiser or the loop.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mnist_cli.checkpoint.read import Checkpoint, load_checkpoint
from mnist_cli.config import DEFAULT_DATA_DIR, TrainConfig
from mnist_cli.errors import CheckpointError, MnistError

# What --resume may change: how long the run goes on, and how it uses the machine (which changes
# nothing but rounding). Anything else (model, dataset, batch size, optimiser, lr, schedule,
# augmentation, label smoothing, seed...) would make it another run.
RESUMABLE = frozenset({"epochs", "device", "threads", "precision", "compile"})


@dataclass
class EpochProgress:
    """Where the epoch in progress stands: its batch order, the steps done, the summed loss, and
    where its augmentation's random numbers came from."""

    permutation: torch.Tensor  # the order of the training images in this epoch (on the CPU)
    step: int = 0  # optimiser steps done in this epoch
    loss_sum: float = 0.0  # summed training loss of those steps
    noise_state: torch.Tensor | None = None  # the generator's state before the epoch's draw of
    # augmentation numbers (steps.epoch_uniform); None in older checkpoints


def capture(
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    generator: torch.Generator,
    progress: EpochProgress | None,
) -> dict[str, Any]:
    """The state that, with the model's weights and the history, continues the run exactly."""
    cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    return {
        "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(),
        "generator": generator.get_state(),  # the loop's one random source
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if cuda else [],
        "epoch_progress": None if progress is None else dataclasses.asdict(progress),
    }


def restore(
    state: dict[str, Any],
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    generator: torch.Generator,
) -> EpochProgress | None:
    """Put back what `capture` saved; a state that does not fit raises a ValueError."""
    try:
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        cuda_states = state["cuda_rng"]
        if cuda_states and torch.cuda.is_available():
            if len(cuda_states) != torch.cuda.device_count():
                raise ValueError("saved on a machine with another number of GPUs")
            torch.cuda.set_rng_state_all(cuda_states)
        progress = state["epoch_progress"]
        return None if progress is None else EpochProgress(**progress)
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as error:
        raise ValueError(str(error).strip().splitlines()[0][:120] if str(error) else "") from None


def check_progress(progress: EpochProgress | None, count: int, batch_size: int) -> None:
    """The epoch in progress fits the data: its batch order is a permutation of the `count`
    training images, its step within the epoch, its loss a number; else a ValueError."""
    if progress is None:
        return
    order = progress.permutation
    if not (
        isinstance(order, torch.Tensor)
        and order.dtype == torch.int64
        and tuple(order.shape) == (count,)
        and torch.equal(order.sort().values, torch.arange(count))
    ):
        raise ValueError("the batch order of the epoch in progress does not fit the data")
    if type(progress.step) is not int or not 0 <= progress.step < math.ceil(count / batch_size):
        raise ValueError(f"step {progress.step!r} is not a step of the epoch in progress")
    if not isinstance(progress.loss_sum, float) or not math.isfinite(progress.loss_sum):
        raise ValueError("the loss of the epoch in progress is not a number")
    noise_state = getattr(progress, "noise_state", None)
    if noise_state is not None:
        try:
            torch.Generator().set_state(noise_state)
        except (TypeError, RuntimeError):
            raise ValueError("the random state of the epoch in progress does not fit") from None


def resumed_run(path: Path, given: dict[str, Any]) -> tuple[TrainConfig, Checkpoint]:
    """The configuration to continue the run saved at `path`, given the flags the user passed
    (`given`: field name -> value). A flag that would change the run is refused."""
    loaded = load_checkpoint(path)
    if loaded.training is None:
        raise CheckpointError(f"{path} holds no training state to resume from")
    saved = loaded.config
    if saved is None:
        raise CheckpointError(
            f"{path} was written by another version of mnist: its run cannot be resumed"
        )
    for name, value in given.items():
        if name not in RESUMABLE and getattr(saved, name) != value:
            flag = "--" + name.replace("_", "-")
            raise MnistError(
                f"{flag} {value} would change the run saved in {path} ({flag} "
                f"{getattr(saved, name)}): drop the flag to resume it, or start a new run "
                "with another --checkpoint"
            )
    config = dataclasses.replace(saved, **{k: v for k, v in given.items() if k in RESUMABLE})
    _check_length(config, saved, len(loaded.history), path)
    return config, loaded


def _check_length(config: TrainConfig, saved: TrainConfig, done: int, path: Path) -> None:
    if config.epochs != saved.epochs and saved.schedule != "constant":
        raise MnistError(
            f"the {saved.schedule} schedule of {path} was planned for {saved.epochs} epochs: "
            "--epochs can extend only runs with --schedule constant"
        )
    if config.epochs <= done:  # (a run stopped inside epoch done + 1 needs at least that many)
        raise MnistError(
            f"{path} already holds {done} epochs of {saved.epochs}: nothing to resume"
            + (" (give a larger --epochs to go on)" if saved.schedule == "constant" else "")
        )


def resume_command(checkpoint: Path, data_dir: Path, processes: int = 1) -> str:
    """The command that continues an interrupted run (of `processes` ranks)."""
    command = f"mnist train --resume --checkpoint {checkpoint}"
    if processes > 1:
        command += f" --nproc {processes}"
    if Path(data_dir) != DEFAULT_DATA_DIR:
        command += f" --data-dir {data_dir}"
    return command
