"""What a checkpoint file is, importable without torch: the format marker and version, the
`EpochRecord` its history holds, the run record's name beside it, and the header sniff that
tells one of ours from any other file before torch is loaded.

A checkpoint is one `torch.save` file (a zip archive; `data.pkl` holds every plain value) of a
dict with these keys, written by `write.make_checkpoint` and checked field by field by
`read.load_checkpoint`; no other code reads the dict:

- `format`, `format_version`: FORMAT and FORMAT_VERSION below. A field that changes the meaning
  of older files bumps the version; a newer optional field does not (read supplies its default).
- `model`: `{"name": a key of models.MODELS, "kwargs": the constructor's keyword arguments}`.
- `state_dict`: the weights, on the CPU, as tensors only (read through torch's weights-only
  loader: a checkpoint can never run code).
- `normalization`: `{"mean", "std"}` the images were normalised with; `dataset`, the registry
  name in data/catalog.py; `class_names`, in the order of the logits.
- `config`: `asdict(TrainConfig)`, everything that decided the run; `history`: one
  `asdict(EpochRecord)` per finished epoch.
- `training`: the state to resume from exactly (train/resume.py), or None.
- `temperature`: divides the logits before the softmax, fitted on the validation split.
- `torch_version`, `mnist_cli_version`, `created` (ISO 8601, UTC): where it came from.
- `sha256`: the SHA-256 of every other field but `export_sha256` (write.payload_sha256), checked
  on every load, so a damaged or altered file is refused rather than half-read.
- `export_sha256` (optional): the SHA-256 of the ONNX export made with it (`ckpt.onnx`, written
  by `mnist train` after its last epoch). The export names the checkpoint's `sha256`, so that
  field cannot cover this one; `mnist predict` answers from `ckpt.onnx` only when its bytes
  have this digest (read here, without torch), else with the checkpoint on torch.

Beside `ckpt.pt`, a run leaves its record `ckpt.jsonl` (one EpochRecord a line, train/record.py)
and its ONNX export `ckpt.onnx` (export/); neither is needed to load the checkpoint.
"""

from __future__ import annotations

import dataclasses
import io
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnist_cli.config import LEGACY_RECIPE, TrainConfig

FORMAT = "mnist-cli-checkpoint"
FORMAT_VERSION = 2  # 2: adds `training` (resume state) and `sha256`
# The marker as the pickle in data.pkl stores it (a plain string), and that pickle's bound: it
# holds the config and the history, never a tensor.
MARKER = FORMAT.encode("ascii")
MAX_HEADER = 16 * 2**20
EXPORT_FIELD = "export_sha256"


@dataclass(frozen=True)
class EpochRecord:
    """What one epoch achieved: a row of the history and a line of the run record."""

    epoch: int
    train_loss: float
    test_loss: float
    test_accuracy: float  # fraction in [0, 1]
    lr: float  # learning rate at the end of the epoch
    seconds: float  # training and test pass of this epoch
    train_seconds: float  # the training steps alone (timed with CUDA events on a GPU)
    # On the validation split (held out of the training images); None without one.
    val_loss: float | None = None
    val_accuracy: float | None = None  # fraction in [0, 1]


def stored_config(stored: Any) -> TrainConfig | None:
    """The stored configuration as a TrainConfig; None where it does not fit this version."""
    if isinstance(stored, dict) and "val_split" not in stored:
        stored = {**stored, "val_split": 0}  # written before the validation split: none held out
    try:  # an unknown or missing field, or not a dict at all: a TypeError
        return TrainConfig(**{**LEGACY_RECIPE, **stored}) if isinstance(stored, dict) else None
    except (TypeError, ValueError):
        return None


def stored_history(stored: Any) -> list[EpochRecord] | None:
    """The stored history as EpochRecords, or None if it is malformed: every row must have
    every field without a default (those with one are newer, or None: the validation scores),
    each a number."""
    if stored is None:
        return []
    fields = {field.name: field for field in dataclasses.fields(EpochRecord)}
    required = {name for name, field in fields.items() if field.default is dataclasses.MISSING}
    if not isinstance(stored, list) or not all(
        isinstance(row, dict)
        and required <= set(row) <= set(fields)
        and all(
            (isinstance(v, int | float) and not isinstance(v, bool))
            or (v is None and k not in required)
            for k, v in row.items()
        )
        for row in stored
    ):
        return None
    return [EpochRecord(**row) for row in stored]


def stored_text(value: Any) -> str:
    """A stored string field, or "" where the file holds something else."""
    return value if isinstance(value, str) else ""


def record_path(checkpoint_path: Path) -> Path:
    """`runs/a.pt` -> `runs/a.jsonl` (never the checkpoint itself, whatever its name)."""
    checkpoint_path = Path(checkpoint_path)
    path = checkpoint_path.with_suffix(".jsonl")
    return path if path != checkpoint_path else checkpoint_path.with_name(path.name + ".jsonl")


def _header_bytes(path: Path) -> bytes | None:
    """The pickle `data.pkl` of a torch.save archive, within MAX_HEADER; None if `path` is no
    such archive."""
    try:
        with zipfile.ZipFile(path) as archive:
            headers = [i for i in archive.infolist() if i.filename.endswith("/data.pkl")]
            if len(headers) != 1 or headers[0].file_size > MAX_HEADER:
                return None
            with archive.open(headers[0]) as header:
                return header.read(MAX_HEADER)
    except (OSError, zipfile.BadZipFile, ValueError, EOFError, RuntimeError):
        return None


def has_checkpoint_header(path: Path) -> bool:
    """Whether `path` is a torch.save archive with our format marker in its header: read with
    the standard library alone, within MAX_HEADER, before torch is imported."""
    data = _header_bytes(path)
    return data is not None and MARKER in data


class _Opaque:
    """Whatever the pickle builds that is not a plain value (a tensor, a storage): nothing is
    called, imported or kept."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass


MAX_DIMENSION = 2**31  # no weight of ours is near it; a crafted shape is kept as None


@dataclass(frozen=True)
class TensorShape:
    """A tensor of the header, as its shape alone (None if the pickle's shape is not one): its
    bytes are never read."""

    shape: tuple[int, ...] | None


def _tensor_shape(storage: Any = None, offset: Any = 0, size: Any = (), *rest: Any) -> TensorShape:
    """Stands in for torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)."""
    ok = isinstance(size, tuple) and all(type(n) is int and 0 <= n < MAX_DIMENSION for n in size)
    return TensorShape(size if ok else None)


class _PlainDict(dict):
    """An OrderedDict of the pickle (a state_dict), kept as a dict; its attributes dropped."""

    def __setstate__(self, state: Any) -> None:
        pass


class _HeaderReader(pickle.Unpickler):
    """An unpickler that imports nothing: every class the pickle names is _Opaque (an
    OrderedDict a _PlainDict, a tensor its TensorShape) and every storage None, so no code of
    the file runs."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return _PlainDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _tensor_shape
        return _Opaque

    def persistent_load(self, pid: Any) -> None:
        return None


def read_header(path: Path) -> dict[str, Any] | None:
    """A checkpoint's plain fields (its tensors as TensorShapes), read with the standard library
    before torch is imported; None if `path` is not one of ours. Nothing read here is trusted
    beyond what the caller checks (it is not the sha256-checked load of read.py)."""
    data = _header_bytes(path)
    if data is None or MARKER not in data:
        return None
    try:
        header = _HeaderReader(io.BytesIO(data)).load()
    except Exception:  # any malformed pickle: not a header we can read
        return None
    return dict(header) if isinstance(header, dict) and header.get("format") == FORMAT else None
