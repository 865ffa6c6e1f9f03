"""Exporting a checkpoint to ONNX with torch's exporter (`dynamo=True`): a dynamic batch, the
metadata of metadata.py, sealed; then checked before it is kept: onnxruntime must give torch's
logits on a fixed batch of images. Needs torch, onnx and onnxscript."""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mnist_cli.data.store import find_dataset, load_split_arrays, missing_files
from mnist_cli.errors import ExportError, MnistError
from mnist_cli.export.metadata import export_metadata, seal
from mnist_cli.inference.export_info import INPUT_NAME, OUTPUT_NAME, SEAL_KEY, SEAL_PLACEHOLDER

if TYPE_CHECKING:
    from mnist_cli.checkpoint.read import Checkpoint

EXPORTER_INSTALL = "pip install onnx onnxscript"
TOLERANCE = 1e-4  # the largest difference in any logit between onnxruntime and torch we keep
CHECK_IMAGES = 256  # the fixed batch the export is checked on
OPSET = 20  # the ONNX opset written (onnxruntime 1.17 and later run it)


@dataclass(frozen=True)
class CheckImages:
    """The batch an export is checked on: the first test images, or seeded noise without data."""

    pixels: np.ndarray  # uint8 [N, 28, 28]
    description: str  # "256 test images of mnist"


@dataclass(frozen=True)
class Exported:
    """What `mnist export` wrote, and how it was checked."""

    path: Path
    format: str  # "onnx" or "safetensors"
    bytes: int
    metadata: dict[str, str]
    checked_on: str  # what the export was checked against, in words
    max_abs_diff: float | None = None  # ONNX: the largest logit difference from torch
    opset: int | None = None
    sha256: str = ""  # ONNX: the SHA-256 of the bytes written, which the checkpoint may record


def check_images(checkpoint: Checkpoint, data_dir: Path) -> CheckImages:
    """The first CHECK_IMAGES test images of the checkpoint's dataset if they are on disk, else
    as many images of seeded uniform noise (the same on every run)."""
    dataset = find_dataset(checkpoint.dataset)
    if dataset is not None and not missing_files(dataset, data_dir):
        images, _ = load_split_arrays(dataset, data_dir, "test")
        return CheckImages(images[:CHECK_IMAGES], f"{CHECK_IMAGES} test images of {dataset.name}")
    noise = np.random.default_rng(0).integers(0, 256, (CHECK_IMAGES, 28, 28), dtype=np.uint8)
    return CheckImages(noise, f"{CHECK_IMAGES} images of random noise (no test data in {data_dir})")


def require_exporter() -> None:
    """A one-line error naming the install command if onnx or onnxscript is missing."""
    missing = []
    for name in ("onnx", "onnxscript"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ExportError(
            f"exporting to ONNX needs {' and '.join(missing)}: `pip install {' '.join(missing)}`"
        )


def _onnx_bytes(checkpoint: Checkpoint, metadata: dict[str, str]) -> bytes:
    """The sealed ONNX file of the checkpoint's model, with `metadata`."""
    import torch

    model = checkpoint.model.cpu().eval()
    example = torch.zeros(2, 1, 28, 28)
    with warnings.catch_warnings():  # the exporter's notes would break our one-line output
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model,
            (example,),
            dynamo=True,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_shapes=({0: torch.export.Dim("batch")},),
            opset_version=OPSET,
            verbose=False,
        )
    proto = program.model_proto
    del proto.metadata_props[:]
    for key, value in {**metadata, SEAL_KEY: SEAL_PLACEHOLDER}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    return seal(proto.SerializeToString())


def max_difference(checkpoint: Checkpoint, data: bytes, path: Path, images: CheckImages) -> float:
    """The largest absolute difference between onnxruntime's logits for the ONNX bytes and
    torch's, on the check images."""
    import tempfile

    from mnist_cli.inference.onnx_model import load_onnx
    from mnist_cli.inference.torch_model import TorchClassifier

    with tempfile.TemporaryDirectory() as folder:  # loaded exactly as predict will load it
        candidate = Path(folder) / path.name
        candidate.write_bytes(data)
        exported = load_onnx(candidate, threads=1).logits(images.pixels)
    expected = TorchClassifier.of(checkpoint).logits(images.pixels)
    return float(np.abs(exported - expected).max())


def export_onnx(checkpoint: Checkpoint, source: Path, path: Path, images: CheckImages) -> Exported:
    """Export `checkpoint` (read from `source`) to ONNX at `path`, written atomically, once
    onnxruntime matches torch on `images` within TOLERANCE."""
    from mnist_cli.files import write_atomically

    require_exporter()
    metadata = export_metadata(checkpoint, OPSET)
    try:
        data = _onnx_bytes(checkpoint, metadata)
    except MnistError:
        raise
    except Exception as error:  # the exporter raises many kinds; none may reach the user raw
        first_line = (str(error).strip().splitlines() or [""])[0][:120]
        raise ExportError(f"cannot export {source} to ONNX: {first_line}") from None
    difference = max_difference(checkpoint, data, path, images)
    if not difference <= TOLERANCE:
        raise ExportError(
            f"the ONNX export of {source} does not match torch (max abs logit difference"
            f" {difference:.2e} > {TOLERANCE:.0e} on {images.description}): nothing written"
        )
    write_atomically(path, data, "ONNX model")
    digest = hashlib.sha256(data).hexdigest()
    return Exported(
        path, "onnx", len(data), metadata, images.description, difference, OPSET, digest
    )
