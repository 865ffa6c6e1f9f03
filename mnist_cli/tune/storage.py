"""Where a study lives: the `--storage` URL read with SQLAlchemy's own parser, so that every
spelling of a SQLite URL (`sqlite+pysqlite:///`, `%`-escapes, `?timeout=`) names the file it
really opens. That file is free, or a SQLite database that holds Optuna's tables and nothing
else: never another program's database. The storage opens with a heartbeat (workers.py), one
opener at a time per SQLite file."""

from __future__ import annotations

import errno
import os
import sqlite3
import warnings
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from mnist_cli.errors import MnistError

try:
    import fcntl
except ImportError:  # Windows: the retries alone
    fcntl = None

# What a SQLite URL's query may say: the seconds to wait for another worker's write lock.
# Anything else (mode=ro, uri=true, cache=...) would change which file opens, or how: refused.
SQLITE_QUERY = ("timeout",)
SQLITE_MAGIC = b"SQLite format 3\x00"
HEARTBEAT_INTERVAL = 60  # seconds between a running trial's heartbeats in the storage
GRACE_PERIOD = 600  # a running trial with no heartbeat for this long has lost its worker
EXAMPLE = "sqlite:///tune.db, or postgresql://USER@HOST/DATABASE"


@dataclass(frozen=True)
class Storage:
    """A `--storage` URL, read."""

    url: str  # as given: what SQLAlchemy opens
    shown: str  # for messages: the password hidden
    sqlite_file: Path | None  # the database file of a SQLite URL; None for a server


def parse_storage(url: str) -> Storage:
    """The URL read; a SQLite URL must name one plain file, in a query tune understands."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise MnistError(f"--storage {url} is not a database URL: give {EXAMPLE}") from None
    # As given, unless it holds a password (SQLAlchemy's rendering escapes some characters).
    shown = url if parsed.password is None else parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() != "sqlite":
        return Storage(url, shown, None)
    return Storage(url, shown, _sqlite_file(parsed, shown))


def _sqlite_file(parsed, shown: str) -> Path:
    """The file a SQLite URL opens, or a one-line refusal of what would open another one."""
    driver = parsed.drivername.partition("+")[2] or "pysqlite"
    if driver != "pysqlite":
        raise MnistError(
            f"--storage {shown}: tune opens SQLite through Python's sqlite3, not {driver}:"
            " give sqlite:///FILE"
        )
    if parsed.host or parsed.username or parsed.password or parsed.port:
        raise MnistError(f"--storage {shown}: a SQLite URL names a file, no host: sqlite:///FILE")
    database = parsed.database or ""
    if database in ("", ":memory:"):
        raise MnistError(
            f"--storage {shown} names an in-memory database: leave --storage out for a study"
            " in memory, or give sqlite:///FILE"
        )
    if database.lower().startswith("file:"):  # SQLite would read it as a URI of its own
        raise MnistError(f"--storage {shown} names a SQLite URI, not a file: give sqlite:///FILE")
    for name, value in parsed.query.items():
        if name not in SQLITE_QUERY:
            raise MnistError(
                f"--storage {shown}: tune does not take ?{name}= for SQLite"
                " (only ?timeout=SECONDS): give sqlite:///FILE"
            )
        if not _positive(value):
            raise MnistError(f"--storage {shown}: ?timeout= takes seconds, a number above 0")
    return Path(database)


def _positive(value: str | tuple[str, ...]) -> bool:
    try:
        return isinstance(value, str) and float(value) > 0
    except ValueError:
        return False


def check_storage(url: str | None) -> Storage | None:
    """Before any trial: the URL read, and a SQLite file that is free or one of Optuna's, in a
    folder tune can write."""
    if url is None:
        return None
    storage = parse_storage(url)
    if storage.sqlite_file is not None:
        _check_sqlite_file(storage)
        _check_writable(storage)
    return storage


def _check_sqlite_file(storage: Storage) -> None:
    path, shown = storage.sqlite_file, storage.shown
    if os.path.islink(path):
        raise MnistError(f"--storage {shown}: {path} is a symbolic link: give the file itself")
    if not path.exists():
        return
    if not path.is_file():
        raise MnistError(f"--storage {shown}: {path} is not a file")
    try:
        with open(path, "rb") as file:
            header = file.read(len(SQLITE_MAGIC))
    except OSError as error:
        raise MnistError(f"--storage {shown}: cannot read {path} ({error.strerror})") from None
    if header and header != SQLITE_MAGIC:
        raise MnistError(f"--storage {shown}: {path} is not a SQLite database: give another file")
    try:
        tables = _tables(path)
    except sqlite3.Error as error:
        raise MnistError(f"--storage {shown}: cannot read {path} ({error})") from None
    if not tables <= _optuna_tables():
        raise MnistError(
            f"--storage {shown}: {path} is a SQLite database of something else: give another file"
        )


def _tables(path: Path) -> set[str]:
    """The tables and views of a SQLite file, read without writing to it. A worker killed in a
    write leaves a hot journal, which a read-only connection cannot roll back: then the file
    is read as it stands (`immutable`), and Optuna's own connection rolls it back later."""
    try:
        return _read_tables(path, "mode=ro")
    except sqlite3.Error:
        if not Path(f"{path}-journal").exists():
            raise
    return _read_tables(path, "immutable=1")


