"""The training loop: the whole dataset as one tensor on the device, batched by slicing a random
permutation; a test pass, an atomic checkpoint and a line of the run record (ckpt.jsonl) after
every epoch. Never prints: progress goes through the `on_step` and `on_epoch` callbacks."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from mnist_cli.augment import augment
from mnist_cli.checkpoint import make_checkpoint, prepare_checkpoint_path, save_checkpoint
from mnist_cli.config import TrainConfig
from mnist_cli.datasets import get_dataset
from mnist_cli.devices import resolve_device
from mnist_cli.errors import Interrupted, MnistError
from mnist_cli.evaluation import evaluate, load_inputs
from mnist_cli.models import build_model
from mnist_cli.run_record import RunRecord
from mnist_cli.runtime import (
    Runtime,
    Stopwatch,
    apply_runtime,
    autocast,
    plan_runtime,
    prepare_inputs,
    prepare_model,
)

REPORT_EVERY = 20  # steps between loss read-backs (each one syncs with the device)


@dataclass(frozen=True)
class EpochRecord:
    """What one epoch achieved; a row of the history stored in the checkpoint."""

    epoch: int
    train_loss: float
    test_loss: float
    test_accuracy: float  # fraction in [0, 1]
    lr: float  # learning rate at the end of the epoch
    seconds: float  # training and test pass of this epoch
    train_seconds: float  # the training steps alone (timed with CUDA events on a GPU)


@dataclass(frozen=True)
class TrainResult:
    history: list[EpochRecord]
    checkpoint: Path
    device: str
    threads: int  # CPU threads torch used
    parameters: int
    seconds: float  # the whole run, data loading included

    @property
    def final(self) -> EpochRecord:
        return self.history[-1]


StepFn = Callable[..., None]  # on_step(done, total, loss=...)
EpochFn = Callable[[EpochRecord], None]


def make_optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=config.lr)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
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


def make_schedule(config: TrainConfig, optimizer, total_steps: int):
    if config.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    if config.schedule == "onecycle":
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: one_cycle(step, total_steps)
        )
    raise MnistError(f"unknown schedule {config.schedule!r}: choose onecycle or constant")


def _check(config: TrainConfig) -> None:
    if config.epochs < 1:
        raise MnistError("--epochs must be at least 1")
    if config.batch_size < 1:
        raise MnistError("--batch-size must be at least 1")
    if config.lr <= 0 or not math.isfinite(config.lr):
        raise MnistError("--lr must be a positive number")
    if not 0 <= config.label_smoothing < 1:
        raise MnistError("--label-smoothing must be at least 0 and below 1")


def _train_epoch(net, optimizer, schedule, data, order, config, runtime, on_step) -> float:
    """One pass over the data in a random order; returns the mean training loss."""
    inputs, labels, background = data
    net.train()
    count, batch_size = len(inputs), config.batch_size
    steps = math.ceil(count / batch_size)
    permutation = torch.randperm(count, generator=order).to(inputs.device)
    loss_sum = torch.zeros((), device=inputs.device)  # summed on the device: no sync per step
    for step in range(steps):
        batch = permutation[step * batch_size : (step + 1) * batch_size]
        images = inputs[batch]
        if config.augment:
            images = prepare_inputs(augment(images, background, order), runtime)
        with autocast(runtime):
            logits = net(images).float()
        loss = F.cross_entropy(logits, labels[batch], label_smoothing=config.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        loss_sum += loss.detach()
        done = step + 1
        if on_step and (done % REPORT_EVERY == 0 or done == steps):
            on_step(done, steps, loss=loss_sum.item() / done)
    return loss_sum.item() / steps


def runtime_for(config: TrainConfig) -> Runtime:
    """The machine settings of a run, applied to this process."""
    runtime = plan_runtime(
        resolve_device(config.device), config.threads, config.precision, compile=config.compile
    )
    apply_runtime(runtime)
    return runtime


def train(
    config: TrainConfig,
    data_dir: Path,
    checkpoint_path: Path,
    on_step: StepFn | None = None,
    on_epoch: EpochFn | None = None,
) -> TrainResult:
    """Train as `config` says, saving `checkpoint_path` after every epoch."""
    started = time.perf_counter()
    _check(config)
    prepare_checkpoint_path(checkpoint_path)
    runtime = runtime_for(config)
    device = runtime.device
    dataset = get_dataset(config.dataset)
    mean, std = dataset.mean, dataset.std
    train_inputs, train_labels = load_inputs(dataset, data_dir, "train", mean, std, device)
    test_inputs, test_labels = load_inputs(dataset, data_dir, "test", mean, std, device)
    num_classes = len(dataset.class_names)

    torch.manual_seed(config.seed)
    model_kwargs = {"num_classes": num_classes}
    model = build_model(config.model, **model_kwargs)
    net = prepare_model(model, runtime)  # what runs: maybe compiled; `model` is what is saved
    train_data = (prepare_inputs(train_inputs, runtime), train_labels, -mean / std)
    optimizer = make_optimizer(config, model)
    steps_per_epoch = math.ceil(len(train_inputs) / config.batch_size)
    schedule = make_schedule(config, optimizer, config.epochs * steps_per_epoch)
    order = torch.Generator().manual_seed(config.seed)

    history: list[EpochRecord] = []
    stopwatch = Stopwatch(device)
    record = RunRecord(checkpoint_path)  # ckpt.pt -> ckpt.jsonl, a line per epoch
    epoch = 0
    try:
        for epoch in range(1, config.epochs + 1):
            epoch_started = time.perf_counter()
            stopwatch.start()
            train_loss = _train_epoch(
                net, optimizer, schedule, train_data, order, config, runtime, on_step
            )
            train_seconds = stopwatch.seconds()
            if not math.isfinite(train_loss):
                raise MnistError(
                    f"training diverged in epoch {epoch} (loss is {train_loss}): try a lower --lr"
                )
            metrics = evaluate(net, test_inputs, test_labels, num_classes)
            history.append(
                EpochRecord(
                    epoch=epoch,
                    train_loss=train_loss,
                    test_loss=metrics.loss,
                    test_accuracy=metrics.accuracy,
                    lr=optimizer.param_groups[0]["lr"],
                    seconds=time.perf_counter() - epoch_started,
                    train_seconds=train_seconds,
                )
            )
            checkpoint = make_checkpoint(
                model, config.model, model_kwargs, dataset.name, list(dataset.class_names),
                dataset.mean, dataset.std, asdict(config), [asdict(row) for row in history],
            )  # fmt: skip
            save_checkpoint(checkpoint, checkpoint_path)
            record.append(asdict(history[-1]))
            if on_epoch:
                on_epoch(history[-1])
    except KeyboardInterrupt:
        kept = (
            f"{checkpoint_path} holds epoch {history[-1].epoch}"
            if history
            else "no epoch had finished, so nothing was saved"
        )
        raise Interrupted(f"interrupted during epoch {epoch}: {kept}") from None
    return TrainResult(
        history=history,
        checkpoint=Path(checkpoint_path),
        device=str(device),
        threads=runtime.threads,
        parameters=sum(p.numel() for p in model.parameters()),
        seconds=time.perf_counter() - started,
    )
