"""Writing the files a run produces so that a crash never leaves half of one: the bytes go to a
temporary file in the same folder, are flushed to disk, then renamed over the target."""

from __future__ import annotations

import os
from pathlib import Path

from mnist_cli.errors import OutputError


def temp_name(path: Path) -> Path:
    """The temporary file this process writes `path` through: hidden, named after our pid."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # someone else's process, or not a pid at all: leave its file alone
    return True


def check_writable(path: Path, what: str) -> None:
    """Before any work: the folder of `path` exists (made if needed) and takes a new file; the
    temporary files that killed runs left beside `path` are deleted. `what` names the file in
    the error ("checkpoint")."""
    probe = temp_name(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe.touch()
        probe.unlink()
    except OSError as error:
        raise OutputError(f"cannot write {what} {path}: {error.strerror or error}") from None
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        pid = stale.name.removeprefix(f".{path.name}.").removesuffix(".tmp")
        if not (pid.isdigit() and _pid_alive(int(pid))):
            stale.unlink(missing_ok=True)


def write_atomically(path: Path, data: bytes | memoryview, what: str) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over `path`: a crash
    at any moment leaves either the old file or the new one, never half of one."""
    temp = temp_name(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(temp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except OSError as error:
        temp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {what} {path}: {error.strerror or error}") from None
    try:
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except OSError:
        pass  # some filesystems cannot fsync a directory; the rename itself is still atomic
