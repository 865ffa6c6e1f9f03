"""`mnist export`: a checkpoint as ONNX (to run with onnxruntime alone) or safetensors (weights
without pickle), with the metadata a consumer needs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from mnist_cli.cli.options import (
    OUTPUT,
    DataDir,
    Json,
    Quiet,
    checkpoint_argument,
    choices,
    refuse_export,
)
from mnist_cli.cli.output import Output, output_of, shown
from mnist_cli.config import DEFAULT_CHECKPOINT, DEFAULT_DATA_DIR, ExportFormat

if TYPE_CHECKING:
    from mnist_cli.export.onnx import Exported

EXAMPLES = (
    "Examples:\n\n  mnist export                       (ckpt.pt -> ckpt.onnx)\n\n"
    "  mnist export runs/big.pt -o big.onnx --json\n\n"
    "  mnist export --format safetensors  (ckpt.pt -> ckpt.safetensors)\n\n"
    "  mnist predict --checkpoint ckpt.onnx digit.png   (no torch)"
)


def export(
    ctx: typer.Context,
    checkpoint: checkpoint_argument("The checkpoint to export.") = DEFAULT_CHECKPOINT,
    format_name: Annotated[
        ExportFormat,
        typer.Option(
            "--format",
            metavar="NAME",
            help=f"{choices(ExportFormat)}: the model for onnxruntime, or the weights alone.",
        ),
    ] = "onnx",
    path: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Where to write it: by default beside the checkpoint (ckpt.onnx).",
            rich_help_panel=OUTPUT,
        ),
    ] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Export a checkpoint as ONNX (runs without torch) or safetensors, checked before kept."""
    output = output_of(ctx, quiet)
    with output.handled():
        refuse_export(checkpoint, "export")
        from mnist_cli.export.formats import export_checkpoint

        exported = export_checkpoint(checkpoint, format_name, path, data_dir)
    if as_json:
        output.json(_json(checkpoint, exported))
    else:
        _report(output, checkpoint, exported)


def _report(output: Output, source: Path, exported: Exported) -> None:
    table = Table(title=shown(f"{source} -> {exported.path}"), show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row(
        "format", exported.format + (f" (opset {exported.opset})" if exported.opset else "")
    )
    table.add_row("model", shown(exported.metadata["model"]))
    table.add_row("dataset", shown(exported.metadata["dataset"]))
    table.add_row("size", f"{exported.bytes:,} bytes")
    if exported.max_abs_diff is not None:
        checked = f"max abs logit difference from torch {exported.max_abs_diff:.2e}"
        table.add_row("checked", shown(f"{checked} on {exported.checked_on}"))
    else:
        table.add_row("checked", shown(exported.checked_on))
    table.add_row("checkpoint SHA-256", exported.metadata["checkpoint_sha256"])
    output.out.print(table)


def _json(source: Path, exported: Exported) -> dict:
    """The document `mnist export --json` prints."""
    return {
        "checkpoint": str(source),
        "path": str(exported.path),
        "format": exported.format,
        "bytes": exported.bytes,
        "opset": exported.opset,
        "max_abs_diff": exported.max_abs_diff,
        "checked_on": exported.checked_on,
        "metadata": exported.metadata,
    }
