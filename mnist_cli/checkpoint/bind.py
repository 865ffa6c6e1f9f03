"""A checkpoint bound to its ONNX export: the export's SHA-256 recorded in the checkpoint
(`export_sha256`, format.py), so that `mnist predict` runs `ckpt.onnx` only when `ckpt.pt`
names exactly those bytes, and an export altered and sealed again answers for nothing."""

from __future__ import annotations

import re
from pathlib import Path

from mnist_cli.checkpoint.format import EXPORT_FIELD
from mnist_cli.checkpoint.read import read_verified
from mnist_cli.checkpoint.write import save_checkpoint

DIGEST = re.compile(r"[0-9a-f]{64}")


def record_export(path: Path, export_sha256: str) -> None:
    """Rewrite the checkpoint at `path` (atomically, as every save) with `export_sha256`; its
    own `sha256` stays as it is, since it does not cover that field."""
    assert DIGEST.fullmatch(export_sha256), "a SHA-256 in hex"
    data = read_verified(path)
    if data.get(EXPORT_FIELD) == export_sha256:
        return
    data[EXPORT_FIELD] = export_sha256
    save_checkpoint(data, Path(path))
