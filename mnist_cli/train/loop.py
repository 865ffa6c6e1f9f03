"""The training loop: the whole dataset as one tensor on the device, batched by slicing a random
permutation; a test pass, a validation pass (train/validation.py), an atomic checkpoint and a
line of the run record (ckpt.jsonl) after every epoch. Never prints: progress goes through the
`on_step` and `on_epoch` callbacks."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from mnist_cli.checkpoint.format import EpochRecord
from mnist_cli.checkpoint.read import Checkpoint
from mnist_cli.checkpoint.write import prepare_checkpoint_path
from mnist_cli.config import TrainConfig, check_config, for_device
from mnist_cli.data.store import LabelledImages, get_dataset, load_normalised, load_split
from mnist_cli.errors import MnistError
from mnist_cli.evaluate.scoring import evaluate
from mnist_cli.train import distributed, state
from mnist_cli.train.augment import augmentation_of
from mnist_cli.train.cluster import from_environment
from mnist_cli.train.failures import Stopped, Where, explained
from mnist_cli.train.graphs import graph_backend
from mnist_cli.train.init_from import initial_weights
from mnist_cli.train.record import RunRecord
from mnist_cli.train.resume import EpochProgress
from mnist_cli.train.runtime import Stopwatch, runtime_for
from mnist_cli.train.state import Run, StepFn
from mnist_cli.train.steps import ProgressGate, StepParts, Stepper, TrainData, epoch_uniform
from mnist_cli.train.styles import four_of, with_closed_fours
from mnist_cli.train.validation import Validation, hold_out_validation, validate

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


def _train_epoch(run: Run, data: TrainData, stop: StopFn | None = None) -> float | None:
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


def _stepper(run: Run, data: TrainData) -> Stepper:
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
    where = Where(Path(checkpoint_path), data_dir, from_environment())
    run, data, splits = _set_up(config, where, resume)
    run.on_step = on_step
    stop = distributed.agreed(should_stop or _never, where.cluster, run.runtime.device)
    try:
        _run_epochs(run, data, splits, where.checkpoint, on_epoch, stop)
    except (KeyboardInterrupt, RuntimeError, Stopped) as failure:
        explanation = explained(failure, run, where)
        if explanation is failure:
            raise
        raise explanation from None
    finally:
        run.net = run.model  # DDP's reducer holds the process group: let it go first
        distributed.leave(where.cluster)
    return TrainResult(
        history=run.history,
        checkpoint=where.checkpoint,
        device=str(run.runtime.device),
        threads=run.runtime.threads,
        parameters=sum(p.numel() for p in run.model.parameters()),
        seconds=time.perf_counter() - started,
        config=run.config,
        temperature=run.temperature,
        world_size=where.cluster.world_size,
        batch_norm=distributed.batch_norm_note(run.model, where.cluster),
    )


def _set_up(
    config: TrainConfig, where: Where, resume: Checkpoint | None
) -> tuple[Run, TrainData, tuple[LabelledImages, LabelledImages | None]]:
    """Everything before the first step: the config checked, the checkpoint's path made ready
    (by the rank that writes it), the ranks joined, the splits on the device, and the run's
    state, fresh or resumed. Returns the run, its training data and its (test, validation)."""
    check_config(config)
    cluster = where.cluster
    if cluster.is_main:  # the one rank that writes it
        prepare_checkpoint_path(where.checkpoint)
    distributed.check_resume(resume, cluster, where.checkpoint)
    dataset = get_dataset(config.dataset)
    initial = initial_weights(config, dataset) if resume is None else None  # before the data
    runtime = distributed.join(cluster, runtime_for(config))
    config = for_device(config, runtime.device.type)
    config = dataclasses.replace(config, threads=runtime.threads)  # recorded as it ran
    train_images, train_labels = load_split(dataset, where.data_dir, "train")
    (train_images, train_labels), validation = hold_out_validation(
        train_images, train_labels, config, dataset, runtime.device
    )
    train_images, train_labels = with_closed_fours(
        train_images, train_labels, config.closed_fours, config.seed, four_of(dataset.class_names)
    )
    test_split = load_normalised(dataset, where.data_dir, "test", runtime.device)
    data = TrainData(
        train_images.to(runtime.device),
        train_labels.to(runtime.device),
        dataset.mean,
        dataset.std,
        augmentation_of(config),
    )
    run = state.start(config, runtime, dataset, len(data), resume, cluster, initial=initial)
    # Every rank decides as rank 0, which sees the checkpoint (other nodes may not).
    fresh_over_old = resume is None and where.checkpoint.exists()
    [run.keep_old] = distributed.from_main([fresh_over_old], cluster)
    return run, data, (test_split, validation)


def _never() -> bool:
    return False


def _run_epochs(
    run: Run,
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
            where = f"in epoch {epoch} after step {run.progress.step} of {steps}"
            if not state.weights_finite(run):  # a diverged run: no checkpoint no command loads
                raise MnistError(
                    f"stopped {where}, but training had diverged (the weights hold NaN or"
                    " infinity), so nothing was saved: try a lower --lr"
                )
            if not (run.keep_old and not run.history):  # an older checkpoint keeps its bytes
                state.save(run, path, record)
            raise Stopped(where)
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
        state.save(run, path, record)
        if on_epoch:
            on_epoch(run.history[-1])
        if stop() and epoch < config.epochs:
            raise Stopped(f"at the end of epoch {epoch}")
    distributed.barrier(run.cluster)  # no rank tears down while another is still at work


def _scores(
    run: Run, splits: tuple[LabelledImages, LabelledImages | None]
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
