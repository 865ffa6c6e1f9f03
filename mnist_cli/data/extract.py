"""Streaming one data file into place, verified before it is kept.

Bytes are streamed through gunzip into `.<file>.<pid>.part`, capped at the expected size and checked
against the MD5 of the decompressed content; only then is the file moved into place. So a
recompressed copy is accepted, a wrong or truncated one is refused, and no half-written file
ever looks valid. Where the content's MD5 is not published (KMNIST, QMNIST), the .gz bytes must
match the published .gz MD5 instead, and the content's MD5 is then recorded beside the file.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import os
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from mnist_cli.data.catalog import DataFile
from mnist_cli.data.store import record_md5
from mnist_cli.errors import DataError, OutputError
from mnist_cli.files import new_temp, temp_name

GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 16
BY_CONTENT = "MD5 of the decompressed content"
BY_GZ = "MD5 of the original .gz"


def verified_by(datafile: DataFile) -> str:
    """What a file of this kind is checked against."""
    return BY_CONTENT if datafile.md5 else BY_GZ


class WrongContent(DataError):
    """The bytes arrived but are not the expected file: retrying the same mirror cannot help."""


class CountingReader(io.RawIOBase):
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


def _check_original_gz(stream: CountingReader, datafile: DataFile, gzipped: bool) -> None:
    """For a file whose content MD5 is unknown: the bytes read must be the published .gz."""
    if not gzipped:
        raise WrongContent(
            f"{datafile.name}: only the MD5 of its original .gz is published, so it cannot be"
            " verified once extracted: give the .gz file"
        )
    while stream.read(CHUNK):  # what gunzip left unread still belongs to the .gz file
        pass
    if stream.md5.hexdigest() != datafile.gz_md5:
        raise WrongContent(f"{datafile.name}.gz: checksum mismatch (not the original .gz file)")


# What a write says when no byte more fits, and how that reads.
NO_SPACE = {
    errno.ENOSPC: "the disk is full (no space left on device)",
    errno.EDQUOT: "the disk quota is used up",
}


def _no_space(error: OSError) -> str | None:
    """How a full disk reads, if that is what `error` says (its errno, or its first argument
    when it was raised as OSError(number))."""
    number = error.errno if error.errno is not None else (error.args or [None])[0]
    return NO_SPACE.get(number) if isinstance(number, int) else None


def extract_verified(stream: CountingReader, datafile: DataFile, target: Path) -> None:
    """Gunzip (if gzipped) `stream` into this process's .part of target, verify it, then move it
    into place."""
    buffered = io.BufferedReader(stream, CHUNK)
    gzipped = buffered.peek(2)[:2] == GZIP_MAGIC
    if datafile.md5 is None and not gzipped:
        _check_original_gz(stream, datafile, gzipped)  # refuses before reading it all
    source = gzip.GzipFile(fileobj=buffered) if gzipped else buffered
    part = temp_name(target, "part")  # this process's own: never shared, never a planted link
    digest = hashlib.md5(usedforsecurity=False)
    written = 0
    try:
        with new_temp(target, "part") as out:
            while chunk := source.read(CHUNK):
                written += len(chunk)
                if written > datafile.size:
                    raise WrongContent(
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
            raise WrongContent(f"{datafile.name}: checksum mismatch (not the original file)")
        os.replace(part, target)
    except OSError as error:
        if (full := _no_space(error)) is not None:  # no retry and no other mirror helps
            raise OutputError(
                f"cannot write {target}: {full}; free some space, or give another --data-dir"
            ) from None
        raise DataError(f"{datafile.name}: {error}") from None
    except (EOFError, zlib.error) as error:
        raise DataError(f"{datafile.name}: {error}") from None
    finally:
        part.unlink(missing_ok=True)
