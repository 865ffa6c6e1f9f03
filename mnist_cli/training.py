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
from mnist_cli.checkpoint import (
    LoadedCheckpoint,
    make_checkpoint,
    prepare_checkpoint_path,
    save_checkpoint,
)
from mnist_cli.config import TrainConfig
from mnist_cli.datasets import Dataset, get_dataset
from mnist_cli.devices import resolve_device
from mnist_cli.errors import CheckpointError, Interrupted, MnistError
from mnist_cli.evaluation import evaluate, load_inputs
from mnist_cli.models import build_model
from mnist_cli.resume import EpochProgress, capture, restore, resume_command
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


def _train_epoch(
    net, optimizer, schedule, data, order, config, runtime, on_step, progress=None, stop=None
) -> float | None:
    """One pass over the data in a random order, or the rest of the pass `progress` holds;
    returns the mean training loss, or None if `stop()` asked to stop early (`progress` then
    says where)."""
    inputs, labels, background = data
    if progress is None:
        progress = EpochProgress(torch.randperm(len(inputs), generator=order))
    net.train()
    batch_size = config.batch_size
    steps = math.ceil(len(inputs) / batch_size)
    permutation = progress.permutation.to(inputs.device)
    # Summed on the device: no sync per step.
    loss_sum = torch.tensor(progress.loss_sum, dtype=torch.float32, device=inputs.device)
    try:
        for step in range(progress.step, steps):
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
            progress.step = done = step + 1
            if on_step and (done % REPORT_EVERY == 0 or done == steps):
                on_step(done, steps, loss=loss_sum.item() / done)
            if done < steps and stop and stop():
                return None
        return loss_sum.item() / steps
    finally:
        progress.loss_sum = loss_sum.item()


def runtime_for(config: TrainConfig) -> Runtime:
    """The machine settings of a run, applied to this process."""
    runtime = plan_runtime(
        resolve_device(config.device), config.threads, config.precision, compile=config.compile
    )
    apply_runtime(runtime)
    return runtime


@dataclass
class _Run:
    """Everything one run carries from epoch to epoch."""

    config: TrainConfig
    runtime: Runtime
    dataset: Dataset
    model: nn.Module  # what is saved
    net: nn.Module  # what runs: `model`, maybe compiled
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    generator: torch.Generator  # the loop's one random source: batch order and augmentation
    history: list[EpochRecord]
    progress: EpochProgress | None  # the epoch in progress, if the run stopped inside one


def _start(config: TrainConfig, runtime: Runtime, dataset, train_count: int, resume) -> _Run:
    torch.manual_seed(config.seed)
    model = build_model(config.model, num_classes=len(dataset.class_names))
    net = prepare_model(model, runtime)
    optimizer = make_optimizer(config, model)
    steps_per_epoch = math.ceil(train_count / config.batch_size)
    schedule = make_schedule(config, optimizer, config.epochs * steps_per_epoch)
    generator = torch.Generator().manual_seed(config.seed)
    run = _Run(config, runtime, dataset, model, net, optimizer, schedule, generator, [], None)
    if resume is not None:
        try:
            model.load_state_dict(resume.model.state_dict())
            run.history = [EpochRecord(**row) for row in resume.history]
            run.progress = restore(resume.training, optimizer, schedule, generator)
        except (TypeError, ValueError) as why:
            raise CheckpointError(
                f"not a valid mnist checkpoint: its training state does not fit ({why})"
            ) from None
    return run


def _save(run: _Run, path: Path) -> None:
    training = capture(run.optimizer, run.schedule, run.generator, run.progress)
    checkpoint = make_checkpoint(
        run.model, run.config.model, {"num_classes": len(run.dataset.class_names)},
        run.dataset.name, list(run.dataset.class_names), run.dataset.mean, run.dataset.std,
        asdict(run.config), [asdict(row) for row in run.history], training,
    )  # fmt: skip
    save_checkpoint(checkpoint, path)


