"""One training run's state from epoch to epoch: built from its config (or from a checkpoint to
resume), and saved as a pair, the checkpoint and its record (ckpt.jsonl). The loop (loop.py)
drives it."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from mnist_cli.checkpoint.format import EpochRecord
from mnist_cli.checkpoint.read import Checkpoint
from mnist_cli.checkpoint.write import make_checkpoint, save_checkpoint
from mnist_cli.config import TrainConfig
from mnist_cli.data.catalog import Dataset
from mnist_cli.errors import CheckpointError
from mnist_cli.models import build_model
from mnist_cli.train import distributed
from mnist_cli.train.cluster import Cluster
from mnist_cli.train.interrupts import signals_deferred
from mnist_cli.train.optim import make_optimizer, make_schedule
from mnist_cli.train.record import RunRecord
from mnist_cli.train.resume import EpochProgress, capture, check_progress, restore
from mnist_cli.train.runtime import Runtime, prepare_model
from mnist_cli.train.steps import Stepper

StepFn = Callable[..., None]  # on_step(done, total, loss=...)


@dataclass
class Run:
    """Everything one run carries from epoch to epoch."""

    config: TrainConfig
    runtime: Runtime
    dataset: Dataset
    model: nn.Module  # what is saved
    net: nn.Module  # what runs: `model`, maybe compiled
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    generator: torch.Generator  # the loop's one random source: batch order and augmentation
    on_step: StepFn | None = None
    cluster: Cluster = field(default_factory=Cluster)
    history: list[EpochRecord] = field(default_factory=list)
    progress: EpochProgress | None = None  # the epoch in progress, if it stopped inside one
    stepper: Stepper | None = None  # made at the first step, kept with its CUDA graph
    clock: Callable[[], float] | None = None  # for ProgressGate; None: time.monotonic
    temperature: float = 1.0  # fitted on the validation split after each epoch
    keep_old: bool = False  # a fresh run over an older checkpoint: it keeps its bytes until an
    # epoch of this run has finished (docs/checkpoints.md)


def start(
    config: TrainConfig,
    runtime: Runtime,
    dataset: Dataset,
    train_count: int,
    resume: Checkpoint | None,
    cluster: Cluster,
    *,
    initial: dict[str, torch.Tensor] | None = None,
) -> Run:
    """A run from its config: from `resume`'s state where given, else from `initial` weights
    (--init-from) with a fresh optimiser and schedule, else from random weights."""
    torch.manual_seed(config.seed)
    model = build_model(config.model, num_classes=len(dataset.class_names), **config.model_kwargs())
    if initial is not None and resume is None:
        model.load_state_dict(initial)
    model = distributed.sync_batch_norm(model, cluster, runtime)
    optimizer = make_optimizer(config, model, fused=runtime.device.type == "cuda")
    steps_per_epoch = math.ceil(train_count / config.batch_size)
    run = Run(
        config=config,
        runtime=runtime,
        dataset=dataset,
        model=model,
        net=distributed.wrap(prepare_model(model, runtime), cluster, runtime),
        optimizer=optimizer,
        schedule=make_schedule(config, optimizer, config.epochs * steps_per_epoch),
        generator=torch.Generator().manual_seed(config.seed),
        cluster=cluster,
    )
    if resume is not None:
        try:
            model.load_state_dict(resume.model.state_dict())
            run.history = list(resume.history)
            run.progress = restore(resume.training, run.optimizer, run.schedule, run.generator)
            run.temperature = resume.temperature
            check_progress(run.progress, train_count, config.batch_size)
        except (TypeError, ValueError) as why:
            raise CheckpointError(
                f"not a valid mnist checkpoint: its training state does not fit ({why})"
            ) from None
    return run


def weights_finite(run: Run) -> bool:
    """Whether every floating weight and buffer of the model is finite: a checkpoint of any
    other is refused by checkpoint/read.py, so it is never written. The same on every rank
    (DDP keeps their weights equal)."""
    return all(
        bool(torch.isfinite(value).all())
        for value in run.model.state_dict().values()
        if value.is_floating_point()
    )


def save(run: Run, path: Path, record: RunRecord) -> None:
    """The checkpoint, then its record, with signals held back between the two: the record
    gains the epoch just finished, or a fresh run's record starts (empty, if stopped in its
    first epoch) as its first checkpoint replaces the old one. Rank 0 writes both; the others
    wait until it has, so that none exits before the files are whole."""
    if run.cluster.is_main:
        training = capture(run.optimizer, run.schedule, run.generator, run.progress)
        training["world_size"] = run.cluster.world_size
        checkpoint = make_checkpoint(
            model=run.model,
            config=run.config,
            dataset=run.dataset,
            history=run.history,
            training=training,
            temperature=run.temperature,
        )
        with signals_deferred():
            save_checkpoint(checkpoint, path)
            if run.progress is None:
                record.append(run.history[-1])
            elif record.fresh:
                record.start()
    distributed.barrier(run.cluster)


def nothing_saved(run: Run, path: Path) -> str:
    if run.keep_old:
        return f"no epoch had finished, so {path} keeps the checkpoint it held before, unchanged"
    return "no epoch had finished, so nothing was saved"
