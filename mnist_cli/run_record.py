"""The per-epoch record of a run, beside its checkpoint: `ckpt.pt` -> `ckpt.jsonl`, one JSON
object per finished epoch, appended as each epoch ends, so that `tail -f`, pandas or jq can follow
a run while it trains."""

from __future__ import annotations

import json
from pathlib import Path

from mnist_cli.errors import MnistError


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

    def append(self, row: dict) -> None:
        try:
            with open(self.path, self.mode, encoding="utf-8") as file:
                file.write(json.dumps(row) + "\n")
        except OSError as error:
            raise MnistError(
                f"cannot write the run record {self.path}: {error.strerror or error}"
            ) from None
        self.mode = "a"


def read_record(path: Path) -> list[dict]:
    """The rows of a run record, for tests and scripts."""
    with open(path, encoding="utf-8") as file:
        return [json.loads(line) for line in file if line.strip()]
