"""The record of a run: one `EpochRecord` per finished epoch, kept in the checkpoint's history and
written beside it as JSON lines (`ckpt.pt` -> `ckpt.jsonl`), appended as each epoch ends, so that
`tail -f`, pandas or jq can follow a run while it trains."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from mnist_cli.errors import OutputError
from mnist_cli.files import write_atomically


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
    """Appends one line per epoch. A fresh run starts its record (replacing any old one, in one
    rename) in the same moment as its first checkpoint replaces the old one: until then the old
    record still describes the old checkpoint beside it. A resumed run (`fresh=False`) appends.
    No write follows a symbolic link planted at the record's path."""

    def __init__(self, checkpoint_path: Path, fresh: bool = True):
        self.path = record_path(checkpoint_path)
        self.fresh = fresh

    def start(self, rows: tuple[EpochRecord, ...] = ()) -> None:
        """Replace the record, atomically, with `rows`: the first save of a fresh run."""
        text = "".join(json.dumps(asdict(row)) + "\n" for row in rows)
        write_atomically(self.path, text.encode("utf-8"), "the run record")
        self.fresh = False

    def append(self, row: EpochRecord) -> None:
        if self.fresh:
            self.start((row,))
            return
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        try:
            with os.fdopen(os.open(self.path, flags, 0o644), "a", encoding="utf-8") as file:
                file.write(json.dumps(asdict(row)) + "\n")
        except OSError as error:
            raise OutputError(
                f"cannot write the run record {self.path}: {error.strerror or error}"
            ) from None


def read_record(path: Path) -> list[dict]:
    """The rows of a run record, for tests and scripts."""
    with open(path, encoding="utf-8") as file:
        return [json.loads(line) for line in file if line.strip()]
