"""The optimiser and the learning-rate schedule a run's configuration names."""

from __future__ import annotations

import math

import torch
from torch import nn

from mnist_cli.config import TrainConfig
from mnist_cli.errors import MnistError


def make_optimizer(
    config: TrainConfig, model: nn.Module, fused: bool = False
) -> torch.optim.Optimizer:
    """AdamW with decoupled weight decay, or the exercise's plain gradient descent. `fused`: one
    kernel for the whole update instead of a few per parameter (the loop asks for it on CUDA,
    where each launch costs more than this model's arithmetic)."""
    if config.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=config.lr, fused=fused or None)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(
            model.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=fused or None
        )
    raise MnistError(f"unknown optimizer {config.optimizer!r}: choose adamw or sgd")


def one_cycle(step: int, total_steps: int, warmup: float = 0.2, start: float = 1 / 25) -> float:
    """The one-cycle factor of the peak rate at `step`: a linear warm-up from `start` over the
    first `warmup` of the run, then a cosine down to zero. Defined for any number of steps
    (torch's OneCycleLR divides by zero on some short runs)."""
    warmup_steps = max(1, round(warmup * total_steps))
    if step < warmup_steps:
        return start + (1 - start) * step / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def make_schedule(
    config: TrainConfig, optimizer: torch.optim.Optimizer, total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """The rate's factor per step: one-cycle over the whole run, or constant."""
    if config.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    if config.schedule == "onecycle":
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: one_cycle(step, total_steps)
        )
    raise MnistError(f"unknown schedule {config.schedule!r}: choose onecycle or constant")
