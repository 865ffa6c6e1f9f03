"""The training loop: the whole dataset as one tensor on the device, batched by slicing a random
permutation; a test pass, a validation pass (train/validation.py), an atomic checkpoint and a
line of the run record (ckpt.jsonl) after every epoch. Never prints: progress goes through the
`on_step` and `on_epoch` callbacks."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from mnist_cli.checkpoint import (
    Checkpoint,
    make_checkpoint,
    prepare_checkpoint_path,
    save_checkpoint,
)
from mnist_cli.config import TrainConfig, for_device
from mnist_cli.data.catalog import Dataset
from mnist_cli.data.store import LabelledImages, get_dataset, load_normalised, load_split
from mnist_cli.errors import CheckpointError, Interrupted, MnistError
from mnist_cli.evaluate.scoring import evaluate
from mnist_cli.models import build_model
from mnist_cli.train import distributed
from mnist_cli.train.augment import augmentation_of
from mnist_cli.train.cluster import Cluster, from_environment
from mnist_cli.train.graphs import graph_backend
from mnist_cli.train.interrupts import signals_deferred
from mnist_cli.train.optim import make_optimizer, make_schedule
from mnist_cli.train.record import EpochRecord, RunRecord
from mnist_cli.train.resume import (
    EpochProgress,
    capture,
    check_progress,
    restore,
    resume_command,
)
from mnist_cli.train.runtime import Runtime, Stopwatch, prepare_model, runtime_for
from mnist_cli.train.steps import ProgressGate, StepParts, Stepper, TrainData, epoch_uniform
from mnist_cli.train.validation import Validation, hold_out_validation, validate

StepFn = Callable[..., None]  # on_step(done, total, loss=...)
EpochFn = Callable[[EpochRecord], None]
StopFn = Callable[[], bool]  # true once the user asked to stop


@dataclass(frozen=True)
class TrainResult:
    """What a finished run returns to the CLI."""

    history: list[EpochRecord]
    checkpoint: Path
    device: str
    threads: int  # CPU threads torch used
    parameters: int
    seconds: float  # the whole run, data loading included
    config: TrainConfig  # what ran: the device's recipe filled in (config.for_device)
    temperature: float = 1.0  # fitted on the validation split (1.0: none held out)
    world_size: int = 1  # processes that trained it (torchrun)
    batch_norm: str = ""  # how batch norm ran across them ("" in one process)

    @property
    def final(self) -> EpochRecord:
        return self.history[-1]


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
    on_step: StepFn | None = None
    cluster: Cluster = field(default_factory=Cluster)
    history: list[EpochRecord] = field(default_factory=list)
    progress: EpochProgress | None = None  # the epoch in progress, if it stopped inside one
    stepper: Stepper | None = None  # made at the first step, kept with its CUDA graph
    clock: Callable[[], float] | None = None  # for ProgressGate; None: time.monotonic
    temperature: float = 1.0  # fitted on the validation split after each epoch
    keep_old: bool = False  # a fresh run over an older checkpoint: it keeps its bytes until an
    # epoch of this run has finished (docs/checkpoints.md)


def _check(config: TrainConfig) -> None:
    if config.epochs < 1:
        raise MnistError("--epochs must be at least 1")
    if config.batch_size is not None and config.batch_size < 1:
        raise MnistError("--batch-size must be at least 1")
    if config.batch_size == 1 and config.model == "cnn":
        raise MnistError("--batch-size must be at least 2 for the cnn (its batch norm needs two)")
    if config.lr is not None and (config.lr <= 0 or not math.isfinite(config.lr)):
        raise MnistError("--lr must be a positive number")
    if not 0 <= config.label_smoothing < 1:
        raise MnistError("--label-smoothing must be at least 0 and below 1")
    if not 0 <= config.weight_decay < math.inf:
        raise MnistError("--weight-decay must be a finite number, at least 0")
    if not -(2**63) <= config.seed < 2**64:  # what torch's generators take
        raise MnistError("--seed must be at least -2**63 and below 2**64")
    if not (0 <= config.thickness <= 1 and config.elastic >= 0):  # NaN too
        raise MnistError("--thickness must be from 0 to 1, and --elastic at least 0")
    if not 1 <= config.width <= 512:
        raise MnistError("--width must be from 1 to 512")


def _train_epoch(run: _Run, data: TrainData, stop: StopFn | None = None) -> float | None:
    """One pass over the data in a random order, or the rest of the pass `run.progress` holds;
    returns the mean training loss, or None if `stop()` asked to stop early (`run.progress`
    then says where). The loss is read back from the device only when progress is reported."""
    config = run.config
    if run.progress is None:
        run.progress = EpochProgress(torch.randperm(len(data), generator=run.generator))
    progress = run.progress
    stepper = _stepper(run, data)
    run.net.train()
    batch_size = config.batch_size
    steps = math.ceil(len(data) / batch_size)
    # Copied to the device once an epoch, not a batch at a time.
    device = data.labels.device
    permutation = progress.permutation.to(device)
    uniform = None
    if config.augment:
        columns = data.augmentation.columns
        uniform = epoch_uniform(progress, run.generator, len(data), batch_size, columns)
        uniform = uniform.to(device)
    stepper.start_epoch(progress.loss_sum)
    gate = ProgressGate(clock=run.clock)
    try:
        for step in range(progress.step, steps):
            rows = slice(step * batch_size, (step + 1) * batch_size)
            index, noise = permutation[rows], None if uniform is None else uniform[rows]
            share = run.cluster.share(len(index))  # this rank's rows of the global batch
            stepper.step(index[share], None if noise is None else noise[share])
            progress.step = done = step + 1
            if run.on_step and gate.due(done, steps):
                run.on_step(done, steps, loss=stepper.loss_sum.item() / done)
            if done < steps and stop and stop():
                return None
    finally:
        progress.loss_sum = stepper.loss_sum.item()
    return progress.loss_sum / steps


def _stepper(run: _Run, data: TrainData) -> Stepper:
    if run.stepper is None:
        config = run.config
        parts = StepParts(
            net=run.net,
            optimizer=run.optimizer,
            schedule=run.schedule,
            runtime=run.runtime,
            label_smoothing=config.label_smoothing,
            batch_size=config.batch_size,
        )
        run.stepper = Stepper(parts, data, config.augment, graph_backend(run.runtime))
    return run.stepper


def _start(
    config: TrainConfig,
    runtime: Runtime,
    dataset: Dataset,
    train_count: int,
    resume: Checkpoint | None,
    cluster: Cluster,
) -> _Run:
    torch.manual_seed(config.seed)
    model = build_model(config.model, num_classes=len(dataset.class_names), **config.model_kwargs())
    model = distributed.sync_batch_norm(model, cluster, runtime)
    optimizer = make_optimizer(config, model, fused=runtime.device.type == "cuda")
    steps_per_epoch = math.ceil(train_count / config.batch_size)
    run = _Run(
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


def _save(run: _Run, path: Path, record: RunRecord) -> None:
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


def train(
    config: TrainConfig,
    data_dir: Path,
    checkpoint_path: Path,
    on_step: StepFn | None = None,
    on_epoch: EpochFn | None = None,
    should_stop: StopFn | None = None,
    resume: Checkpoint | None = None,
) -> TrainResult:
    """Train as `config` says, saving `checkpoint_path` after every epoch, or go on with the run
    that `resume` holds. When `should_stop()` turns true, the step in progress finishes, the
    checkpoint is saved, and Interrupted is raised."""
    started = time.perf_counter()
    _check(config)
    checkpoint_path = Path(checkpoint_path)
    cluster = from_environment()
    if cluster.is_main:  # the one rank that writes it
        prepare_checkpoint_path(checkpoint_path)
    distributed.check_resume(resume, cluster, checkpoint_path)
    runtime = distributed.join(cluster, runtime_for(config))
    config = for_device(config, runtime.device.type)
    config = dataclasses.replace(config, threads=runtime.threads)  # recorded as it ran
    dataset = get_dataset(config.dataset)
    train_images, train_labels = load_split(dataset, data_dir, "train")
    (train_images, train_labels), validation = hold_out_validation(
        train_images, train_labels, config, dataset, runtime.device
    )
    test_split = load_normalised(dataset, data_dir, "test", runtime.device)
    data = TrainData(
        train_images.to(runtime.device),
        train_labels.to(runtime.device),
        dataset.mean,
        dataset.std,
        augmentation_of(config),
    )
    run = _start(config, runtime, dataset, len(data), resume, cluster)
    run.on_step = on_step
    # Every rank decides as rank 0, which sees the checkpoint (other nodes may not).
    [run.keep_old] = distributed.from_main([resume is None and checkpoint_path.exists()], cluster)
    stop = distributed.agreed(should_stop or _never, cluster, runtime.device)
    try:
        splits = (test_split, validation)
        _run_epochs(run, data, splits, checkpoint_path, on_epoch, stop)
    except KeyboardInterrupt:
        kept = (
            f"{checkpoint_path} holds epoch {run.history[-1].epoch}; continue with "
            f"`{resume_command(checkpoint_path, data_dir, cluster.world_size)}`"
            if run.history
            else _nothing_saved(run, checkpoint_path)
        )
        raise Interrupted(f"interrupted during epoch {len(run.history) + 1}: {kept}") from None
    except RuntimeError as error:  # torch.OutOfMemoryError is one too
        lost = distributed.translated(error, cluster)  # a peer gone inside DDP's all-reduce
        if lost is not error:
            raise lost from None
        if not _out_of_memory(error):
            raise
        raise MnistError(
            f"out of memory on {runtime.device} with --batch-size {config.batch_size}:"
            " try a smaller --batch-size"
        ) from None
    except _Stopped as stopped:
        if run.keep_old and not run.history:
            kept = _nothing_saved(run, checkpoint_path)
            raise Interrupted(f"stopped {stopped}: {kept}") from None
        raise Interrupted(
            f"stopped {stopped}: saved to {checkpoint_path}; continue with "
            f"`{resume_command(checkpoint_path, data_dir, cluster.world_size)}`"
        ) from None
    finally:
        run.net = run.model  # DDP's reducer holds the process group: let it go first
        distributed.leave(cluster)
    return TrainResult(
        history=run.history,
        checkpoint=checkpoint_path,
        device=str(runtime.device),
        threads=runtime.threads,
        parameters=sum(p.numel() for p in run.model.parameters()),
        seconds=time.perf_counter() - started,
        config=config,
        temperature=run.temperature,
        world_size=cluster.world_size,
        batch_norm=distributed.batch_norm_note(run.model, cluster),
    )


def _out_of_memory(error: RuntimeError) -> bool:
    text = str(error).lower()
    return isinstance(error, torch.OutOfMemoryError) or "allocate" in text or "memory" in text


def _never() -> bool:
    return False


def _nothing_saved(run: _Run, path: Path) -> str:
    if run.keep_old:
        return f"no epoch had finished, so {path} keeps the checkpoint it held before, unchanged"
    return "no epoch had finished, so nothing was saved"


class _Stopped(Exception):
    """should_stop() turned true; the message says where the run stopped."""


def _run_epochs(
    run: _Run,
    data: TrainData,
    splits: tuple[LabelledImages, LabelledImages | None],  # test, validation
    path: Path,
    on_epoch: EpochFn | None,
    stop: StopFn,
) -> None:
    config = run.config
    steps = math.ceil(len(data) / config.batch_size)
    stopwatch = Stopwatch(run.runtime.device)
    # ckpt.pt -> ckpt.jsonl, a line per epoch; a resumed run goes on with its record.
    record = RunRecord(path, fresh=not run.history)
    for epoch in range(len(run.history) + 1, config.epochs + 1):
        epoch_started = time.perf_counter()
        stopwatch.start()
        train_loss = _train_epoch(run, data, stop)
        if train_loss is None:
            if not (run.keep_old and not run.history):  # an older checkpoint keeps its bytes
                _save(run, path, record)
            raise _Stopped(f"in epoch {epoch} after step {run.progress.step} of {steps}")
        train_seconds = stopwatch.seconds()
        run.progress = None
        train_loss = distributed.mean_across(train_loss, run.cluster, run.runtime.device)
        if not math.isfinite(train_loss):
            raise MnistError(
                f"training diverged in epoch {epoch} (loss is {train_loss}): try a lower --lr"
            )
        (test_loss, test_accuracy), held_out = _scores(run, splits)
        run.temperature = held_out.temperature
        run.history.append(
            EpochRecord(
                epoch=epoch,
                train_loss=train_loss,
                test_loss=test_loss,
                test_accuracy=test_accuracy,
                lr=run.optimizer.param_groups[0]["lr"],
                seconds=time.perf_counter() - epoch_started,
                train_seconds=train_seconds,
                val_loss=held_out.loss,
                val_accuracy=held_out.accuracy,
            )
        )
        _save(run, path, record)
        if on_epoch:
            on_epoch(run.history[-1])
        if stop() and epoch < config.epochs:
            raise _Stopped(f"at the end of epoch {epoch}")
    distributed.barrier(run.cluster)  # no rank tears down while another is still at work


def _scores(
    run: _Run, splits: tuple[LabelledImages, LabelledImages | None]
) -> tuple[tuple[float, float], Validation]:
    """The test (loss, accuracy) and the validation scores, computed once: by rank 0, on the
    model without its DDP wrapper (no collectives), and handed to the other ranks."""
    scores = [None, None]
    if run.cluster.is_main:
        net = run.model if run.cluster.distributed else run.net
        classes = len(run.dataset.class_names)
        metrics = evaluate(net, splits[0], classes)
        scores = [(metrics.loss, metrics.accuracy), validate(net, splits[1], classes)]
    test, held_out = distributed.from_main(scores, run.cluster)
    return test, held_out
