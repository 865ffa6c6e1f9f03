"""Exporting a checkpoint's weights as safetensors, for users who want weights without pickle:
the tensors of its state dict, and the metadata of metadata.py as the header's `__metadata__`.
Read back and compared bit for bit before it is kept."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mnist_cli.errors import ExportError
from mnist_cli.export.metadata import export_metadata
from mnist_cli.export.onnx import Exported
from mnist_cli.files import write_atomically

if TYPE_CHECKING:
    from mnist_cli.checkpoint.read import Checkpoint

SAFETENSORS_INSTALL = "pip install safetensors"


def export_safetensors(checkpoint: Checkpoint, source: Path, path: Path) -> Exported:
    """Write the weights of `checkpoint` (read from `source`) with its metadata at `path`."""
    try:
        from safetensors.torch import load, save
    except ImportError:
        why = f"exporting to safetensors needs safetensors: `{SAFETENSORS_INSTALL}`"
        raise ExportError(why) from None
    import torch

    state = {
        key: value.detach().cpu().contiguous()
        for key, value in checkpoint.model.state_dict().items()
    }
    metadata = export_metadata(checkpoint)
    data = save(state, metadata=metadata)
    reread = load(data)
    if set(reread) != set(state) or not all(torch.equal(reread[k], state[k]) for k in state):
        raise ExportError(f"the safetensors export of {source} does not read back: nothing written")
    write_atomically(path, data, "safetensors file")
    checked = f"{len(state)} tensors read back bit for bit"
    return Exported(path, "safetensors", len(data), metadata, checked)
