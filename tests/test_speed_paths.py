"""The fast-training machinery: on-device augmentation, the runtime plan (threads, bf16,
channels_last, compile), and the GPU code paths run on the CPU so that CI covers their logic."""

import json
import math

import pytest
import torch

from mnist_cli.config import TrainConfig
from mnist_cli.data.catalog import MNIST
from mnist_cli.errors import MnistError
from mnist_cli.networks import CNN
from mnist_cli.train import runtime as runtime_module
from mnist_cli.train.augment import Augmentation, augment
from mnist_cli.train.loop import TrainData, _train_epoch
from mnist_cli.train.optim import one_cycle
from mnist_cli.train.runtime import Runtime, Stopwatch, plan_runtime, prepare_model
from mnist_cli.train.state import Run
from tests.conftest import app

BACKGROUND = -0.4242


def _digits(count=8, seed=0):
    generator = torch.Generator().manual_seed(seed)
    images = torch.full((count, 1, 28, 28), BACKGROUND)
    images[:, :, 8:20, 12:16] = 2.8 * torch.rand(count, 1, 1, 1, generator=generator)
    return images


def test_augmentation_repeats_with_the_same_generator_and_varies_without():
    images = _digits()
    first = augment(images, BACKGROUND, torch.Generator().manual_seed(1))
    again = augment(images, BACKGROUND, torch.Generator().manual_seed(1))
    other = augment(images, BACKGROUND, torch.Generator().manual_seed(2))
    assert first.shape == images.shape and first.dtype == images.dtype
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)
    assert not torch.allclose(first, images)


def test_no_movement_is_the_identity():
    images = _digits()
    still = Augmentation(degrees=0.0, scale=0.0, shift=0.0)
    moved = augment(images, BACKGROUND, torch.Generator().manual_seed(0), still)
    assert torch.allclose(moved, images, atol=1e-5)


def test_uncovered_area_is_background_not_zero():
    images = torch.full((4, 1, 28, 28), BACKGROUND)
    moved = augment(images, BACKGROUND, torch.Generator().manual_seed(0))
    assert torch.allclose(moved, images, atol=1e-5)  # a blank page stays blank


def test_never_flips_and_keeps_the_ink_near_its_place():
    image = torch.full((1, 1, 28, 28), BACKGROUND)
    image[0, 0, 4:24, 2:6] = 2.8  # a bar on the left edge
    for seed in range(20):
        moved = augment(image, BACKGROUND, torch.Generator().manual_seed(seed))[0, 0]
        ink = (moved > 1.0).nonzero()[:, 1].float()
        assert ink.numel() and ink.mean() < 10  # still on the left: a flip would put it at 24


def test_the_plan_follows_the_device():
    cpu = plan_runtime(torch.device("cpu"))
    assert cpu.autocast is None and not cpu.channels_last and not cpu.compile
    assert cpu.threads >= 1
    cuda = plan_runtime(torch.device("cuda"))  # planning needs no GPU
    assert cuda.autocast is torch.bfloat16 and cuda.channels_last
    forced = plan_runtime(torch.device("cuda"), threads=1, precision="fp32", channels_last=False)
    assert forced.autocast is None and not forced.channels_last and forced.threads == 1


def test_threads_use_the_free_cores(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(runtime_module, "available_cores", lambda: 2)
    monkeypatch.setattr(runtime_module, "busy_cores", lambda: 0)
    assert runtime_module.default_threads() == 2
    monkeypatch.setattr(runtime_module, "busy_cores", lambda: 1)
    assert runtime_module.default_threads() == 1  # another program holds a core
    monkeypatch.setattr(runtime_module, "busy_cores", lambda: 7)
    assert runtime_module.default_threads() == 1  # never below one
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert runtime_module.default_threads() == 3  # the user's own setting wins


def test_busy_cores_reads_this_machine():
    busy = runtime_module.busy_cores(looks=2, pause=0.0)
    assert isinstance(busy, int) and busy >= 0


def test_bad_thread_and_precision_settings(monkeypatch):
    with pytest.raises(MnistError, match="--threads"):
        plan_runtime(torch.device("cpu"), threads=0)
    with pytest.raises(MnistError, match="precision"):
        plan_runtime(torch.device("cpu"), precision="fp8")


def test_the_gpu_recipe_runs_on_the_cpu():
    """bf16 autocast + channels_last + augmentation: the CUDA path, step for step, on the CPU."""
    runtime = Runtime(torch.device("cpu"), 1, torch.bfloat16, channels_last=True, compile=False)
    torch.manual_seed(0)
    net = prepare_model(CNN(width=4, hidden=16), runtime)
    assert net[0].weight.is_contiguous(memory_format=torch.channels_last)
    images = (_digits(64)[:, 0] * MNIST.std + MNIST.mean).mul(255).clamp(0, 255).to(torch.uint8)
    labels = torch.arange(64) % 10
    config = TrainConfig(batch_size=16, augment=True)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-2)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    before = net[0].weight.detach().clone()
    steps = []
    run = Run(
        config=config,
        runtime=runtime,
        dataset=MNIST,
        model=net,
        net=net,
        optimizer=optimizer,
        schedule=schedule,
        generator=torch.Generator().manual_seed(0),
        on_step=lambda done, total, loss: steps.append(done),
    )
    loss = _train_epoch(run, TrainData(images, labels, MNIST.mean, MNIST.std))
    assert math.isfinite(loss) and steps[-1] == 4
    assert not torch.equal(before, net[0].weight)
    assert net[0].weight.dtype == torch.float32  # autocast computes in bf16, keeps fp32 weights


