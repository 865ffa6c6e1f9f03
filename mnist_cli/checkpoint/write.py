"""Writing a checkpoint: the dict of the schema (`make_checkpoint`), its SHA-256, and the atomic
save. What a checkpoint holds, and why: the docstring of checkpoint/format.py."""

from __future__ import annotations

import hashlib
import io
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from mnist_cli import __version__
from mnist_cli.checkpoint.format import EXPORT_FIELD, FORMAT, FORMAT_VERSION, EpochRecord
from mnist_cli.config import TrainConfig
from mnist_cli.errors import OutputError
from mnist_cli.files import check_writable, write_atomically
from mnist_cli.paths import refuse_directory

if TYPE_CHECKING:
    from mnist_cli.data.catalog import Dataset


def payload_sha256(data: dict[str, Any]) -> str:
    """SHA-256 of every tensor's bytes, dtype and shape and of every plain value, in a fixed
    order; the `sha256` field itself is left out, and `export_sha256` (format.py says why)."""
    digest = hashlib.sha256()
    _feed(digest, {k: v for k, v in data.items() if k not in ("sha256", EXPORT_FIELD)})
    return digest.hexdigest()


def _feed(digest, value) -> None:
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous()
        digest.update(f"tensor {tensor.dtype} {tuple(tensor.shape)}:".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy())  # no copy
    elif isinstance(value, dict):
        digest.update(f"dict {len(value)}:".encode())
        for key in sorted(value, key=lambda k: (type(k).__name__, repr(k))):
            _feed(digest, key)
            _feed(digest, value[key])
    elif isinstance(value, list | tuple):
        digest.update(f"{type(value).__name__} {len(value)}:".encode())
        for item in value:
            _feed(digest, item)
    else:
        digest.update(f"{type(value).__name__} {value!r};".encode())


def make_checkpoint(
    *,
    model: nn.Module,
    config: TrainConfig,
    dataset: Dataset,
    history: list[EpochRecord],
    training: dict[str, Any] | None = None,
    temperature: float = 1.0,
) -> dict[str, Any]:
    """The dict `save_checkpoint` writes: a model trained as `config` says on `dataset`."""
    checkpoint = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": {
            "name": config.model,
            "kwargs": {"num_classes": len(dataset.class_names), **config.model_kwargs()},
        },
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "normalization": {"mean": float(dataset.mean), "std": float(dataset.std)},
        "dataset": dataset.name,
        "class_names": list(dataset.class_names),
        "config": asdict(config),
        "history": [asdict(row) for row in history],
        "torch_version": str(torch.__version__),
        "mnist_cli_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "training": training,
        "temperature": float(temperature),
    }
    checkpoint["sha256"] = payload_sha256(checkpoint)
    return checkpoint


def prepare_checkpoint_path(path: Path) -> None:
    """Before training starts, make sure `path` can be written (so a mistake costs no epoch),
    and delete the temporary files that a killed run left beside it."""
    path = Path(path)
    refuse_directory(path)
    check_writable(path, "checkpoint")


def save_checkpoint(checkpoint: dict[str, Any], path: Path) -> None:
    """Write atomically: a crash at any moment leaves the old checkpoint or the new one."""
    path = Path(path)
    # Serialised in memory first: torch's zip writer turns a full disk into a RuntimeError
    # ("unexpected pos"); a plain write reports it as the OSError it is.
    buffer = io.BytesIO()
    try:
        torch.save(checkpoint, buffer)
    except OSError as error:
        raise OutputError(f"cannot write checkpoint {path}: {error.strerror or error}") from None
    write_atomically(path, buffer.getbuffer(), "checkpoint")
