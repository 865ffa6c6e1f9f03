"""What `mnist export` and `mnist train` call: a checkpoint file -> an export in a registered
format, with its default path; and the ONNX export that train keeps beside its checkpoint so that
`mnist predict` can answer without torch."""

from __future__ import annotations

import os
from pathlib import Path

from mnist_cli.errors import ExportError, MnistError, OutputError
from mnist_cli.export.onnx import Exported

SUFFIXES: dict[str, str] = {"onnx": ".onnx", "safetensors": ".safetensors"}  # config.ExportFormat


def default_path(source: Path, format_name: str) -> Path:
    """Where an export goes unless -o says: beside the checkpoint, `ckpt.pt` -> `ckpt.onnx`."""
    return Path(source).with_suffix(SUFFIXES[format_name])


def is_our_export(path: Path) -> bool:
    """A regular file that `mnist export` wrote: its metadata names our format (in the ONNX
    metadata_props or the safetensors header)."""
    from mnist_cli.files import Unreadable, read_bounded
    from mnist_cli.inference.export_info import FORMAT
    from mnist_cli.inference.onnx_model import MAX_BYTES

    try:
        return FORMAT.encode() in read_bounded(path, MAX_BYTES)
    except Unreadable:
        return False


def export_checkpoint(
    source: Path, format_name: str, path: Path | None = None, data_dir: Path = Path("data")
) -> Exported:
    """Export the checkpoint file `source` as `format_name` to `path` (default beside it). An ONNX
    export is checked on the first test images in `data_dir`, or on noise without them."""
    from mnist_cli.checkpoint.read import load_checkpoint
    from mnist_cli.files import check_writable

    source, path = Path(source), Path(path or default_path(source, format_name))
    if path.resolve() == source.resolve():
        raise ExportError(f"-o {path} is the checkpoint itself: give another file name")
    if path.is_dir():
        raise ExportError(f"-o {path} is a directory: give a file name")
    if os.path.lexists(path) and not is_our_export(path):  # as paths.py: nothing of a user's
        raise OutputError(
            f"{path} holds a file that is not an mnist export; it would be replaced: give"
            " another -o, or move the file away"
        )
    if format_name == "onnx":
        from mnist_cli.export.onnx import require_exporter

        require_exporter()  # before any work
    check_writable(path, f"{format_name} export")
    checkpoint = load_checkpoint(source)
    if format_name == "onnx":
        from mnist_cli.export.onnx import check_images, export_onnx

        return export_onnx(checkpoint, source, path, check_images(checkpoint, data_dir))
    from mnist_cli.export.safetensors import export_safetensors

    return export_safetensors(checkpoint, source, path)


def export_beside(source: Path, data_dir: Path) -> Exported:
    """After a run: `ckpt.onnx` beside `ckpt.pt`, checked, and its SHA-256 recorded in `ckpt.pt`
    (checkpoint/bind.py), so that a plain `mnist predict` needs no torch and runs no other
    export. Any failure is an ExportError: the checkpoint itself is already safe."""
    from mnist_cli.checkpoint.bind import record_export

    try:
        exported = export_checkpoint(source, "onnx", None, data_dir)
        record_export(source, exported.sha256)
        return exported
    except MnistError as error:
        raise ExportError(str(error)) from None
    except Exception as error:  # an export that fails must not fail the run that made the model
        raise ExportError(f"unexpected {type(error).__name__}: {error}") from None
