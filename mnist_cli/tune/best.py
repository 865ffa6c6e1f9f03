"""The best settings a study found, written as the TOML that `mnist train --config` takes. The
file starts with a marker line, so that tune replaces only a file it wrote itself."""

from __future__ import annotations

import os
from pathlib import Path

from mnist_cli.config import TrainConfig
from mnist_cli.config_file import config_toml
from mnist_cli.errors import OutputError
from mnist_cli.files import Unreadable, kind_of, read_bounded, write_atomically

MARKER = "mnist tune:"  # the first line of every file tune writes: "# mnist tune: ..."


def check_best_path(path: Path) -> None:
    """Before any trial: `path` is free, or a file of best settings that tune wrote."""
    path = Path(path)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        if not path.parent.is_dir():
            raise OutputError(f"--best {path}: folder {path.parent} does not exist") from None
        return
    kind = "a symbolic link" if os.path.islink(path) else kind_of(mode)
    if kind is not None:
        raise OutputError(f"--best {path} is {kind}, not a file tune wrote: give another path")
    try:
        first = read_bounded(path, 1 << 20).decode("utf-8", "replace").split("\n", 1)[0]
    except Unreadable as why:
        raise OutputError(f"--best {path}: {why}") from None
    if not first.startswith(f"# {MARKER}"):
        raise OutputError(
            f"--best {path} holds a file that tune did not write; it would be replaced:"
            " give another --best, or move the file away"
        )


def write_best(path: Path, config: TrainConfig, summary: str) -> None:
    """Write `config` as TOML to `path`, atomically, after the marker line and `summary`."""
    comment = f"{MARKER} {summary}\nmnist train --config {path} (options given there win)"
    write_atomically(Path(path), config_toml(config, comment).encode(), "the best settings")
