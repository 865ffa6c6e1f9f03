"""The GPU-native loop, on the CPU: uint8 data normalised a batch at a time, the epoch's random
numbers drawn at once, the loss summed on the device and read back only when progress is due,
CUDA graphs' protocol (with a stand-in for the CUDA API), and the GPU's batch-size rule."""

from __future__ import annotations

import itertools
import json
import math
import sys
from contextlib import nullcontext

import pytest
import torch
import torch.nn.functional as F

from mnist_cli import config as config_module
from mnist_cli.config import TrainConfig, for_device
from mnist_cli.data.catalog import MNIST
from mnist_cli.data.store import normalise
from mnist_cli.errors import DeviceError
from mnist_cli.networks import CNN
from mnist_cli.train.augment import augment
from mnist_cli.train.graphs import WARMUP_STEPS, graph_backend
from mnist_cli.train.loop import _train_epoch
from mnist_cli.train.optim import make_optimizer, make_schedule
from mnist_cli.train.resume import EpochProgress
from mnist_cli.train.runtime import Runtime, plan_runtime
from mnist_cli.train.state import Run
from mnist_cli.train.steps import ProgressGate, StepParts, Stepper, TrainData, epoch_uniform
from tests.conftest import app

CPU = Runtime(torch.device("cpu"), 1, None, channels_last=False, compile=False)


