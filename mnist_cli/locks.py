"""One writer at a time: an OS lock (`flock`) on a hidden lock file beside what is written
(`.ckpt.pt.lock`, `data/mnist/.download.lock`), holding the writer's pid so that a second one
can say who holds it. The kernel releases the lock when its process dies, however it dies; the
file itself is removed when the holder finishes (one that a SIGKILL left is simply reused)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mnist_cli.errors import InUse, OutputError
from mnist_cli.files import hidden_name

try:
    import fcntl
except ImportError:  # Windows: no flock; runs are not guarded there
    fcntl = None


def lock_path(target: Path) -> Path:
    """The lock file that guards the file `target`."""
    return hidden_name(target, "lock")


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", errors="replace").strip()
    except OSError:
        text = ""
    return f"process {text}" if text.isdigit() else "another process"


def _open_locked(path: Path, busy: str) -> int:
    """The locked descriptor of the lock file at `path`, or InUse."""
    while True:
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(path, flags, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise InUse(busy.replace("{holder}", holder)) from None
        try:  # the file we locked may have been removed by the holder we waited for: again
            if os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


@contextmanager
def held(path: Path, busy: str) -> Iterator[None]:
    """Hold the lock file at `path` while inside. If another process holds it, raise InUse
    with `busy`, in which `{holder}` becomes "process 1234"."""
    path = Path(path)
    if fcntl is None:
        yield
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = _open_locked(path, busy)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError as error:
        why = error.strerror or error
        raise OutputError(f"cannot create the lock file {path}: {why}") from None
    try:
        yield
    finally:
        path.unlink(missing_ok=True)  # still locked: a newcomer that opened it tries again
        os.close(fd)


def checkpoint_lock(checkpoint: Path):
    """While training writes `checkpoint` and its record: no other run may."""
    return held(
        lock_path(Path(checkpoint)),
        f"{checkpoint} is being written by {{holder}} (another mnist train): wait for it to"
        " finish or give another --checkpoint",
    )


def data_lock(folder: Path):
    """While a dataset's files are fetched into `folder`: no other download may."""
    return held(
        Path(folder) / ".download.lock",
        f"{folder} is being written by {{holder}} (another mnist download): wait for it to finish",
    )
