"""CUDA graphs: a training step of this small network is a few hundred kernels of a few
microseconds each, so on a GPU an eager step waits on the host launching them. Captured once as a
graph, the forward and backward pass (gather, normalise, augment, model, loss, gradients, loss
sum) is one launch; the fused optimiser step after it is one or two more.

Only `CudaGraph` touches the CUDA API. `Graphed` (when to warm up, capture and replay, and the
buffers a replay reads) takes the backend as an argument, so the tests run it on a CPU."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch

from mnist_cli.errors import DeviceError
from mnist_cli.train.runtime import Runtime

WARMUP_STEPS = 3  # eager steps before the capture: cuDNN picks its kernels, allocations settle

Body = Callable[[torch.Tensor, torch.Tensor | None], None]  # (index, uniform) -> grads, loss sum


class CudaGraph:
    """The CUDA side: a side stream for the warm-up steps, as torch.cuda.graphs asks, and one
    torch.cuda.CUDAGraph."""

    def __init__(self) -> None:
        self.graph = torch.cuda.CUDAGraph()
        self.side = torch.cuda.Stream()

    @contextlib.contextmanager
    def warmup(self):
        self.side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self.side):
            yield
        torch.cuda.current_stream().wait_stream(self.side)

    def capture(self, body: Callable[[], None]) -> None:
        with torch.cuda.graph(self.graph):
            body()

    def replay(self) -> None:
        self.graph.replay()


def graph_backend(runtime: Runtime) -> CudaGraph | None:
    """A fresh graph for a run whose runtime asks for CUDA graphs, else None (eager steps)."""
    return CudaGraph() if runtime.cuda_graphs else None


class Graphed:
    """Forward and backward passes of full batches: a few eager warm-up steps, then one capture,
    then a replay per step. The batch's indices and random numbers are copied into static buffers
    that the graph reads. The captured backward writes the gradients into buffers of its own, so
    nothing may set them to None after the capture (an eager step zeroes them in place)."""

    def __init__(
        self,
        body: Body,
        optimizer: torch.optim.Optimizer,
        batch_size: int,
        uniform_columns: int | None,
        device: torch.device,
        backend,
    ):
        self.body = body
        self.optimizer = optimizer
        self.backend = backend
        self.index = torch.zeros(batch_size, dtype=torch.long, device=device)
        self.uniform = (
            None
            if uniform_columns is None
            else torch.zeros(batch_size, uniform_columns, device=device)
        )
        self.warm = 0  # warm-up steps done
        self.captured = False
        self.replays = 0

    def forward_backward(self, index: torch.Tensor, uniform: torch.Tensor | None) -> None:
        """The gradients of one full batch, by whichever of the three stages is due."""
        if not self.captured and self.warm < WARMUP_STEPS:
            self.optimizer.zero_grad(set_to_none=True)
            with self.backend.warmup():
                self.body(index, uniform)
            self.warm += 1
            return
        self.index.copy_(index)
        if self.uniform is not None and uniform is not None:
            self.uniform.copy_(uniform)
        if not self.captured:
            self.optimizer.zero_grad(set_to_none=True)  # the capture allocates the grads
            try:
                self.backend.capture(lambda: self.body(self.index, self.uniform))
            except RuntimeError as why:
                reason = (str(why).strip().splitlines() or ["unknown"])[0][:120]
                raise DeviceError(
                    f"this GPU could not capture the training step as a CUDA graph ({reason}):"
                    " run with MNIST_CUDA_GRAPHS=0 to train without graphs"
                ) from why
            self.captured = True
        self.backend.replay()
        self.replays += 1
