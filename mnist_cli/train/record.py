"""The record of a run: one `EpochRecord` per finished epoch, kept in the checkpoint's history and
written beside it as JSON lines (`ckpt.pt` -> `ckpt.jsonl`), appended as each epoch ends, so that
`tail -f`, pandas or jq can follow a run while it trains."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from mnist_cli.errors import OutputError


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


def record_path(checkpoint_path: Path) -> Path:
    """`runs/a.pt` -> `runs/a.jsonl` (never the checkpoint itself, whatever its name)."""
    checkpoint_path = Path(checkpoint_path)
    path = checkpoint_path.with_suffix(".jsonl")
    return path if path != checkpoint_path else checkpoint_path.with_name(path.name + ".jsonl")


class RunRecord:
    """Appends one line per epoch. A fresh run rewrites the file when its first epoch is
    recorded, the moment its checkpoint replaces the old one: until then the old record still
    describes the old checkpoint beside it. A resumed run (`fresh=False`) appends."""

    def __init__(self, checkpoint_path: Path, fresh: bool = True):
        self.path = record_path(checkpoint_path)
        self.mode = "w" if fresh else "a"

    def append(self, row: EpochRecord) -> None:
        try:
            with open(self.path, self.mode, encoding="utf-8") as file:
                file.write(json.dumps(asdict(row)) + "\n")
        except OSError as error:
            raise OutputError(
                f"cannot write the run record {self.path}: {error.strerror or error}"
            ) from None
        self.mode = "a"


def read_record(path: Path) -> list[dict]:
    """The rows of a run record, for tests and scripts."""
    with open(path, encoding="utf-8") as file:
        return [json.loads(line) for line in file if line.strip()]
