"""The optimiser steps of an epoch, written so the host never waits for the device: the split
stays uint8 on the device and each batch is gathered, normalised and augmented there, from random
numbers drawn once per epoch; the loss is summed on the device and read back only when a progress
report is due (`ProgressGate`). The same code runs on the CPU, where the tests live; on CUDA the
full batches are replayed as one graph (graphs.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mnist_cli.data.store import normalise
from mnist_cli.train.augment import NOISE_COLUMNS, Augmentation, augment_with
from mnist_cli.train.graphs import Graphed
from mnist_cli.train.resume import EpochProgress
from mnist_cli.train.runtime import Runtime, autocast, in_layout

PROGRESS_SECONDS = 0.25  # at most four progress reports a second: each reads the loss back


@dataclass(frozen=True)
class TrainData:
    """The training split as the loop uses it: uint8 on the device (47 MB for MNIST, a quarter of
    it as floats), normalised a batch at a time."""

    images: torch.Tensor  # uint8 [N, 28, 28], on the device
    labels: torch.Tensor  # [N], on the device
    mean: float  # the dataset's normalisation
    std: float
    augmentation: Augmentation = Augmentation()  # what `batch` does with the random numbers

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def background(self) -> float:
        """The normalised value of a blank pixel: what augmentation fills with."""
        return -self.mean / self.std

    def batch(
        self, index: torch.Tensor, uniform: torch.Tensor | None, runtime: Runtime
    ) -> torch.Tensor:
        """The images at `index`, normalised, moved by the random numbers `uniform` (None: left as
        they are), in the run's memory layout. index_select, never a mask: no read-back."""
        inputs = normalise(torch.index_select(self.images, 0, index), self.mean, self.std)
        if uniform is not None:
            inputs = augment_with(inputs, self.background, uniform, self.augmentation)
        return in_layout(inputs, runtime)


def _uniform(count: int, generator: torch.Generator, columns: int) -> torch.Tensor:
    return torch.rand(count, columns, generator=generator) * 2 - 1


def epoch_uniform(
    progress: EpochProgress,
    generator: torch.Generator,
    count: int,
    batch_size: int,
    columns: int = NOISE_COLUMNS,
) -> torch.Tensor:
    """The augmentation's random numbers for every image of the epoch, row i for the epoch's i-th
    image, drawn on the CPU in one go: the same numbers that a draw per batch gave, so a seed
    repeats earlier versions' runs. The generator's state before the draw is kept in `progress`,
    so a run stopped inside the epoch draws the same numbers when resumed."""
    if progress.noise_state is not None:
        noise = torch.Generator().manual_seed(0).set_state(progress.noise_state)
        return _uniform(count, noise, columns)
    if progress.step == 0:
        progress.noise_state = generator.get_state()
        return _uniform(count, generator, columns)
    # Stopped inside an epoch by an earlier version, which drew a batch's numbers at each step:
    # the generator stands where the steps done left it.
    done = min(count, progress.step * batch_size)
    return torch.cat([torch.zeros(done, columns), _uniform(count - done, generator, columns)])


class ProgressGate:
    """When a progress report is due: at the end of the epoch, and otherwise at most once every
    `seconds` by `clock`. A report reads the loss back, which waits for every queued step."""

    def __init__(self, seconds: float = PROGRESS_SECONDS, clock: Callable[[], float] | None = None):
        self.seconds = seconds
        self.clock = clock or time.monotonic
        self.last = self.clock()

    def due(self, done: int, total: int) -> bool:
        now = self.clock()
        if done < total and now - self.last < self.seconds:
            return False
        self.last = now
        return True


@dataclass(frozen=True)
class StepParts:
    """What a step works with."""

    net: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    runtime: Runtime
    label_smoothing: float
    batch_size: int


class Stepper:
    """Runs optimiser steps and sums their loss on the device (`loss_sum`, read by the caller when
    it must). On CUDA with graphs on, full batches go through `Graphed`; the rest run eagerly."""

    def __init__(self, parts: StepParts, data: TrainData, augment: bool, graph=None):
        """`graph`: the graph backend (graphs.CudaGraph), or None to run every step eagerly."""
        self.parts = parts
        self.data = data
        device = data.labels.device
        self.loss_sum = torch.zeros((), dtype=torch.float32, device=device)
        self.graphed = None
        if graph is not None:
            columns = data.augmentation.columns if augment else None
            self.graphed = Graphed(
                self.forward_backward, parts.optimizer, parts.batch_size, columns, device, graph
            )

    def start_epoch(self, loss_sum: float) -> None:
        self.loss_sum.fill_(loss_sum)  # in place: a captured graph adds into this tensor

    def forward_backward(self, index: torch.Tensor, uniform: torch.Tensor | None) -> None:
        """Gradients of the loss on one batch, and its loss added to `loss_sum`."""
        parts = self.parts
        inputs = self.data.batch(index, uniform, parts.runtime)
        with autocast(parts.runtime, cache=self.graphed is None):
            logits = parts.net(inputs).float()
        labels = torch.index_select(self.data.labels, 0, index)
        loss = F.cross_entropy(logits, labels, label_smoothing=parts.label_smoothing)
        loss.backward()
        self.loss_sum += loss.detach()

    def step(self, index: torch.Tensor, uniform: torch.Tensor | None) -> None:
        """One optimiser step on the images at `index`."""
        parts = self.parts
        if self.graphed is not None and len(index) == parts.batch_size:
            self.graphed.forward_backward(index, uniform)
        else:
            # Once captured, the graph writes into the gradients' buffers: zero them in place.
            captured = self.graphed is not None and self.graphed.captured
            parts.optimizer.zero_grad(set_to_none=not captured)
            self.forward_backward(index, uniform)
        parts.optimizer.step()
        parts.schedule.step()
