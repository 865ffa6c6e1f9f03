"""How a run uses its machine: CPU threads, number precision, memory layout and compilation.
None of it changes what is learned beyond rounding; all of it is chosen from the device, and each
choice can be forced, so the GPU paths also run (slowly) on a CPU where the tests live."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
from torch import nn

from mnist_cli.errors import MnistError


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    threads: int  # torch's intra-op threads on the CPU
    autocast: torch.dtype | None  # None: float32 throughout
    channels_last: bool
    compile: bool


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def default_threads() -> int:
    """One thread per core this process may use. More threads than cores is the costly mistake
    (threads wait on each other), so the count never exceeds the cores."""
    return max(1, available_cores())


def plan_runtime(
    device: torch.device,
    threads: int | None = None,
    precision: str = "auto",
    channels_last: bool | None = None,
    compile: bool = False,
) -> Runtime:
    """Settings for `device`: bf16 autocast and channels_last on CUDA, plain float32 elsewhere
    (a CPU without bf16 units runs it slower). `precision` is "auto", "fp32" or "bf16"."""
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
    )


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


def prepare_inputs(inputs: torch.Tensor, runtime: Runtime) -> torch.Tensor:
    if runtime.channels_last and inputs.dim() == 4:
        return inputs.contiguous(memory_format=torch.channels_last)
    return inputs


def autocast(runtime: Runtime):
    """The precision context for forward passes."""
    if runtime.autocast is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=runtime.device.type, dtype=runtime.autocast)
