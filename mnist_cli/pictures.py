"""The pictures mnist draws (`evaluate --errors`, `train --plot`, `evaluate --reliability`) and
the one rule for writing them: each carries a mark of ours (a PNG text chunk, a JPEG or GIF
comment, a TIFF description, an SVG's or a PDF's metadata), and an existing file is replaced
only if it is a regular file holding a mark. A file of the user's, a symbolic link, a FIFO or a
device in its place is refused, the last two without being opened."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mnist_cli.errors import MnistError, OutputError
from mnist_cli.files import Unreadable, kind_of, read_bounded, write_atomically

MAX_PICTURE = 256 * 2**20  # 1000 digits as an uncompressed TIFF are about 50 MB


@dataclass(frozen=True)
class Picture:
    """What differs between the options that draw a picture."""

    mark: str  # the text every picture of this option carries
    what: str  # the picture in a user's words, for errors
    example: str  # a file name to suggest


PICTURES = {
    "--errors": Picture(
        "mnist-cli evaluate --errors: the surest mistakes", "the picture of mistakes", "errors.png"
    ),
    "--plot": Picture("mnist-cli train --plot: the learning curves", "the plot", "curves.png"),
    "--reliability": Picture(
        "mnist-cli evaluate --reliability: the reliability diagram",
        "the reliability diagram",
        "reliability.png",
    ),
}
# Where matplotlib's savefig(metadata=...) keeps text, by format: PNG a tEXt chunk, SVG Dublin
# Core, PDF the document information; all three stay readable as plain bytes in the file.
SAVEFIG_KEYS = {"png": "Software", "svg": "Description", "pdf": "Creator"}


def check_picture_path(path: Path, option: str) -> None:
    """Before any work: `path` may be replaced (check_replaceable) and its folder exists."""
    path = Path(path)
    check_replaceable(path, option)
    if not path.parent.is_dir():
        raise MnistError(f"{option} {path}: folder {path.parent} does not exist")


def check_replaceable(path: Path, option: str) -> None:
    """Nothing at `path`, or a regular file that holds our mark (checked through no link: a
    FIFO or a device is refused at once, without being opened)."""
    path = Path(path)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as error:
        raise OutputError(f"{option} {path}: cannot check it: {error.strerror or error}") from None
    kind = "a symbolic link" if os.path.islink(path) else kind_of(mode)
    if kind == "a directory":
        raise MnistError(
            f"{option} {path} is a directory: give a file name such as {PICTURES[option].example}"
        )
    if kind is not None:
        raise OutputError(
            f"{option} {path} is {kind}, not a picture mnist drew: give another file name"
        )
    if not is_our_picture(path):
        raise OutputError(
            f"{option} {path} holds a file that mnist did not draw; it would be replaced: give"
            f" another {option}, or move the file away"
        )


def is_our_picture(path: Path) -> bool:
    """A regular file, within MAX_PICTURE, that holds the mark of one of our pictures."""
    try:
        data = read_bounded(Path(path), MAX_PICTURE)
    except Unreadable:
        return False
    return any(picture.mark.encode() in data for picture in PICTURES.values())


def write_picture(path: Path, data: bytes | memoryview, option: str) -> None:
    """Write the drawn `data` to `path` atomically, after checking once more what is there:
    the work that drew it took a while, and a file may have appeared meanwhile."""
    check_replaceable(path, option)
    write_atomically(Path(path), data, PICTURES[option].what)


def pillow_options(image_format: str, option: str) -> dict:
    """The save options of Pillow that put the mark into a picture of `image_format`, where the
    format keeps text; none for the others, whose existing files are then never replaced."""
    mark = PICTURES[option].mark
    if image_format == "PNG":
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        info.add_text("Software", mark)
        return {"pnginfo": info}
    if image_format in ("JPEG", "GIF"):
        return {"comment": mark}
    if image_format == "TIFF":
        return {"description": mark}
    return {}


def savefig_metadata(image_format: str, option: str) -> dict:
    """matplotlib's `savefig(metadata=...)` that marks a picture of `image_format` ("png");
    empty where the format keeps no text of ours, whose existing files are never replaced."""
    key = SAVEFIG_KEYS.get(image_format)
    return {key: PICTURES[option].mark} if key else {}
