"""Reading a checkpoint: the file read within its bound by torch's weights-only loader, every
field checked, the model rebuilt, and a typed `Checkpoint` out."""

from __future__ import annotations

import io
import math
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mnist_cli.checkpoint.format import (
    FORMAT,
    FORMAT_VERSION,
    EpochRecord,
    stored_config,
    stored_history,
    stored_text,
)
from mnist_cli.checkpoint.write import payload_sha256
from mnist_cli.config import TrainConfig
from mnist_cli.data.store import normalisation_ok
from mnist_cli.errors import CheckpointError
from mnist_cli.files import Unreadable, read_bounded
from mnist_cli.models import MODELS, build_model

MAX_CHECKPOINT_BYTES = 1 << 30  # ours are a few MB; whatever st_size says, no more is read


@dataclass(frozen=True)
class Checkpoint:
    """What a checkpoint file holds, checked and typed: the model rebuilt and ready for
    inference, and everything the file says of it."""

    model: nn.Module
    model_name: str
    dataset: str  # registry name in data/catalog.py
    class_names: list[str]
    mean: float  # the normalisation the model was trained with
    std: float
    config: TrainConfig | None  # None where the stored one does not fit this version
    history: list[EpochRecord]  # one per finished epoch
    training: dict[str, Any] | None = None  # the state to resume from (train/resume.py)
    torch_version: str = ""  # of the run that wrote it; "" if the file does not say
    created: str = ""  # ISO 8601, UTC
    sha256: str = ""  # the file's own `sha256` field (payload_sha256), checked on load
    # Divides the logits before softmax: fitted on the validation split (train/validation.py)
    # so that the probabilities shown mean what they say. 1.0: none fitted (older files too).
    temperature: float = 1.0

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    @property
    def final(self) -> EpochRecord | None:
        """The last finished epoch; None if there is none."""
        return self.history[-1] if self.history else None


def _invalid(path: Path, why: str) -> CheckpointError:
    return CheckpointError(f"not a valid mnist checkpoint: {path}: {why}")


def _read(path: Path) -> dict[str, Any]:
    try:
        raw = read_bounded(path, MAX_CHECKPOINT_BYTES)
    except Unreadable as why:
        raise CheckpointError(f"cannot read checkpoint {path}: {why}") from None
    if not raw:
        raise _invalid(path, "the file is empty")
    if not zipfile.is_zipfile(io.BytesIO(raw)):
        raise _invalid(
            path, "not a complete PyTorch checkpoint (truncated, or another kind of file)"
        )
    try:
        # weights_only=True: only tensors and plain values; never a fallback to full pickle.
        with warnings.catch_warnings():  # torch's warnings about odd files would break our one line
            warnings.simplefilter("ignore")
            data = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds here; none may reach the user raw
        text = str(error)
        if "weights_only" in text or "Unsupported global" in text:
            why = "it holds Python objects, not only tensors (refused for safety)"
        else:
            first_line = (text.strip().splitlines() or [""])[0][:120]
            why = f"damaged or truncated ({type(error).__name__}: {first_line})"
        raise _invalid(path, why) from None
    if not isinstance(data, dict):
        raise _invalid(path, f"expected a dict, found {type(data).__name__}")
    return data


def _field(data: dict, key: str, kind: type | tuple[type, ...], path: Path):
    value = data.get(key)
    if not isinstance(value, kind):
        raise _invalid(path, f"field {key!r} is missing or of the wrong type")
    return value