def test_compile_flag_compiles_but_saves_the_plain_model(runner, tiny_data, monkeypatch):
    compiled = []

    def fake_compile(model):
        compiled.append(model)
        return model

    monkeypatch.setattr(torch, "compile", fake_compile)
    result = runner.invoke(
        app(), ["train", "--model", "mlp", "--epochs", "1", "--compile", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert len(compiled) == 1
    assert json.loads(result.stdout)["config"]["compile"] is True
    saved = torch.load("ckpt.pt", weights_only=True)["state_dict"]
    assert not any(key.startswith("_orig_mod") for key in saved)


@pytest.mark.parametrize(
    "flags",
    [
        ["--threads", "1"],
        ["--no-augment", "--label-smoothing", "0", "--weight-decay", "0.05"],
        ["--precision", "bf16"],
    ],
)
def test_speed_flags_train_and_are_recorded(runner, tiny_data, flags):
    result = runner.invoke(
        app(), ["train", "--epochs", "2", "--batch-size", "32", "--json", *flags]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["test_accuracy"] > 0.5
    config = report["config"]
    assert config["threads"] == report["threads"]  # the threads used, not None (issue 12)
    assert report["threads"] >= 1 and (report["threads"] == 1 or "--threads" not in flags)
    assert config["augment"] is ("--no-augment" not in flags)
    assert config["precision"] == ("bf16" if "bf16" in flags else "auto")
    assert config["weight_decay"] == (0.05 if "--weight-decay" in flags else 5e-4)
    assert config["label_smoothing"] == (0.0 if "--label-smoothing" in flags else 0.1)


def test_threads_set_torch(runner, tiny_data):
    before = torch.get_num_threads()
    try:
        result = runner.invoke(
            app(), ["train", "--model", "mlp", "--epochs", "1", "--threads", "1"]
        )
        assert result.exit_code == 0, result.output
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_bad_speed_flags_are_usage_errors(runner, tiny_data):
    assert runner.invoke(app(), ["train", "--threads", "0"]).exit_code == 2
    assert runner.invoke(app(), ["train", "--precision", "fp8"]).exit_code == 2
    assert runner.invoke(app(), ["train", "--label-smoothing", "1.5"]).exit_code == 2


@pytest.mark.parametrize("total", [2, 3, 5, 7, 469, 4690])
def test_one_cycle_warms_up_then_anneals_to_zero(total):
    factors = [one_cycle(step, total) for step in range(total + 1)]
    assert all(0 <= factor <= 1 for factor in factors)
    assert factors[0] == pytest.approx(1 / 25)
    assert max(factors) == pytest.approx(1.0)
    assert factors[-1] == pytest.approx(0.0, abs=1e-9)
    peak = factors.index(max(factors))
    assert factors[: peak + 1] == sorted(factors[: peak + 1])  # rises, then falls
    assert factors[peak:] == sorted(factors[peak:], reverse=True)


def test_stopwatch_on_the_cpu_uses_the_host_clock():
    stopwatch = Stopwatch(torch.device("cpu"))
    assert not stopwatch.cuda
    stopwatch.start()
    torch.ones(1000).sum()
    assert 0 <= stopwatch.seconds() < 60


def test_benchmark_helpers():
    """The benchmark's arithmetic: time to a given accuracy sums the epochs up to it."""
    from benchmarks.train_speed import time_to

    history = [
        {"seconds": 2.0, "test_accuracy": 0.97},
        {"seconds": 3.0, "test_accuracy": 0.985},
        {"seconds": 4.0, "test_accuracy": 0.992},
    ]
    assert time_to(history, 0.98) == 5.0
    assert time_to(history, 0.99) == 9.0
    assert time_to(history, 0.999) is None
