"""How a run uses its machine: the device, CPU threads, number precision, memory layout and
compilation. None of it changes what is learned beyond rounding; all of it is chosen from the
device, and each choice can be forced, so the GPU paths also run (slowly) on a CPU where the tests
live."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass

import torch
from torch import nn

from mnist_cli.config import TrainConfig, usable_cores
from mnist_cli.errors import MnistError
from mnist_cli.inference.device import resolve_device


@dataclass(frozen=True)
class Runtime:
    """The machine settings of one run."""

    device: torch.device
    threads: int  # torch's intra-op threads on the CPU
    autocast: torch.dtype | None  # None: float32 throughout
    channels_last: bool
    compile: bool
    cuda_graphs: bool = False  # replay each training step as one CUDA graph (train/graphs.py)


def available_cores() -> int:
    return usable_cores()


def busy_cores(looks: int = 5, pause: float = 0.02) -> int:
    """How many cores other programs keep busy right now: the fewest runnable threads seen in a
    few looks at /proc/stat, less this one. 0 where that cannot be read (not Linux)."""
    seen = []
    for look in range(looks):
        try:
            with open("/proc/stat", encoding="ascii") as stat:
                running = next(
                    int(line.split()[1]) for line in stat if line.startswith("procs_running")
                )
        except (OSError, StopIteration, ValueError, IndexError):
            return 0
        seen.append(running - 1)
        if look + 1 < looks:
            time.sleep(pause)
    return max(0, min(seen))


def default_threads() -> int:
    """One thread per core that is free now. Threads that must share a core wait on each other
    at every step: on two cores, two runs of two threads each are 3.5-3.9 times slower on the
    CNN and 18 times slower on the MLP than one thread each (benchmarks/threads.py).
    OMP_NUM_THREADS, when set, wins."""
    from_env = os.environ.get("OMP_NUM_THREADS", "")
    if from_env.isdigit() and int(from_env) > 0:
        return int(from_env)
    cores = available_cores()
    return max(1, cores - min(busy_cores(), cores))


def plan_runtime(
    device: torch.device,
    threads: int | None = None,
    precision: str = "auto",
    channels_last: bool | None = None,
    compile: bool = False,
    cuda_graphs: bool | None = None,
) -> Runtime:
    """Settings for `device`: bf16 autocast, channels_last and CUDA graphs on CUDA, plain float32
    elsewhere (a CPU without bf16 units runs it slower). `precision` is "auto", "fp32" or "bf16".
    CUDA graphs need CUDA; they step aside for --compile, which captures its own, and for
    MNIST_CUDA_GRAPHS=0 (to time a run without them)."""
    if threads is not None and threads < 1:
        raise MnistError("--threads must be at least 1")
    on_cuda = device.type == "cuda"
    if precision == "auto":
        precision = "bf16" if on_cuda else "fp32"
    if precision not in ("fp32", "bf16"):
        raise MnistError(f"unknown precision {precision!r}: choose auto, fp32 or bf16")
    return Runtime(
        device=device,
        threads=threads or default_threads(),
        autocast=torch.bfloat16 if precision == "bf16" else None,
        channels_last=on_cuda if channels_last is None else channels_last,
        compile=compile,
        cuda_graphs=_cuda_graphs(on_cuda, compile) if cuda_graphs is None else cuda_graphs,
    )


def _cuda_graphs(on_cuda: bool, compile: bool) -> bool:
    return on_cuda and not compile and os.environ.get("MNIST_CUDA_GRAPHS", "1") != "0"


def runtime_for(config: TrainConfig) -> Runtime:
    """The machine settings a run's configuration asks for, applied to this process."""
    runtime = plan_runtime(
        resolve_device(config.device), config.threads, config.precision, compile=config.compile
    )
    apply_runtime(runtime)
    return runtime


def apply_runtime(runtime: Runtime) -> None:
    """Set the process-wide parts: the thread count and fast float32 matmuls on CUDA."""
    torch.set_num_threads(runtime.threads)
    if runtime.device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def prepare_model(model: nn.Module, runtime: Runtime) -> nn.Module:
    """Move `model` to the device in the chosen layout; compiled when asked (the compiled module
    shares its parameters with `model`, which is what gets saved)."""
    model = model.to(runtime.device)
    if runtime.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if runtime.compile:
        return torch.compile(model)
    return model


def in_layout(images: torch.Tensor, runtime: Runtime) -> torch.Tensor:
    """A batch of images [N, C, H, W] in the memory layout the model runs in."""
    if runtime.channels_last and images.dim() == 4:
        return images.contiguous(memory_format=torch.channels_last)
    return images


def autocast(runtime: Runtime, cache: bool = True):
    """The precision context for forward passes. A CUDA graph's capture needs `cache` off: the
    cast copies of the weights must be made inside the graph, at every replay."""
    if runtime.autocast is None:
        return contextlib.nullcontext()
    return torch.autocast(
        device_type=runtime.device.type, dtype=runtime.autocast, cache_enabled=cache
    )


class Stopwatch:
    """Times work on the device: CUDA events on a GPU (the work is queued, so the host clock
    would time the queueing), the host clock elsewhere."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        if self.cuda:
            self.begin = torch.cuda.Event(enable_timing=True)
            self.end = torch.cuda.Event(enable_timing=True)

    def start(self) -> None:
        if self.cuda:
            self.begin.record()
        else:
            self.started = time.perf_counter()

    def seconds(self) -> float:
        """Seconds since start(), once the device has done the work queued since."""
        if self.cuda:
            self.end.record()
            self.end.synchronize()
            return self.begin.elapsed_time(self.end) / 1000
        return time.perf_counter() - self.started