def _check_state_dict(model: nn.Module, state: dict, path: Path) -> None:
    expected = model.state_dict()
    if set(state) != set(expected):
        missing = sorted(set(expected) - set(state))
        extra = sorted(set(state) - set(expected))
        raise _invalid(
            path, f"weights do not fit the model (missing {missing[:3]}, extra {extra[:3]})"
        )
    for key, tensor in expected.items():
        value = state[key]
        if not isinstance(value, torch.Tensor):
            raise _invalid(path, f"weight {key!r} is not a tensor")
        if value.shape != tensor.shape or value.dtype != tensor.dtype:
            raise _invalid(path, f"weight {key!r} has shape {tuple(value.shape)} {value.dtype}")
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise _invalid(path, f"weight {key!r} holds NaN or infinity")


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> Checkpoint:
    """Load, validate and rebuild the model a checkpoint describes."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(
            f"no checkpoint at {path}: train one with `mnist train` or give its path"
        )
    if path.is_dir():
        raise CheckpointError(f"{path} is a directory, not a checkpoint file")
    data = _read(path)
    _check_header(data, path)
    name, kwargs = _model_description(data, path)
    class_names = _field(data, "class_names", list, path)
    if not class_names or not all(isinstance(c, str) for c in class_names):
        raise _invalid(path, "class names are malformed")
    if any(not character.isprintable() for name in class_names for character in name):
        raise _invalid(path, "class names hold control characters (refused for your terminal)")
    if kwargs.get("num_classes", 10) != len(class_names):
        raise _invalid(path, "class names do not match the model's outputs")
    mean, std = _normalisation(data, path)
    state = _field(data, "state_dict", dict, path)
    try:
        model = build_model(name, **kwargs)
    except TypeError as error:
        raise _invalid(path, f"model arguments do not fit {name}: {error}") from None
    _check_state_dict(model, state, path)
    model.load_state_dict(state)
    model.to(device).eval()
    training = data.get("training")
    return Checkpoint(
        model=model,
        model_name=name,
        dataset=stored_text(data.get("dataset")) or "mnist",
        class_names=list(class_names),
        mean=mean,
        std=std,
        config=stored_config(data.get("config")),
        history=_history(data.get("history"), path),
        training=training if isinstance(training, dict) else None,
        torch_version=stored_text(data.get("torch_version")),
        created=stored_text(data.get("created")),
        sha256=stored_text(data.get("sha256")),
        temperature=_temperature(data, path),
    )


def read_verified(path: Path) -> dict[str, Any]:
    """The checkpoint's dict as saved, checked to be ours, of this version and unaltered; the
    model is not built (checkpoint/bind.py rewrites a field of it)."""
    data = _read(Path(path))
    _check_header(data, Path(path))
    return data


def _check_header(data: dict, path: Path) -> None:
    """Ours, of this format version, and unaltered since it was written."""
    if data.get("format") != FORMAT:
        raise _invalid(path, "it was not written by mnist (no format marker)")
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        hint = ": written by an older mnist, train it again" if version == 1 else ""
        raise _invalid(path, f"format version {version!r} is not supported{hint}")
    if data.get("sha256") != payload_sha256(data):
        raise _invalid(path, "its SHA-256 does not match its content (altered or damaged)")


def _normalisation(data: dict, path: Path) -> tuple[float, float]:
    norm = _field(data, "normalization", dict, path)
    mean, std = norm.get("mean"), norm.get("std")
    if not isinstance(mean, float) or not isinstance(std, float) or not std > 0:
        raise _invalid(path, "normalisation is malformed")
    if not (math.isfinite(mean) and math.isfinite(std)):
        raise _invalid(path, "normalisation holds NaN or infinity")
    if not normalisation_ok(mean, std):
        raise _invalid(path, f"normalisation mean {mean:g}, std {std:g} is no dataset's")
    return mean, std


def _model_description(data: dict, path: Path) -> tuple[str, dict[str, int]]:
    model_info = _field(data, "model", dict, path)
    name = model_info.get("name")
    kwargs = model_info.get("kwargs")
    if name not in MODELS:
        raise _invalid(path, f"unknown model {name!r}")
    if not isinstance(kwargs, dict) or not all(
        isinstance(k, str) and type(v) is int and 0 < v <= 4096 for k, v in kwargs.items()
    ):
        raise _invalid(path, "model arguments are malformed")
    return name, kwargs


def _temperature(data: dict, path: Path) -> float:
    value = data.get("temperature", 1.0)  # files written before calibration have none
    if not isinstance(value, float) or not 0 < value < float("inf"):
        raise _invalid(path, "its temperature is malformed")
    return value


def _history(stored, path: Path) -> list[EpochRecord]:
    history = stored_history(stored)
    if history is None:
        raise _invalid(path, "its history is malformed")
    return history