def _read_tables(path: Path, mode: str) -> set[str]:
    query = "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')"
    with closing(sqlite3.connect(f"file:{quote(str(path))}?{mode}", uri=True)) as db:
        return {name for (name,) in db.execute(f"{query} AND name NOT LIKE 'sqlite_%'")}


def _optuna_tables() -> set[str]:
    """The tables Optuna's RDB storage makes (its own list, and the migrations' table)."""
    try:
        from optuna.storages._rdb import models
    except ImportError:  # moved in another Optuna: the tables of 5.1
        names = {"studies", "study_directions", "study_system_attributes", "trials"}
        names |= {"study_user_attributes", "trial_heartbeats", "trial_intermediate_values"}
        names |= {"trial_params", "trial_system_attributes", "trial_user_attributes"}
        return names | {"trial_values", "version_info", "alembic_version"}
    return set(models.BaseModel.metadata.tables) | {"alembic_version"}


def _check_writable(storage: Storage) -> None:
    path = storage.sqlite_file
    folder = path.parent
    if not folder.is_dir():
        raise MnistError(f"--storage {storage.shown}: folder {folder} does not exist")
    target = path if path.exists() else folder
    if not os.access(target, os.W_OK):
        read_only = os.statvfs(target).f_flag & os.ST_RDONLY if hasattr(os, "statvfs") else 0
        raise MnistError(_not_writable(storage, errno.EROFS if read_only else errno.EACCES))


def _not_writable(storage: Storage, code: int) -> str:
    path = storage.sqlite_file
    why = "a read-only file system" if code == errno.EROFS else "no permission"
    return (
        f"--storage {storage.shown}: tune cannot write {path} ({why}): give a file in a folder"
        " you can write"
    )


def open_rdb(storage: Storage | None):
    """Optuna's RDB storage for `storage` (None: in memory), with a heartbeat for each running
    trial (a trial whose worker died is failed after GRACE_PERIOD)."""
    if storage is None:
        return None
    import optuna
    from optuna.exceptions import ExperimentalWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)  # the heartbeat's: ours to decide
        return optuna.storages.RDBStorage(
            storage.url, heartbeat_interval=HEARTBEAT_INTERVAL, grace_period=GRACE_PERIOD
        )


@contextmanager
def one_opener(storage: Storage | None) -> Iterator[None]:
    """For a SQLite file, one process at a time creates or loads the study: Optuna makes a new
    file's tables without a lock, and two workers that start together would both try. The lock
    is a `flock` on the database file itself, which SQLite's own (POSIX) locks do not see. The
    file is checked again under the lock; an empty one this opener made is removed if the
    study cannot be opened in it."""
    if storage is None or storage.sqlite_file is None or fcntl is None:
        yield
        return
    path = storage.sqlite_file
    fd, created = _open_lock_file(storage)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _check_sqlite_file(storage)
        yield
    except BaseException:
        if created and os.fstat(fd).st_size == 0:
            path.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)  # releases the lock


def _open_lock_file(storage: Storage) -> tuple[int, bool]:
    """The database file opened for its lock, and whether this call created it."""
    flags = os.O_RDWR | getattr(os, "O_NOFOLLOW", 0)
    path = storage.sqlite_file
    try:
        try:
            return os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o644), True
        except FileExistsError:
            return os.open(path, flags), False
    except OSError as error:
        if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise MnistError(_not_writable(storage, error.errno)) from None
        raise MnistError(
            f"--storage {storage.shown}: cannot open {path}: {error.strerror}"
        ) from None
