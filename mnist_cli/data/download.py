"""Fetching a dataset's files from mirrors or a local folder; each file is verified before it is
kept (extract.py). Every request has a connect and a read timeout; a failure that may pass (a
timeout, a dropped connection, a server error) is retried with backoff, then the next mirror is
tried, as it is at once for a refusal (HTTP 4xx) or bytes that fail verification. A full disk
ends the download at once, in a sentence that names the file.
"""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from mnist_cli import __version__
from mnist_cli.data.catalog import DataFile, Dataset
from mnist_cli.data.extract import (
    BY_CONTENT,
    CountingReader,
    WrongContent,
    extract_verified,
    verified_by,
)
from mnist_cli.data.store import dataset_dir, download_command, file_is_valid
from mnist_cli.errors import DataError, OutputError
from mnist_cli.files import remove_stale_temps
from mnist_cli.locks import data_lock

# on_progress(file_name, bytes_done, bytes_total or None)
ProgressFn = Callable[[str, int, "int | None"], None]

URL_SCHEMES = ("http://", "https://", "file://")


@dataclass(frozen=True)
class NetworkPolicy:
    """How patient a download is with each mirror."""

    connect_timeout: float = 10.0  # seconds to open the connection
    read_timeout: float = 30.0  # seconds without a byte before giving up on a response
    retries: int = 2  # further tries of a mirror after a failure that may pass
    backoff: float = 1.0  # seconds before the first retry, doubled for each next one
    file_deadline: float = 600.0  # seconds for a whole file: a mirror that trickles bytes
    # (one every 20 s never trips the read timeout) is given up on


DEFAULT_POLICY = NetworkPolicy()


@dataclass(frozen=True)
class FileResult:
    """What happened to one file: 'present' (already there and verified), 'downloaded' or
    'imported', and where it came from."""

    name: str
    status: str
    source: str
    size: int
    verified_by: str = BY_CONTENT  # or BY_GZ


def _with_read_timeout(base: type, seconds: float) -> type:
    """A connection class that connects within the request's timeout, then waits at most
    `seconds` for each read."""

    class Connection(base):
        def connect(self) -> None:
            super().connect()
            self.sock.settimeout(seconds)

    return Connection


