"""What `mnist serve` says of a checkpoint without torch: the plain fields of its header (read by
checkpoint/format.py's unpickler, which imports nothing) and the shapes of its weights, typed as
`Checkpoint` types them, so that `/api/info` is the document `mnist info --json` prints. Anything
read.py would refuse gives None here: torch then loads the file and says why."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnist_cli.checkpoint.format import (
    FORMAT_VERSION,
    EpochRecord,
    TensorShape,
    read_header,
    stored_config,
    stored_history,
    stored_text,
)
from mnist_cli.config import TrainConfig

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
    history = stored_history(header.get("history"))
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
        dataset=stored_text(header.get("dataset")) or "mnist",
        class_names=list(names),
        temperature=temperature,
        config=stored_config(header.get("config")),
        history=history,
        parameters=parameters,
        torch_version=stored_text(header.get("torch_version")),
        created=stored_text(header.get("created")),
        sha256=stored_text(header.get("sha256")),
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
