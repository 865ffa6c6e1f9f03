"""An exported ONNX model, run with onnxruntime alone: no torch is imported, so `mnist predict`
and `mnist evaluate` answer in a fraction of a second. Every file is checked before it runs:
its size, its seal, its metadata, its input and output shapes, and that it needs no other file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mnist_cli.data.store import normalise_array
from mnist_cli.errors import CheckpointError
from mnist_cli.inference.card import ModelCard, card_of
from mnist_cli.inference.export_info import (
    INPUT_NAME,
    OUTPUT_NAME,
    ExportInfo,
    file_sha256,
    read_metadata,
    seal_state,
)
from mnist_cli.inference.onnx_graph import check_graph, parse

MAX_BYTES = 256 * 2**20  # our models are under 1 MB; a larger file is not one of ours
BATCH = 2000  # images per onnxruntime call when scoring a test set
RUNTIME_INSTALL = "pip install onnxruntime"


@dataclass(frozen=True)
class OnnxModel(ModelCard):
    """A checked export and its onnxruntime session; a Classifier (inference/card.py), as a
    checkpoint is, so predict and evaluate take either."""

    path: Path = Path()
    info: ExportInfo | None = None
    session: Any = field(default=None, repr=False)  # onnxruntime.InferenceSession
    runtime: str = "onnxruntime"

    def logits(self, pixels: np.ndarray) -> np.ndarray:
        """Images [N, 28, 28] (uint8, or float in [0, 1]) -> float32 logits [N, classes]."""
        inputs = normalise_array(pixels, self.mean, self.std)
        try:
            outputs = [
                self.session.run([OUTPUT_NAME], {INPUT_NAME: inputs[i : i + BATCH]})[0]
                for i in range(0, len(inputs), BATCH)
            ]
        except Exception as error:  # onnxruntime's own kinds (Fail, bad_alloc): a sentence
            text = (str(error).strip().splitlines() or [""])[0][:120]
            raise CheckpointError(f"the model {self.path} failed to run ({text})") from None
        return np.concatenate(outputs) if outputs else np.zeros((0, len(self.class_names)))


def _invalid(path: Path, why: str) -> CheckpointError:
    return CheckpointError(f"not a valid mnist export: {path}: {why}")


def _read(path: Path) -> bytes:
    """The file's bytes, bounded (files.read_bounded: a FIFO or a device is refused at once)."""
    from mnist_cli.files import Unreadable, read_bounded

    try:
        data = read_bounded(path, MAX_BYTES, "a model file")
    except Unreadable as error:
        why = str(error)
        if why == "no such file":
            raise CheckpointError(
                f"no model at {path}: export one with `mnist export` or give its path"
            ) from None
        if why.startswith("is larger"):
            raise _invalid(path, f"it {why}, far larger than any mnist model") from None
        if why.startswith("is "):
            raise CheckpointError(f"{path} {why}") from None
        raise CheckpointError(f"{path}: {why}") from None
    if not data:
        raise _invalid(path, "the file is empty")
    return data


def _session(data: bytes, path: Path, threads: int):
    try:
        import onnxruntime
    except ImportError:
        raise CheckpointError(f"running {path} needs onnxruntime: `{RUNTIME_INSTALL}`") from None
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 4  # errors come back as exceptions; nothing on stderr
    try:
        # From bytes, not from the path: a model that points at external data files fails here
        # instead of reading whatever files sit beside it.
        return onnxruntime.InferenceSession(
            data, sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as error:  # onnxruntime raises its own kinds; none may reach the user raw
        text = (str(error).strip().splitlines() or [""])[0]
        if "external" in text.lower():
            why = "it keeps its weights in external data files; export it as one file"
        else:
            why = f"damaged, truncated or not ONNX ({text[:120]})"
        raise _invalid(path, why) from None


def _check_shapes(session, info: ExportInfo, path: Path) -> None:
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or inputs[0].name != INPUT_NAME or inputs[0].type != "tensor(float)":
        found = ", ".join(f"{i.name} {i.type}" for i in inputs)
        raise _invalid(path, f"expected one float input {INPUT_NAME!r}, found {found}")
    if list(inputs[0].shape)[1:] != [1, 28, 28] or len(inputs[0].shape) != 4:
        raise _invalid(path, f"its input has shape {inputs[0].shape}, not [batch, 1, 28, 28]")
    shape = list(outputs[0].shape) if len(outputs) == 1 else []
    if outputs[0].name != OUTPUT_NAME or len(shape) != 2 or shape[1] != len(info.class_names):
        raise _invalid(path, f"its output is not [batch, {len(info.class_names)}] logits ({shape})")


def load_onnx(path: Path, threads: int = 0) -> OnnxModel:
    """Load and check an export of `mnist export`; `threads` 0 lets onnxruntime choose. Its
    bytes are checked before onnxruntime sees them (onnx_graph.py: only our operators)."""
    path = Path(path)
    data = _read(path)
    graph = parse(data, path)  # first: says what kind of file this is
    state = seal_state(data)
    if state == "altered":
        raise _invalid(path, "its SHA-256 does not match its content (altered or damaged)")
    info = read_metadata(graph.metadata, path)
    if state == "missing":
        raise _invalid(path, "its SHA-256 seal is missing (altered or damaged)")
    check_graph(graph, path)
    session = _session(data, path, threads)
    _check_shapes(session, info, path)
    return OnnxModel(**card_of(info), path=path, info=info, session=session)


def matching_export(checkpoint_path: Path) -> OnnxModel | None:
    """The export beside a checkpoint (`ckpt.onnx` beside `ckpt.pt`) if that checkpoint names
    it: its header (read without torch) records the SHA-256 of exactly these bytes
    (checkpoint/format.py, `export_sha256`). None if there is none, the checkpoint names
    another or none, it does not load, or onnxruntime is missing: the caller then uses the
    checkpoint with torch, never another model's answer."""
    from mnist_cli.checkpoint.format import EXPORT_FIELD, read_header

    checkpoint_path = Path(checkpoint_path)
    beside = checkpoint_path.with_suffix(".onnx")
    if beside == checkpoint_path or not beside.is_file() or not checkpoint_path.is_file():
        return None
    header = read_header(checkpoint_path) or {}
    recorded = header.get(EXPORT_FIELD)
    if not isinstance(recorded, str) or recorded != file_sha256(beside):
        return None
    try:
        model = load_onnx(beside, threads=1)  # a few images: one thread starts fastest
    except CheckpointError:
        return None
    if model.info.checkpoint_sha256 != header.get("sha256"):
        return None
    return model
