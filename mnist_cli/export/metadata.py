"""What an export says about itself, written in one place: the metadata an ONNX file keeps in its
metadata_props and a safetensors file in its header (`export_metadata`; read back by
inference/export_info.py), and the SHA-256 seal put into an ONNX file once it is serialised.
No torch is imported here."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

from mnist_cli import __version__
from mnist_cli.inference.export_info import (
    FORMAT,
    FORMAT_VERSION,
    SEAL_PLACEHOLDER,
    SEAL_PREFIX,
)

if TYPE_CHECKING:
    from mnist_cli.checkpoint.read import Checkpoint

INPUT_LAYOUT = (
    "images: float32 [batch, 1, 28, 28] (NCHW), white ink on black, normalised as"
    " (pixel / 255 - mean) / std"
)
OUTPUT_LAYOUT = (
    "logits: float32 [batch, classes]; softmax(logits / temperature) gives the probabilities"
)


def export_metadata(checkpoint: Checkpoint, opset: int | None = None) -> dict[str, str]:
    """THE metadata of an export of `checkpoint`, as strings; the same for the same checkpoint,
    so exporting it again writes the same bytes (the digest its checkpoint records). A new key
    is added here and read in `read_metadata`."""
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": checkpoint.model_name,
        "dataset": checkpoint.dataset,
        "class_names": json.dumps(checkpoint.class_names),
        "mean": repr(checkpoint.mean),
        "std": repr(checkpoint.std),
        "temperature": repr(checkpoint.temperature),
        "input": INPUT_LAYOUT,
        "output": OUTPUT_LAYOUT,
        "checkpoint_sha256": checkpoint.sha256,
        "mnist_cli_version": __version__,
        "torch_version": checkpoint.torch_version,
    }
    if opset is not None:
        metadata["opset"] = str(opset)
    return metadata


def seal(data: bytes) -> bytes:
    """Serialised ONNX bytes whose seal entry holds the placeholder -> the same bytes with the
    SHA-256 of the placeholder version in its place (same length, so the protobuf stays valid)."""
    marker = SEAL_PREFIX + SEAL_PLACEHOLDER.encode()
    assert data.count(marker) == 1, "the seal placeholder must occur exactly once"
    digest = hashlib.sha256(data).hexdigest()
    return data.replace(marker, SEAL_PREFIX + digest.encode())
