"""The paths a command is given, checked before any work and before torch is imported: a
checkpoint to read is a regular file; a path that holds anything but a file of ours (a
checkpoint, a run record) is never written over; the files one command writes never collide
with each other or with its inputs."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path

from mnist_cli.checkpoint.format import EpochRecord, has_checkpoint_header, record_path
from mnist_cli.errors import CheckpointError, OutputError
from mnist_cli.files import Unreadable, kind_of, read_bounded
from mnist_cli.locks import checkpoint_lock

MAX_RECORD = 64 * 2**20
RECORD_KEYS = {field.name for field in fields(EpochRecord)}


def _kind(path: Path) -> str | None:
    """None if nothing is at `path` or it is a regular file; else what is there."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as error:
        raise OutputError(f"cannot check {path}: {error.strerror or error}") from None
    if os.path.islink(path):
        return "a symbolic link"
    return kind_of(mode)


def refuse_directory(checkpoint: Path) -> None:
    """The one rule for a checkpoint to write: a file name, never a directory."""
    if _kind(checkpoint) == "a directory":
        raise OutputError(f"--checkpoint {checkpoint} is a directory: give a file name")


def is_our_record(path: Path) -> bool:
    """A run record: every line a JSON object with exactly an EpochRecord's keys."""
    try:
        text = read_bounded(path, MAX_RECORD).decode("utf-8")
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    except (Unreadable, UnicodeDecodeError, ValueError):
        return False
    return all(isinstance(row, dict) and set(row) == RECORD_KEYS for row in rows)


def same_file(first: Path, second: Path) -> bool:
    """Whether two paths name one file (through links and `..` too), existing or not."""
    return Path(first).resolve() == Path(second).resolve()


def check_checkpoint_target(checkpoint: Path, resume: bool = False) -> None:
    """`mnist train --checkpoint PATH` may write PATH and its record only if they are free or
    hold an mnist checkpoint and run record."""
    checkpoint = Path(checkpoint)
    refuse_directory(checkpoint)
    kind = _kind(checkpoint)
    if kind is not None:
        raise OutputError(f"--checkpoint {checkpoint} is {kind}, not a file: give another path")
    if checkpoint.exists() and not resume and not has_checkpoint_header(checkpoint):
        raise OutputError(
            f"--checkpoint {checkpoint} holds a file that is not an mnist checkpoint; it would be"
            " replaced: give another --checkpoint, or move the file away"
        )
    record = record_path(checkpoint)
    kind = _kind(record)
    if kind is not None or (record.exists() and not is_our_record(record)):
        raise OutputError(
            f"{record} is not an mnist run record and --checkpoint {checkpoint} would write its"
            " record there: give another --checkpoint, or move the file away"
        )


def check_distinct(outputs: dict[str, Path | None], inputs: dict[str, Path] | None = None) -> None:
    """No two outputs of one command are one file, and no output is one of its inputs.
    Keys are what the user typed to name them ("--plot", "the run record")."""
    given = [(name, Path(path)) for name, path in outputs.items() if path is not None]
    for index, (name, path) in enumerate(given):
        for other, other_path in given[index + 1 :] + list((inputs or {}).items()):
            if same_file(path, other_path):
                raise OutputError(f"{name} {path} is also {other}: give {name} another file name")


def check_checkpoint_file(path: Path) -> None:
    """A checkpoint to read is there and is a regular file (its content is checked on load)."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise CheckpointError(
            f"no checkpoint at {path}: train one with `mnist train` or give its path"
        ) from None
    except OSError as error:
        raise CheckpointError(f"cannot read checkpoint {path}: {error.strerror or error}") from None
    kind = kind_of(mode)
    if kind is not None:
        raise CheckpointError(f"{path} is {kind}, not a checkpoint file")


def check_train_paths(checkpoint: Path, plot: Path | None, resume: bool) -> None:
    """What `mnist train` writes: the checkpoint and its record over nothing of the user's,
    and --plot apart from both."""
    check_checkpoint_target(checkpoint, resume)
    check_distinct(
        {"--plot": plot}, {"the checkpoint": checkpoint, "its run record": record_path(checkpoint)}
    )


@contextmanager
def train_outputs(
    checkpoint: Path, plot: Path | None, resume: bool, lock: bool = True
) -> Iterator[None]:
    """While inside, the checkpoint and its record are this run's alone to write: checked
    (check_train_paths), then locked against any other `mnist train` (unless `lock` is false:
    `--nproc` leaves the lock to the rank that writes)."""
    check_train_paths(checkpoint, plot, resume)
    if not lock:
        yield
        return
    with checkpoint_lock(checkpoint):
        yield
