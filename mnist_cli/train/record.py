"""The record of a run: one `EpochRecord` per finished epoch, kept in the checkpoint's history and
written beside it as JSON lines (`ckpt.pt` -> `ckpt.jsonl`), appended as each epoch ends, so that
`tail -f`, pandas or jq can follow a run while it trains."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

from mnist_cli.checkpoint.format import EpochRecord, record_path
from mnist_cli.errors import OutputError
from mnist_cli.files import write_atomically


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
