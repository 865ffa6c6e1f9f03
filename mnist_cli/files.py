"""Touching a user's files safely. Writes go to a temporary file of our own in the same folder,
are flushed to disk, then renamed over the target, so a crash never leaves half of one; no write
follows a symbolic link planted in its way. Reads are bounded in bytes whatever `st_size` says,
and refuse FIFOs, devices and directories before they can block or stream without end."""

from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path
from typing import BinaryIO

from mnist_cli.errors import OutputError

NAME_MAX = 255  # the longest file name most filesystems take
CHUNK = 1 << 20


class Unreadable(ValueError):
    """A file that cannot be read as asked; the message says why, without the file's name."""


def hidden_name(path: Path, tag: str) -> Path:
    """`.<name>.<tag>` beside `path`: where we keep temporary and lock files of `path`. A name
    too long for the filesystem is shortened, with a digest of the whole name to stay unique."""
    name = path.name
    if len(f".{name}.{tag}".encode()) > NAME_MAX:
        digest = hashlib.sha256(name.encode()).hexdigest()[:12]
        name = f"{name.encode()[:150].decode(errors='ignore')}~{digest}"
    return path.with_name(f".{name}.{tag}")


def temp_name(path: Path, kind: str = "tmp") -> Path:
    """The temporary file this process writes `path` through: hidden, named after our pid
    (`.ckpt.pt.1234.tmp`; `kind` "part" for a download in progress)."""
    return hidden_name(path, f"{os.getpid()}.{kind}")


def _stale_pattern(path: Path, kind: str) -> re.Pattern:
    """Exactly the names `temp_name` gives `path` in any process; nothing else."""
    prefix = hidden_name(path, f"0.{kind}").name.removesuffix(f"0.{kind}")
    return re.compile(re.escape(prefix) + r"(\d+)\." + re.escape(kind))


def pid_alive(pid: int) -> bool:
    """Whether process `pid` of this machine still runs (a zombie does not): what decides that
    a file or folder a process named after itself was left by a dead one."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # someone else's process, or not a pid at all: leave its file alone
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return status.rpartition(")")[2].split()[:1] != ["Z"]


def remove_stale_temps(path: Path, kind: str = "tmp") -> None:
    """Delete the temporary files of `path` that killed runs left: only names we create, only
    of processes that are gone."""
    pattern = _stale_pattern(path, kind)
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match and not pid_alive(int(match.group(1))):
            Path(entry.path).unlink(missing_ok=True)


def create_new(path: Path) -> BinaryIO:
    """Open a new file for writing; never an existing file, never through a symbolic link."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    return os.fdopen(os.open(path, flags, 0o644), "wb")


def new_temp(path: Path, kind: str = "tmp") -> BinaryIO:
    """Our temporary file for `path`, fresh: one left by an earlier process with our pid (or a
    link planted under its name) is removed first."""
    temp = temp_name(path, kind)
    temp.unlink(missing_ok=True)
    return create_new(temp)


def check_writable(path: Path, what: str) -> None:
    """Before any work: the folder of `path` exists (made if needed) and takes a new file; the
    temporary files that killed runs left beside `path` are deleted. `what` names the file in
    the error ("checkpoint")."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        new_temp(path).close()
        temp_name(path).unlink()
    except OSError as error:
        raise OutputError(f"cannot write {what} {path}: {error.strerror or error}") from None
    remove_stale_temps(path)


def write_atomically(path: Path, data: bytes | memoryview, what: str) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over `path`: a crash
    at any moment leaves either the old file or the new one, never half of one."""
    temp = temp_name(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with new_temp(path) as out:
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


def kind_of(mode: int) -> str | None:
    """What a non-regular file is, in a user's words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _limit_text(limit: int) -> str:
    return f"{limit // 2**20} MiB" if limit >= 2**20 else f"{limit:,} bytes"


def read_bounded(path: Path, limit: int, what: str = "a file") -> bytes:
    """The bytes of the regular file at `path`, at most `limit` of them, however the file
    grows or whatever its size says. Anything else raises Unreadable at once: opening with
    O_NONBLOCK keeps a FIFO from blocking before it can be refused."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise Unreadable("no such file") from None
    except OSError as error:
        raise Unreadable(f"cannot read: {error.strerror or error}") from None
    try:
        status = os.fstat(fd)
        kind = kind_of(status.st_mode)
        if kind is not None:
            raise Unreadable(f"is {kind}, not {what}")
        if status.st_size > limit:  # refused at once; the cap below holds whatever st_size says
            raise Unreadable(f"is larger than {_limit_text(limit)}")
        os.set_blocking(fd, True)
        with os.fdopen(os.dup(fd), "rb", buffering=0) as file:
            return read_capped(file, limit)
    except OSError as error:
        raise Unreadable(f"cannot read: {error.strerror or error}") from None
    finally:
        os.close(fd)


def read_capped(stream: BinaryIO, limit: int) -> bytes:
    """Everything `stream` holds, refused (Unreadable) past `limit` bytes."""
    parts, size = [], 0
    while chunk := stream.read(min(CHUNK, limit + 1 - size)):
        parts.append(chunk)
        size += len(chunk)
        if size > limit:
            raise Unreadable(f"is larger than {_limit_text(limit)}")
    return b"".join(parts)