def train(
    config: TrainConfig,
    data_dir: Path,
    checkpoint_path: Path,
    on_step: StepFn | None = None,
    on_epoch: EpochFn | None = None,
    should_stop: Callable[[], bool] | None = None,
    resume: LoadedCheckpoint | None = None,
) -> TrainResult:
    """Train as `config` says, saving `checkpoint_path` after every epoch, or go on with the run
    that `resume` holds. When `should_stop()` turns true, the step in progress finishes, the
    checkpoint is saved, and Interrupted is raised."""
    started = time.perf_counter()
    _check(config)
    prepare_checkpoint_path(checkpoint_path)
    runtime = runtime_for(config)
    dataset = get_dataset(config.dataset)
    mean, std = dataset.mean, dataset.std
    train_inputs, train_labels = load_inputs(dataset, data_dir, "train", mean, std, runtime.device)
    test_data = load_inputs(dataset, data_dir, "test", mean, std, runtime.device)
    train_data = (prepare_inputs(train_inputs, runtime), train_labels, -mean / std)
    run = _start(config, runtime, dataset, len(train_inputs), resume)
    try:
        _run_epochs(run, train_data, test_data, Path(checkpoint_path), on_step, on_epoch,
                    should_stop or (lambda: False))  # fmt: skip
    except KeyboardInterrupt:
        kept = (
            f"{checkpoint_path} holds epoch {run.history[-1].epoch}; continue with "
            f"`{resume_command(checkpoint_path, data_dir)}`"
            if run.history
            else "no epoch had finished, so nothing was saved"
        )
        raise Interrupted(f"interrupted during epoch {len(run.history) + 1}: {kept}") from None
    except _Stopped as stopped:
        raise Interrupted(
            f"stopped {stopped}: saved to {checkpoint_path}; continue with "
            f"`{resume_command(checkpoint_path, data_dir)}`"
        ) from None
    return TrainResult(
        history=run.history,
        checkpoint=Path(checkpoint_path),
        device=str(runtime.device),
        threads=runtime.threads,
        parameters=sum(p.numel() for p in run.model.parameters()),
        seconds=time.perf_counter() - started,
    )


class _Stopped(Exception):
    """should_stop() turned true; the message says where the run stopped."""


def _run_epochs(run: _Run, train_data, test_data, path, on_step, on_epoch, stop) -> None:
    config = run.config
    steps = math.ceil(len(train_data[0]) / config.batch_size)
    stopwatch = Stopwatch(run.runtime.device)
    # ckpt.pt -> ckpt.jsonl, a line per epoch; a resumed run goes on with its record.
    record = RunRecord(path, fresh=not run.history)
    for epoch in range(len(run.history) + 1, config.epochs + 1):
        epoch_started = time.perf_counter()
        if run.progress is None:
            run.progress = EpochProgress(
                torch.randperm(len(train_data[0]), generator=run.generator)
            )
        stopwatch.start()
        train_loss = _train_epoch(
            run.net, run.optimizer, run.schedule, train_data, run.generator, config, run.runtime,
            on_step, run.progress, stop,
        )  # fmt: skip
        if train_loss is None:
            _save(run, path)
            raise _Stopped(f"in epoch {epoch} after step {run.progress.step} of {steps}")
        train_seconds = stopwatch.seconds()
        run.progress = None
        if not math.isfinite(train_loss):
            raise MnistError(
                f"training diverged in epoch {epoch} (loss is {train_loss}): try a lower --lr"
            )
        metrics = evaluate(run.net, *test_data, len(run.dataset.class_names))
        run.history.append(
            EpochRecord(
                epoch=epoch,
                train_loss=train_loss,
                test_loss=metrics.loss,
                test_accuracy=metrics.accuracy,
                lr=run.optimizer.param_groups[0]["lr"],
                seconds=time.perf_counter() - epoch_started,
                train_seconds=train_seconds,
            )
        )
        _save(run, path)
        record.append(asdict(run.history[-1]))
        if on_epoch:
            on_epoch(run.history[-1])
        if stop() and epoch < config.epochs:
            raise _Stopped(f"at the end of epoch {epoch}")
