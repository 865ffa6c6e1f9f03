"""What `mnist predict` was asked to read: files, directories, glob patterns and `-` (stdin),
expanded into a flat list of sources, in the order given. An argument that names nothing becomes
a source that carries its error, so that it gets its own row and does not stop the others."""

from __future__ import annotations

import glob
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from mnist_cli.files import Unreadable, read_capped

# What a directory's images are recognised by; a file named on its own may have any name.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
STDIN = "-"
MAX_STDIN_BYTES = 100 * 2**20  # as read.MAX_FILE_BYTES: stdin may be endless (/dev/zero)


@dataclass(frozen=True)
class Source:
    """One image to read: a file, the bytes of stdin, or the error that stands for it."""

    name: str  # what the user sees in the output
    path: Path | None = None
    data: bytes | None = None
    error: str | None = None


def _directory(directory: Path, name: str) -> list[Source]:
    """The images directly inside a directory (not its subdirectories), sorted by name."""
    try:
        found = sorted(
            entry
            for entry in directory.iterdir()
            if entry.suffix.lower() in IMAGE_SUFFIXES
            and not entry.name.startswith(".")
            and entry.is_file()
        )
    except OSError as error:
        return [Source(name, error=f"{name}: cannot list: {error.strerror or error}")]
    if not found:
        kinds = ", ".join(IMAGE_SUFFIXES)
        return [Source(name, error=f"{name}: no images in this directory ({kinds})")]
    return [Source(str(Path(name) / entry.name), path=entry) for entry in found]


def _pattern(pattern: str) -> list[Source]:
    matches = sorted(glob.glob(pattern, recursive=True))
    sources = []
    for match in matches:
        path = Path(match)
        sources += _directory(path, match) if path.is_dir() else [Source(match, path=path)]
    return sources or [Source(pattern, error=f"{pattern}: no file matches this pattern")]


def expand_sources(arguments: list[str], read_stdin: Callable[[], bytes]) -> list[Source]:
    """One Source per image, in the order of the arguments; stdin is read at most once."""
    sources: list[Source] = []
    stdin_read = False
    for argument in arguments:
        path = Path(argument)
        if argument == STDIN:
            if stdin_read:
                sources.append(Source("stdin", error="stdin: `-` given twice, read only once"))
            else:
                sources.append(_stdin_source(read_stdin))
            stdin_read = True
        elif path.is_dir():
            sources += _directory(path, argument)
        elif not path.exists() and any(c in argument for c in "*?["):
            sources += _pattern(argument)
        else:
            sources.append(Source(argument, path=path))
    return sources


def _stdin_source(read_stdin: Callable[[], bytes]) -> Source:
    try:
        return Source("stdin", data=read_stdin())
    except Unreadable as why:
        return Source("stdin", error=f"stdin: {why}")


def stdin_reader(stream: TextIO | None) -> Callable[[], bytes]:
    """What reads `-`: the bytes piped into `stream` (sys.stdin), at most MAX_STDIN_BYTES;
    Unreadable if it is closed or a terminal (where a read would wait for the keyboard)."""

    def read() -> bytes:
        if stream is None or stream.closed:
            raise Unreadable("closed, nothing to read: pipe an image into `mnist predict -`")
        if stream.isatty():
            raise Unreadable("is a terminal: pipe an image in (`cat digit.png | mnist predict -`)")
        try:
            return read_capped(stream.buffer, MAX_STDIN_BYTES)
        except Unreadable:
            raise
        except (OSError, ValueError) as error:
            raise Unreadable(f"cannot read: {getattr(error, 'strerror', None) or error}") from None

    return read
