"""What an exported model says about itself, read back and checked: the metadata an ONNX file
keeps in its metadata_props (and a safetensors file in its header) as a typed `ExportInfo`, and
the seal, a SHA-256 of the ONNX file itself, that tells an untouched export from an altered one.
The writers (export/metadata.py) build what this reads. No torch and no onnx package: `mnist
predict` reads this on its fast path."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

from mnist_cli.data.store import normalisation_ok
from mnist_cli.errors import CheckpointError
from mnist_cli.inference.card import ModelCard

FORMAT = "mnist-cli-export"
FORMAT_VERSION = "1"
INPUT_NAME = "images"
OUTPUT_NAME = "logits"
SEAL_KEY = "model_sha256"
SEAL_PLACEHOLDER = "0" * 64
# How the seal's entry looks in the ONNX protobuf: key (field 1, 12 bytes), value (field 2, 64).
SEAL_PREFIX = b"\x0a\x0c" + SEAL_KEY.encode() + b"\x12\x40"


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes: what ties an export to the checkpoint file it came from."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as error:
        raise CheckpointError(f"cannot read {path}: {error.strerror or error}") from None


@dataclass(frozen=True)
class ExportInfo(ModelCard):
    """An export's metadata, checked and typed."""

    checkpoint_sha256: str = ""  # the source checkpoint's own `sha256` field
    # Older exports only: the SHA-256 of the source checkpoint file's bytes. The binding now goes
    # the other way (the checkpoint records its export's SHA-256: checkpoint/format.py).
    checkpoint_file_sha256: str = ""
    mnist_cli_version: str = ""
    opset: int | None = None


def _invalid(path: Path, why: str) -> CheckpointError:
    return CheckpointError(f"not a valid mnist export: {path}: {why}")


def read_metadata(metadata: dict[str, str], path: Path) -> ExportInfo:
    """The ExportInfo an export's metadata describes, or a one-line CheckpointError."""
    if metadata.get("format") != FORMAT:
        raise _invalid(path, "it has no mnist metadata (exported by another tool?)")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise _invalid(path, f"format version {metadata.get('format_version')!r} is not supported")
    try:
        class_names = json.loads(metadata["class_names"])
        mean, std = float(metadata["mean"]), float(metadata["std"])
        temperature = float(metadata.get("temperature", "1.0"))  # none in older exports
        opset = int(metadata["opset"]) if "opset" in metadata else None
        info = ExportInfo(
            model_name=metadata["model"],
            dataset=metadata["dataset"],
            class_names=class_names,
            mean=mean,
            std=std,
            temperature=temperature,
            checkpoint_sha256=metadata["checkpoint_sha256"],
            checkpoint_file_sha256=metadata.get("checkpoint_file_sha256", ""),  # before 0.2
            mnist_cli_version=metadata.get("mnist_cli_version", ""),
            opset=opset,
        )
    except (KeyError, ValueError, TypeError) as error:
        raise _invalid(
            path, f"its metadata is malformed ({type(error).__name__}: {error})"
        ) from None
    if not (
        isinstance(class_names, list)
        and class_names
        and all(isinstance(name, str) for name in class_names)
    ):
        raise _invalid(path, "its class names are malformed")
    if not (math.isfinite(mean) and math.isfinite(std) and std > 0):
        raise _invalid(path, "its normalisation is malformed")
    if not normalisation_ok(mean, std):
        raise _invalid(path, f"its normalisation mean {mean:g}, std {std:g} is no dataset's")
    if not (math.isfinite(temperature) and temperature > 0):
        raise _invalid(path, "its temperature is malformed")
    return info


def seal_state(data: bytes) -> str:
    """'missing' (no seal: not ours, or the seal itself was damaged), 'valid' or 'altered'."""
    start = data.find(SEAL_PREFIX)
    if start < 0 or data.count(SEAL_PREFIX) != 1:
        return "missing"
    begin = start + len(SEAL_PREFIX)
    recorded = data[begin : begin + 64]
    blank = data[:begin] + SEAL_PLACEHOLDER.encode() + data[begin + 64 :]
    return "valid" if hashlib.sha256(blank).hexdigest().encode() == recorded else "altered"
