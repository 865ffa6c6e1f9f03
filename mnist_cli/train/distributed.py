"""Data-parallel training under torchrun: the process group (the environment it sets is read by
train/cluster.py), each rank's share of a batch, the DistributedDataParallel wrapper, and the few
collectives the loop needs (the stop flag, the mean loss, the test scores rank 0 computed). In one
process every part of it is a no-op, so the loop reads the same either way.

`--batch-size` stays global: every rank draws the same seeded permutation and takes its slice of
each batch, so N processes take the steps one process would, on the same images.
"""

from __future__ import annotations

import gc
import os
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
from torch import nn

from mnist_cli.errors import ClusterError, MnistError
from mnist_cli.train.cluster import Cluster
from mnist_cli.train.interrupts import StopRequest
from mnist_cli.train.runtime import Runtime

if TYPE_CHECKING:
    from mnist_cli.checkpoint.read import Checkpoint

TIMEOUT_ENV = "MNIST_COLLECTIVE_TIMEOUT"  # seconds a rank waits on the others before giving up
DEFAULT_TIMEOUT = 300.0  # covers rank 0's test pass and checkpoint write on a slow CPU


def collective_timeout() -> timedelta:
    raw = os.environ.get(TIMEOUT_ENV, "")
    try:
        seconds = float(raw) if raw else DEFAULT_TIMEOUT
    except ValueError:
        raise MnistError(f"{TIMEOUT_ENV} must be a number of seconds, not {raw!r}") from None
    if seconds <= 0:
        raise MnistError(f"{TIMEOUT_ENV} must be a positive number of seconds")
    return timedelta(seconds=seconds)


def join(cluster: Cluster, runtime: Runtime) -> Runtime:
    """Join the process group (NCCL on CUDA, gloo on the CPU) and return the runtime on this
    rank's device (GPU `local_rank` on CUDA). Does nothing in one process."""
    if not cluster.distributed:
        return runtime
    kind = runtime.device.type
    if kind not in ("cpu", "cuda"):
        raise MnistError(f"training on several processes runs on cuda or cpu, not {kind}")
    if kind == "cuda":
        if cluster.local_rank >= torch.cuda.device_count():
            raise MnistError(
                f"local rank {cluster.local_rank} has no GPU: this machine has "
                f"{torch.cuda.device_count()}; start at most that many processes on it"
            )
        torch.cuda.set_device(cluster.local_rank)
        # A rank's batches are a share of --batch-size, never the full batch that the loop's
        # CUDA graph is captured for (and DDP's gradient hooks are not in that graph): eager steps.
        runtime = replace(
            runtime, device=torch.device("cuda", cluster.local_rank), cuda_graphs=False
        )
    try:
        dist.init_process_group(
            "nccl" if kind == "cuda" else "gloo",
            timeout=collective_timeout(),
            device_id=runtime.device if kind == "cuda" else None,
        )
    except (RuntimeError, ValueError) as error:
        raise ClusterError(
            f"cannot join the other processes of the run: {_first_line(error)}"
        ) from None
    return runtime


def leave(cluster: Cluster) -> None:
    """Destroy the process group, once the objects that hold it (DDP's reducer, in reference
    cycles) are collected: a group left to the interpreter's exit can abort the process."""
    if cluster.distributed and dist.is_initialized():
        gc.collect()
        dist.destroy_process_group()


def wrap(net: nn.Module, cluster: Cluster, runtime: Runtime) -> nn.Module:
    """`net` (the model as it runs) wrapped in DistributedDataParallel, which averages the
    gradients of every step across ranks. Its buffers (batch norm's running statistics) are
    rank 0's, broadcast at every forward pass; on CUDA the batch norm layers were made
    SyncBatchNorm first (sync_batch_norm), so they are the statistics of the whole batch."""
    if not cluster.distributed:
        return net
    cuda = runtime.device.type == "cuda"
    return nn.parallel.DistributedDataParallel(
        net, device_ids=[runtime.device.index] if cuda else None
    )