def _opener(policy: NetworkPolicy) -> urllib.request.OpenerDirector:
    http_class = _with_read_timeout(http.client.HTTPConnection, policy.read_timeout)
    https_class = _with_read_timeout(http.client.HTTPSConnection, policy.read_timeout)

    class HTTP(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(http_class, req)

    class HTTPS(urllib.request.HTTPSHandler):
        def https_open(self, req):
            return self.do_open(https_class, req, context=self._context)

    return urllib.request.build_opener(HTTP, HTTPS)


class TooSlow(DataError):
    """The file did not arrive within the policy's deadline: the next mirror is tried."""


class _Deadline:
    """A response read in pieces as they arrive (read1), given up on once `seconds` have
    passed, however steadily the bytes trickle in."""

    def __init__(self, response, seconds: float):
        self._response = response
        self._seconds = seconds
        self._end = time.monotonic() + seconds

    def read(self, size: int) -> bytes:
        if time.monotonic() > self._end:
            raise TooSlow(f"too slow: the file did not arrive within {self._seconds:g} s")
        return self._response.read1(size)


def shown(url: str) -> str:
    """`url` as it may be printed: a user name and password in it become `***`."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _fetch(url, datafile, target, on_progress, policy: NetworkPolicy) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": f"mnist-cli/{__version__}"})
    with _opener(policy).open(request, timeout=policy.connect_timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None

        def report(done: int) -> None:
            if on_progress:
                on_progress(datafile.name, done, total)

        timed = _Deadline(response, policy.file_deadline)
        extract_verified(CountingReader(timed, report), datafile, target)


def _find_local(source_dir: Path, dataset: Dataset, datafile: DataFile) -> Path | None:
    """Look for <name>.gz or <name> where people usually keep them (torchvision's layout too)."""
    folders = (
        source_dir,
        dataset_dir(dataset, source_dir),
        source_dir / dataset.torchvision_folder / "raw",
    )
    # The .gz first, wherever it is: for KMNIST and QMNIST only the .gz can be verified.
    for file_name in (f"{datafile.name}.gz", datafile.name):
        for folder in folders:
            if (folder / file_name).is_file():
                return folder / file_name
    return None


def mirror_url(mirror: str, datafile: DataFile) -> str:
    return f"{mirror.rstrip('/')}/{datafile.name}.gz"


def check_mirror(mirror: str) -> str:
    """Return the mirror if it is an http, https or file URL, else raise ValueError."""
    if not mirror.lower().startswith(URL_SCHEMES):
        raise ValueError(f"{mirror!r} is not an http://, https:// or file:// URL")
    return mirror


def _try_mirror(url, datafile, target, on_progress, policy: NetworkPolicy) -> str | None:
    """Fetch from one mirror, retrying what may pass; None on success, else why it failed."""
    for attempt in range(policy.retries + 1):
        if attempt:
            time.sleep(policy.backoff * 2 ** (attempt - 1))
        try:
            _fetch(url, datafile, target, on_progress, policy)
            return None
        except urllib.error.HTTPError as error:
            failure = f"HTTP {error.code}"
            if error.code < 500:
                return failure  # not there, or not for us: asking again will not change it
        except (WrongContent, TooSlow) as error:
            return str(error)
        except DataError as error:
            failure = str(error)
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
            reason = getattr(error, "reason", None) or error
            failure = str(reason) or type(error).__name__
    tries = policy.retries + 1
    return f"{failure}" + (f" ({tries} tries)" if tries > 1 else "")


def _download_one(
    dataset: Dataset,
    datafile: DataFile,
    target: Path,
    mirrors: Iterable[str],
    on_progress: ProgressFn | None,
    policy: NetworkPolicy,
) -> str:
    failures = []
    for mirror in mirrors:
        url = mirror_url(mirror, datafile)
        failure = _try_mirror(url, datafile, target, on_progress, policy)
        if failure is None:
            return shown(url)
        failures.append(f"{shown(url)}: {failure}")
    tried = "; ".join(failures) or "no mirrors"
    raise DataError(
        f"could not download {datafile.name} ({tried}); without internet, "
        f"copy the files by hand and run `{download_command(dataset)} --from DIR`"
    )


def _import_one(
    source_dir: Path,
    dataset: Dataset,
    datafile: DataFile,
    target: Path,
    on_progress: ProgressFn | None,
) -> str:
    source = _find_local(source_dir, dataset, datafile)
    if source is None:
        raise DataError(f"{datafile.name}(.gz) not found in {source_dir}")
    total = source.stat().st_size

    def report(done: int) -> None:
        if on_progress:
            on_progress(datafile.name, done, total)

    try:
        with open(source, "rb") as stream:
            extract_verified(CountingReader(stream, report), datafile, target)
    except OSError as error:
        raise DataError(f"cannot read {source}: {error.strerror or error}") from None
    return str(source)


def download(
    dataset: Dataset,
    data_dir: Path,
    mirrors: Iterable[str] = (),
    source_dir: Path | None = None,
    force: bool = False,
    on_progress: ProgressFn | None = None,
    policy: NetworkPolicy | None = None,
) -> list[FileResult]:
    """Make every file of `dataset` present and verified in the data directory.

    Files already there and valid are kept (unless `force`). Others are imported from
    `source_dir` if given, else fetched from `mirrors` and then the dataset's own mirrors.
    """
    folder = dataset_dir(dataset, data_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create {folder}: {error.strerror or error}") from None
    all_mirrors = [*mirrors, *(m for m in dataset.mirrors if m not in mirrors)]
    policy = policy or DEFAULT_POLICY
    results = []
    with data_lock(folder):  # one writer per dataset folder; a second says who holds it
        for datafile in dataset.files:
            target = folder / datafile.name
            remove_stale_temps(target, "part")
            if not force and file_is_valid(target, datafile):
                status, source = "present", str(target)
            elif source_dir is not None:
                status = "imported"
                source = _import_one(Path(source_dir), dataset, datafile, target, on_progress)
            else:
                status = "downloaded"
                source = _download_one(dataset, datafile, target, all_mirrors, on_progress, policy)
            if status != "present" and not file_is_valid(target, datafile):
                raise DataError(f"{target} changed on disk after it was verified: download again")
            results.append(
                FileResult(datafile.name, status, source, datafile.size, verified_by(datafile))
            )
    return results
