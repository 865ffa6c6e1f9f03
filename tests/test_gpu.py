"""On a CUDA device only (skipped elsewhere; benchmarks/gpu.sh runs these first): the step
replayed as a CUDA graph learns what the eager step learns, and no step waits for the device.
The same logic runs on the CPU in test_gpu_loop.py."""

from __future__ import annotations

import pytest
import torch

from mnist_cli.config import TrainConfig
from mnist_cli.data.catalog import MNIST
from mnist_cli.networks import CNN
from mnist_cli.train.augment import NOISE_COLUMNS
from mnist_cli.train.graphs import WARMUP_STEPS, graph_backend
from mnist_cli.train.optim import make_optimizer, make_schedule
from mnist_cli.train.runtime import plan_runtime, prepare_model
from mnist_cli.train.steps import StepParts, Stepper, TrainData

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

BATCH = 64


def _stepper(graphs: bool, precision: str = "fp32") -> Stepper:
    cuda = torch.device("cuda")
    runtime = plan_runtime(cuda, threads=1, precision=precision, cuda_graphs=graphs)
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(1000) % 10
    images = torch.randint(0, 40, (1000, 28, 28), generator=generator, dtype=torch.uint8)
    for i, label in enumerate(labels.tolist()):
        images[i, 4:24, 2 + 2 * label : 5 + 2 * label] = 250
    data = TrainData(images.to(cuda), labels.to(cuda), MNIST.mean, MNIST.std)
    config = TrainConfig(batch_size=BATCH)
    torch.manual_seed(0)
    model = CNN(width=8, hidden=32)
    optimizer = make_optimizer(config, model, fused=True)
    net = prepare_model(model, runtime)
    schedule = make_schedule(config, optimizer, 100)
    parts = StepParts(net, optimizer, schedule, runtime, 0.1, BATCH)
    return Stepper(parts, data, augment=True, graph=graph_backend(runtime))


def _batches(steps: int):
    generator = torch.Generator().manual_seed(1)
    order = torch.randperm(1000, generator=generator).cuda()
    uniform = (torch.rand(1000, NOISE_COLUMNS, generator=generator) * 2 - 1).cuda()
    for step in range(steps):
        rows = slice(step * BATCH % 960, step * BATCH % 960 + BATCH)
        yield order[rows], uniform[rows]


def test_the_graphed_step_learns_what_the_eager_step_learns():
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        results = []
        for graphs in (False, True):
            stepper = _stepper(graphs)
            for index, uniform in _batches(12):
                stepper.step(index, uniform)
            stepper.step(*[part[:40] for part in next(_batches(1))])  # a smaller, eager batch
            weights = [p.detach().float().cpu() for p in stepper.parts.net.parameters()]
            results.append((stepper.loss_sum.item(), weights))
        (eager_loss, eager), (graphed_loss, graphed) = results
        assert graphed_loss == pytest.approx(eager_loss, rel=1e-3)
        assert all(torch.allclose(a, b, atol=1e-3) for a, b in zip(eager, graphed, strict=True))
        assert stepper.graphed.captured and stepper.graphed.replays == 12 - WARMUP_STEPS
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = False, True


@pytest.mark.parametrize(("graphs", "precision"), [(True, "bf16"), (False, "bf16"), (True, "fp32")])
def test_no_step_waits_for_the_device(graphs, precision):
    stepper = _stepper(graphs, precision)
    batches = list(_batches(WARMUP_STEPS + 12))
    for index, uniform in batches[: WARMUP_STEPS + 2]:  # warm-up and capture: allowed to sync
        stepper.step(index, uniform)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for index, uniform in batches[WARMUP_STEPS + 2 :]:
            stepper.step(index, uniform)
        stepper.step(*[part[:40] for part in batches[0]])  # the epoch's smaller last batch
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert torch.isfinite(stepper.loss_sum).item()