def sync_batch_norm(model: nn.Module, cluster: Cluster, runtime: Runtime) -> nn.Module:
    """On CUDA, batch norm layers that normalise with the statistics of the global batch;
    elsewhere the model unchanged (SyncBatchNorm runs only on CUDA)."""
    if cluster.distributed and runtime.device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return model


def batch_norm_note(model: nn.Module, cluster: Cluster) -> str:
    """What the summary says of batch norm in this run ("" in one process)."""
    if not cluster.distributed:
        return ""
    layers = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not layers:
        return "none in this model"
    if any(isinstance(m, nn.SyncBatchNorm) for m in layers):
        return "synchronised across ranks (SyncBatchNorm)"
    return "per rank; rank 0's running statistics are saved"


def mean_across(value: float, cluster: Cluster, device: torch.device) -> float:
    """The mean of `value` over all ranks (every rank must call it)."""
    if not cluster.distributed:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    _collective(dist.all_reduce, tensor)
    return tensor.item() / cluster.world_size


def agreed(stop: Callable[[], bool], cluster: Cluster, device: torch.device) -> Callable[[], bool]:
    """`stop` as every rank sees it: true on all of them once it is true on any one, so that all
    stop at the same step (every rank calls it at the same points of the loop). A StopRequest
    also learns the signal that stopped another rank (SIGTERM before SIGINT), so that every rank,
    whichever ends first, exits with the same code."""
    if not cluster.distributed:
        return stop

    def any_rank() -> bool:
        asked = stop()
        code = (getattr(stop, "signal", None) or 1) if asked else 0  # a signal's number, or 1
        flag = torch.tensor([code], dtype=torch.int32, device=device)
        _collective(dist.all_reduce, flag, op=dist.ReduceOp.MAX)
        if isinstance(stop, StopRequest) and flag.item() > 1:
            stop.elsewhere = int(flag.item())
        return bool(flag.item())

    return any_rank


def from_main(values: list[Any], cluster: Cluster) -> list[Any]:
    """Rank 0's `values` (plain Python objects), on every rank."""
    if not cluster.distributed:
        return values
    values = list(values)
    _collective(dist.broadcast_object_list, values, src=0)
    return values


def barrier(cluster: Cluster) -> None:
    if cluster.distributed:
        _collective(dist.barrier)


def _collective(operation, *args, **kwargs) -> None:
    try:
        operation(*args, **kwargs)
    except (RuntimeError, ValueError) as error:
        raise lost(error) from None


def lost(error: BaseException) -> ClusterError:
    """The one line a rank prints when the others stopped answering."""
    return ClusterError(
        "another process of the run died or stopped answering, so this one stops too "
        f"({_first_line(error)})"
    )


def translated(error: RuntimeError, cluster: Cluster) -> Exception:
    """What to raise for an error from inside a step: DDP's gradient all-reduce reports a peer
    that is gone as a RuntimeError (DistBackendError, or the backend's own words)."""
    words = ("Gloo", "NCCL", "Connection", "peer", "Timed out", "timed out")
    if cluster.distributed and (
        isinstance(error, dist.DistError) or any(word in str(error) for word in words)
    ):
        return lost(error)
    return error


def check_resume(resume: Checkpoint | None, cluster: Cluster, path: Path) -> None:
    """A run resumes with the world size it was saved with: its batch shards, its batch norm
    statistics and its random streams depend on it. (Checkpoints that do not say: one.)"""
    if resume is None:
        return
    saved = (resume.training or {}).get("world_size", 1)
    if saved != cluster.world_size:
        plural = "es" if saved != 1 else ""
        raise MnistError(
            f"{path} was saved by a run of {saved} process{plural} and this one has "
            f"{cluster.world_size}: resume it with the same number (mnist train --resume --nproc "
            f"{saved}), or start a new run with another --checkpoint"
        )


def _first_line(error: BaseException) -> str:
    """The gist of a backend's error: its first line, less the source location gloo puts first."""
    text = re.sub(r"^\[[^\]]*\]\s*", "", str(error).strip())
    return (text.splitlines() or [type(error).__name__])[0][:160]