def _split(count: int, seed: int = 0) -> TrainData:
    """`count` uint8 images with a bar whose place depends on the label: learnable, tiny."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(count) % 10
    images = torch.randint(0, 40, (count, 28, 28), generator=generator, dtype=torch.uint8)
    for i, label in enumerate(labels.tolist()):
        images[i, 4:24, 2 + 2 * label : 5 + 2 * label] = 250
    return TrainData(images, labels, MNIST.mean, MNIST.std)


def _run(data: TrainData, batch_size: int = 16, epochs: int = 2, **fields) -> Run:
    config = TrainConfig(batch_size=batch_size, epochs=epochs, augment=True)
    torch.manual_seed(0)
    model = CNN(width=4, hidden=16)
    optimizer = make_optimizer(config, model)
    steps = math.ceil(len(data) / batch_size)
    return Run(
        config=config,
        runtime=CPU,
        dataset=MNIST,
        model=model,
        net=model,
        optimizer=optimizer,
        schedule=make_schedule(config, optimizer, epochs * steps),
        generator=torch.Generator().manual_seed(0),
        **fields,
    )


def _assert_same_weights(a: Run, b: Run) -> None:
    mine, theirs = a.model.state_dict(), b.model.state_dict()
    assert mine.keys() == theirs.keys()
    assert all(torch.equal(mine[key], theirs[key]) for key in mine), "weights differ"


def _reference_epoch(run: Run, data: TrainData) -> float:
    """The loop as it was before the data stayed uint8: the split normalised up front, random
    numbers drawn a batch at a time, the loss read back at every step."""
    images = normalise(data.images, data.mean, data.std)
    order = torch.randperm(len(data), generator=run.generator)
    batch_size, total = run.config.batch_size, 0.0
    for start in range(0, len(data), batch_size):
        batch = order[start : start + batch_size]
        inputs = augment(images[batch], data.background, run.generator)
        loss = F.cross_entropy(run.net(inputs), data.labels[batch], label_smoothing=0.1)
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.optimizer.step()
        run.schedule.step()
        total += loss.item()
    return total / math.ceil(len(data) / batch_size)


def test_an_epoch_learns_what_the_plain_loop_learns():
    data = _split(70)  # 4 full batches of 16 and one of 6
    ours, reference = _run(data), _run(data)
    for _ in range(2):
        loss = _train_epoch(ours, data)
        ours.progress = None
        expected = _reference_epoch(reference, data)
        assert loss == pytest.approx(expected, rel=1e-6)
    _assert_same_weights(ours, reference)


def test_the_epochs_numbers_are_the_per_batch_draws_of_before():
    generator = torch.Generator().manual_seed(3)
    progress = EpochProgress(torch.randperm(70, generator=generator))
    at_once = epoch_uniform(progress, generator, 70, 16)
    again = torch.Generator().manual_seed(3)
    torch.randperm(70, generator=again)
    batches = [torch.rand(n, 4, generator=again) * 2 - 1 for n in (16, 16, 16, 16, 6)]
    assert torch.equal(at_once, torch.cat(batches))
    assert torch.equal(generator.get_state(), again.get_state())
    # Stopped inside the epoch: the same numbers again, from the state kept in the progress.
    progress.step = 2
    assert torch.equal(epoch_uniform(progress, torch.Generator(), 70, 16), at_once)


def test_an_older_checkpoint_stopped_inside_an_epoch_draws_the_rest():
    generator = torch.Generator().manual_seed(5)
    progress = EpochProgress(torch.randperm(70, generator=generator))
    old = torch.Generator().manual_seed(5)
    torch.randperm(70, generator=old)
    first = [torch.rand(16, 4, generator=old) * 2 - 1 for _ in range(2)]
    rest = torch.rand(38, 4, generator=old) * 2 - 1
    generator.set_state(torch.Generator().manual_seed(5).get_state())
    torch.randperm(70, generator=generator)
    for _ in first:
        torch.rand(16, 4, generator=generator)  # what the older version had drawn
    progress.step = 2  # ... and no noise_state: it did not keep one
    uniform = epoch_uniform(progress, generator, 70, 16)
    assert uniform.shape == (70, 4) and torch.equal(uniform[32:], rest)


class _Reads:
    """Counts the calls from mnist_cli that read a tensor back to the host, or copy one between
    devices: on a GPU each of them makes the host wait for the device."""

    NAMES = ("item", "tolist", "cpu", "numpy", "__float__", "__int__", "__bool__", "__index__")

    def __init__(self, monkeypatch):
        self.count = 0
        for name in self.NAMES:
            monkeypatch.setattr(torch.Tensor, name, self._counted(getattr(torch.Tensor, name)))
        monkeypatch.setattr(torch.Tensor, "to", self._counted(torch.Tensor.to, transfers=True))

    def _counted(self, real, transfers=False):
        def wrapper(tensor, *args, **kwargs):
            caller = sys._getframe(1).f_globals.get("__name__", "")
            moves = (
                not transfers
                or "device" in kwargs
                or any(isinstance(a, torch.device | str) for a in args)
            )
            if caller.startswith("mnist_cli") and moves:
                self.count += 1
            return real(tensor, *args, **kwargs)

        return wrapper


@pytest.mark.parametrize("augmented", [True, False])
def test_reads_back_do_not_grow_with_the_steps(monkeypatch, augmented):
    """A frozen clock: no progress is due before the end of the epoch, so the read-backs of an
    epoch of 12 steps must be those of an epoch of 3."""
    counts = []
    for count in (48, 192):
        data = _split(count)
        run = _run(data, on_step=lambda done, total, loss: None, clock=lambda: 0.0)
        run.config = TrainConfig(batch_size=16, augment=augmented)
        reads = _Reads(monkeypatch)
        _train_epoch(run, data)
        monkeypatch.undo()
        counts.append(reads.count)
    assert counts[0] == counts[1] and 0 < counts[0] <= 6


def test_progress_comes_at_most_every_quarter_second_and_at_the_end():
    ticks = itertools.count(0, 0.1)  # every look at the clock finds it 0.1 s later
    reports = []
    data = _split(160)  # 10 steps
    run = _run(data, on_step=lambda done, total, loss: reports.append(done))
    run.clock = lambda: next(ticks)
    _train_epoch(run, data)
    assert reports == [3, 6, 9, 10]  # 0.3 s, 0.6 s, 0.9 s after the start, then the end


def test_a_frozen_clock_reports_only_the_end_and_a_slow_step_every_step():
    assert [ProgressGate(clock=lambda: 0.0).due(done, 5) for done in range(1, 6)] == [
        False,
        False,
        False,
        False,
        True,
    ]
    slow = itertools.count(0, 1.0)
    gate = ProgressGate(clock=lambda: next(slow))
    assert all(gate.due(done, 5) for done in range(1, 6))


class HostGraph:
    """torch.cuda.CUDAGraph's contract, on the CPU: a capture records without running anything;
    the graph's gradients live in buffers of its own, which become the parameters' gradients at
    the capture, and each replay writes into those buffers, whatever the parameters' `.grad`
    has become since (set to None or replaced, it no longer sees the replays)."""

    def __init__(self, model):
        self.parameters = list(model.parameters())
        self.buffers = None
        self.captures = 0

    def warmup(self):
        return nullcontext()

    def capture(self, body):
        self.body = body
        self.captures += 1

    def replay(self):
        held = [parameter.grad for parameter in self.parameters]
        for parameter in self.parameters:
            parameter.grad = None
        self.body()
        fresh = [parameter.grad for parameter in self.parameters]
        if self.buffers is None:  # the first replay stands for the capture's allocation
            self.buffers = held = fresh
        else:
            for buffer, grad in zip(self.buffers, fresh, strict=True):
                buffer.copy_(grad)
        for parameter, grad in zip(self.parameters, held, strict=True):
            parameter.grad = grad


def _stepper(run: Run, data: TrainData, graph=None) -> Stepper:
    parts = StepParts(run.net, run.optimizer, run.schedule, CPU, 0.1, run.config.batch_size)
    return Stepper(parts, data, run.config.augment, graph)


@pytest.mark.parametrize("augmented", [True, False])
def test_graphed_steps_learn_what_eager_steps_learn(augmented):
    """Warm-up, capture, replays of full batches with the indices and numbers copied into the
    graph's buffers, and the smaller last batch run eagerly without unhooking the gradients."""
    data = _split(70)
    eager, graphed = _run(data), _run(data)
    eager.config = graphed.config = TrainConfig(batch_size=16, epochs=2, augment=augmented)
    eager.stepper = _stepper(eager, data)
    graph = HostGraph(graphed.model)
    graphed.stepper = _stepper(graphed, data, graph)
    for _ in range(2):
        assert _train_epoch(eager, data) == _train_epoch(graphed, data)
        eager.progress = graphed.progress = None
    _assert_same_weights(eager, graphed)
    assert graph.captures == 1
    assert graphed.stepper.graphed.replays == 2 * 4 - WARMUP_STEPS  # full batches after warm-up


