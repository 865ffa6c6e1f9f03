"""What `mnist serve` says of a checkpoint without torch: the plain fields of its header (read by
checkpoint/format.py's unpickler, which imports nothing) and the shapes of its weights, typed as
`Checkpoint` types them, so that `/api/info` is the document `mnist info --json` prints. Anything
read.py would refuse gives None here: torch then loads the file and says why."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnist_cli.checkpoint.format import FORMAT_VERSION, EpochRecord, TensorShape, read_header
from mnist_cli.config import LEGACY_RECIPE, TrainConfig

# The entries of a state_dict that are buffers, not parameters: torch's BatchNorm names them so.
# `mnist info` counts `model.parameters()`, which holds none of them.
BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


@dataclass(frozen=True)
class CheckpointFacts:
    """What `mnist info` reads from a `Checkpoint`, without the model; `history` None and
    `parameters` None where the file (an ONNX export) does not say."""

    model_name: str
    dataset: str
    class_names: list[str]
    temperature: float
    config: TrainConfig | None = None
    history: list[EpochRecord] | None = None
    parameters: int | None = None
    torch_version: str = ""
    created: str = ""
    sha256: str = ""

    @property
    def final(self) -> EpochRecord | None:
        return self.history[-1] if self.history else None


def read_facts(path: Path) -> CheckpointFacts | None:
    """The checkpoint's facts from its header, or None if it is not one whose fields read.py
    would take (torch then loads it and says why). Not SHA-checked: see docs/serve.md."""
    header = read_header(Path(path))  # None for any malformed pickle: torch says what is wrong
    if header is None or header.get("format_version") != FORMAT_VERSION:
        return None
    return _facts(header)


def _facts(header: dict[str, Any]) -> CheckpointFacts | None:
    model, names = header.get("model"), header.get("class_names")
    temperature = header.get("temperature", 1.0)
    history = _history(header.get("history"))
    parameters = _parameters(header.get("state_dict"))
    if not (
        isinstance(model, dict)
        and isinstance(model.get("name"), str)
        and isinstance(names, list)
        and names
        and all(isinstance(name, str) and name.isprintable() for name in names)
        and isinstance(temperature, float)
        and 0 < temperature < math.inf
        and history is not None
        and parameters is not None
    ):
        return None
    return CheckpointFacts(
        model_name=model["name"],
        dataset=_text(header.get("dataset")) or "mnist",
        class_names=list(names),
        temperature=temperature,
        config=_config(header.get("config")),
        history=history,
        parameters=parameters,
        torch_version=_text(header.get("torch_version")),
        created=_text(header.get("created")),
        sha256=_text(header.get("sha256")),
    )


def _parameters(state: Any) -> int | None:
    """The number of values in the weights that are parameters (not BatchNorm's buffers)."""
    if not isinstance(state, dict) or not all(
        isinstance(key, str) and isinstance(value, TensorShape) and value.shape is not None
        for key, value in state.items()
    ):
        return None
    return sum(
        math.prod(weight.shape)
        for key, weight in state.items()
        if key.rsplit(".", 1)[-1] not in BUFFERS
    )


def _config(stored: Any) -> TrainConfig | None:
    """As read.py reads it: None where the stored settings do not fit this version."""
    if not isinstance(stored, dict):
        return None
    try:
        return TrainConfig(**{**LEGACY_RECIPE, "val_split": 0, **stored})
    except (TypeError, ValueError):
        return None


def _history(stored: Any) -> list[EpochRecord] | None:
    """The epochs as EpochRecords; None if a row is not one (read.py refuses such a file)."""
    if stored is None:
        return []
    if not isinstance(stored, list) or not all(isinstance(row, dict) for row in stored):
        return None
    try:
        records = [EpochRecord(**row) for row in stored]
    except TypeError:  # a field missing or unknown
        return None
    numbers = all(
        value is None or (isinstance(value, int | float) and not isinstance(value, bool))
        for row in stored
        for value in row.values()
    )
    required = [f.name for f in dataclasses.fields(EpochRecord) if f.default is dataclasses.MISSING]
    complete = all(row.get(name) is not None for row in stored for name in required)
    return records if numbers and complete else None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
