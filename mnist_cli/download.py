"""Fetching a dataset's files from mirrors or a local folder, verified before they are kept.

Bytes are streamed through gunzip into `<file>.part`, capped at the expected size and checked
against the MD5 of the decompressed content; only then is the file moved into place. So a
recompressed copy is accepted, a wrong or truncated one is refused, and no half-written file
ever looks valid. Where the content's MD5 is not published (KMNIST, QMNIST), the .gz bytes must
match the published .gz MD5 instead, and the content's MD5 is then recorded beside the file.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import os
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from mnist_cli import __version__
from mnist_cli.datasets import (
    DataFile,
    Dataset,
    dataset_dir,
    download_command,
    file_is_valid,
    record_md5,
)
from mnist_cli.errors import DataError

# on_progress(file_name, bytes_done, bytes_total or None)
ProgressFn = Callable[[str, int, "int | None"], None]

GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 16
TIMEOUT_SECONDS = 30.0
URL_SCHEMES = ("http://", "https://", "file://")
BY_CONTENT = "MD5 of the decompressed content"
BY_GZ = "MD5 of the original .gz"


def verified_by(datafile: DataFile) -> str:
    """What a file of this kind is checked against."""
    return BY_CONTENT if datafile.md5 else BY_GZ


@dataclass(frozen=True)
class FileResult:
    """What happened to one file: 'present' (already there and verified), 'downloaded' or
    'imported', and where it came from."""

    name: str
    status: str
    source: str
    size: int
    verified_by: str = BY_CONTENT  # or BY_GZ


class _CountingReader(io.RawIOBase):
    """Wraps a byte stream, reports how many bytes have been read from it and hashes them."""

    def __init__(self, stream: BinaryIO, report: Callable[[int], None]):
        self._stream = stream
        self._report = report
        self._done = 0
        self.md5 = hashlib.md5(usedforsecurity=False)  # of the raw bytes, e.g. the .gz file

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        self.md5.update(data)
        self._done += len(data)
        self._report(self._done)
        return len(data)


def _check_original_gz(stream: _CountingReader, datafile: DataFile, gzipped: bool) -> None:
    """For a file whose content MD5 is unknown: the bytes read must be the published .gz."""
    if not gzipped:
        raise DataError(
            f"{datafile.name}: only the MD5 of its original .gz is published, so it cannot be"
            " verified once extracted: give the .gz file"
        )
    while stream.read(CHUNK):  # what gunzip left unread still belongs to the .gz file
        pass
    if stream.md5.hexdigest() != datafile.gz_md5:
        raise DataError(f"{datafile.name}.gz: checksum mismatch (not the original .gz file)")


def _extract_verified(stream: _CountingReader, datafile: DataFile, target: Path) -> None:
    """Gunzip (if gzipped) `stream` into target's .part, verify it, then move it into place."""
    buffered = io.BufferedReader(stream, CHUNK)
    gzipped = buffered.peek(2)[:2] == GZIP_MAGIC
    if datafile.md5 is None and not gzipped:
        _check_original_gz(stream, datafile, gzipped)  # refuses before reading it all
    source = gzip.GzipFile(fileobj=buffered) if gzipped else buffered
    part = target.with_name(target.name + ".part")
    digest = hashlib.md5(usedforsecurity=False)
    written = 0
    try:
        with open(part, "wb") as out:
            while chunk := source.read(CHUNK):
                written += len(chunk)
                if written > datafile.size:
                    raise DataError(
                        f"{datafile.name}: more data than the expected {datafile.size:,} bytes"
                    )
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if written != datafile.size:
            raise DataError(f"{datafile.name}: got {written:,} bytes, expected {datafile.size:,}")
        if datafile.md5 is None:
            _check_original_gz(stream, datafile, gzipped)
            record_md5(target, digest.hexdigest())  # before the file: never one without it
        elif digest.hexdigest() != datafile.md5:
            raise DataError(f"{datafile.name}: checksum mismatch (not the original file)")
        os.replace(part, target)
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"{datafile.name}: {error}") from None
    finally:
        part.unlink(missing_ok=True)


def _fetch(url: str, datafile: DataFile, target: Path, on_progress: ProgressFn | None) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": f"mnist-cli/{__version__}"})
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None

        def report(done: int) -> None:
            if on_progress:
                on_progress(datafile.name, done, total)

        _extract_verified(_CountingReader(response, report), datafile, target)


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


def _download_one(
    dataset: Dataset,
    datafile: DataFile,
    target: Path,
    mirrors: Iterable[str],
    on_progress: ProgressFn | None,
) -> str:
    failures = []
    for mirror in mirrors:
        url = mirror_url(mirror, datafile)
        try:
            _fetch(url, datafile, target, on_progress)
            return url
        except urllib.error.HTTPError as error:
            failures.append(f"{url}: HTTP {error.code}")
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
            reason = getattr(error, "reason", None) or error
            failures.append(f"{url}: {reason or type(error).__name__}")
        except DataError as error:
            failures.append(f"{url}: {error}")
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
            _extract_verified(_CountingReader(stream, report), datafile, target)
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
) -> list[FileResult]:
    """Make every file of `dataset` present and verified in the data directory.

    Files already there and valid are kept (unless `force`). Others are imported from
    `source_dir` if given, else fetched from `mirrors` and then the dataset's own mirrors.
    """
    folder = dataset_dir(dataset, data_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(f"cannot create {folder}: {error.strerror or error}") from None
    all_mirrors = [*mirrors, *(m for m in dataset.mirrors if m not in mirrors)]
    results = []
    for datafile in dataset.files:
        target = folder / datafile.name
        if not force and file_is_valid(target, datafile):
            status, source = "present", str(target)
        elif source_dir is not None:
            status = "imported"
            source = _import_one(Path(source_dir), dataset, datafile, target, on_progress)
        else:
            status = "downloaded"
            source = _download_one(dataset, datafile, target, all_mirrors, on_progress)
        results.append(
            FileResult(datafile.name, status, source, datafile.size, verified_by(datafile))
        )
    return results