def test_the_graphs_gradients_must_not_be_unhooked(monkeypatch):
    """The stand-in catches the mistake the eager last batch must avoid: gradients set to None
    after the capture no longer receive the replays, and the run learns something else."""
    data = _split(70)
    right, wrong = _run(data), _run(data)
    right.stepper = _stepper(right, data, HostGraph(right.model))
    wrong.stepper = _stepper(wrong, data, HostGraph(wrong.model))
    _train_epoch(right, data)
    right.progress = None
    optimizer = wrong.optimizer
    monkeypatch.setattr(
        optimizer, "zero_grad", lambda set_to_none=True: type(optimizer).zero_grad(optimizer, True)
    )
    _train_epoch(wrong, data)
    wrong.progress = None
    _train_epoch(right, data)
    _train_epoch(wrong, data)
    mine, theirs = right.model.state_dict(), wrong.model.state_dict()
    assert not all(torch.equal(mine[key], theirs[key]) for key in mine)


def test_a_failed_capture_says_how_to_train_without_graphs():
    class Refusing(HostGraph):
        def capture(self, body):
            raise RuntimeError("operation not permitted when stream is capturing\nmore")

    data = _split(70)
    run = _run(data)
    run.stepper = _stepper(run, data, Refusing(run.model))
    with pytest.raises(DeviceError, match="not permitted when stream.*MNIST_CUDA_GRAPHS=0"):
        _train_epoch(run, data)


def test_the_gpu_benchmark_times_to_99_with_cuda_events():
    from benchmarks.gpu import time_to

    history = [
        {"train_seconds": 0.2, "seconds": 9.0, "test_accuracy": 0.985},
        {"train_seconds": 0.1, "seconds": 9.0, "test_accuracy": 0.991},
    ]
    assert time_to(history, 0.99) == pytest.approx(0.3)  # the CUDA events, not the wall clock
    assert time_to(history, 0.995) is None


def test_cuda_graphs_are_planned_for_cuda_alone(monkeypatch):
    monkeypatch.delenv("MNIST_CUDA_GRAPHS", raising=False)
    assert plan_runtime(torch.device("cuda"), threads=1).cuda_graphs  # planning needs no GPU
    assert not plan_runtime(torch.device("cuda"), threads=1, compile=True).cuda_graphs
    assert not plan_runtime(torch.device("cpu"), threads=1).cuda_graphs
    cpu = plan_runtime(torch.device("cpu"), threads=1)
    assert graph_backend(cpu) is None
    monkeypatch.setenv("MNIST_CUDA_GRAPHS", "0")
    assert not plan_runtime(torch.device("cuda"), threads=1).cuda_graphs


@pytest.mark.parametrize(
    ("given", "device", "batch_size", "lr"),
    [
        ({}, "cpu", 128, 0.01),
        ({}, "mps", 128, 0.01),
        ({}, "cuda", 512, 0.02),
        ({"batch_size": 256}, "cuda", 256, 0.01),  # a given batch keeps the default rate
        ({"lr": 0.005}, "cuda", 512, 0.005),
        ({"optimizer": "sgd"}, "cuda", 512, 0.1),
        ({"optimizer": "sgd", "batch_size": 64}, "cpu", 64, 0.05),
    ],
)
def test_the_device_picks_the_batch_size_and_rate(given, device, batch_size, lr):
    config = for_device(TrainConfig(**given), device)
    assert (config.batch_size, config.lr) == (batch_size, pytest.approx(lr))
    assert for_device(config, "cpu") == config  # once filled in, it stays what ran


def test_the_checkpoint_and_json_record_the_recipe_that_ran(runner, tiny_data, monkeypatch):
    """The CPU's recipe stands in for a GPU's: a device whose batch size is 32."""
    monkeypatch.setitem(config_module.DEVICE_BATCH_SIZE, "cpu", 32)
    result = runner.invoke(app(), ["train", "--model", "mlp", "--epochs", "1", "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)["config"]
    assert printed["batch_size"] == 32 and printed["lr"] == pytest.approx(0.005)
    saved = torch.load("ckpt.pt", weights_only=True)["config"]
    assert saved["batch_size"] == 32 and saved["lr"] == pytest.approx(0.005)
    info = runner.invoke(app(), ["info", "ckpt.pt"])
    assert "batch_size 32" in info.stdout


def test_the_fused_optimiser_is_what_the_loop_asks_for_on_cuda():
    model = CNN(width=4, hidden=16)
    config = for_device(TrainConfig(), "cpu")
    assert make_optimizer(config, model, fused=True).defaults["fused"] is True
    assert not make_optimizer(config, model).defaults["fused"]
