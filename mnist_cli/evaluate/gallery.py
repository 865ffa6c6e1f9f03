"""A picture of what a model gets wrong: misclassified digits in a grid, each captioned with its
true digit, the model's answer and how sure the model was. The picture carries a mark of ours
(in PNG, JPEG, GIF and TIFF), so that `--errors` replaces a picture it drew and nothing else: a
file of the user's, a FIFO, a device or a symbolic link in its place is refused."""

from __future__ import annotations

import io
import os
from math import isfinite
from pathlib import Path
from typing import TYPE_CHECKING

from mnist_cli.errors import MnistError, OutputError
from mnist_cli.files import Unreadable, kind_of, read_bounded, write_atomically

if TYPE_CHECKING:
    import numpy as np

    from mnist_cli.evaluate.metrics import Mistake

SCALE = 4  # each 28x28 digit is drawn 112x112, pixels kept sharp
COLUMNS = 10
CAPTION = 34  # pixels of text under each digit
GAP = 6
MARK = "mnist-cli evaluate --errors: the surest mistakes"  # in every picture drawn here
MAX_PICTURE = 256 * 2**20  # 1000 digits as an uncompressed TIFF are about 50 MB


def check_gallery_path(path: Path) -> None:
    """Refuse, before any work is done, a path that Pillow cannot write as an image, or that
    holds anything but a picture of mistakes drawn here."""
    from PIL import Image

    path = Path(path)
    image_format = Image.registered_extensions().get(path.suffix.lower())
    if image_format not in Image.SAVE:
        raise MnistError(
            f"--errors {path}: give an image file name such as errors.png "
            f"({path.suffix or 'no extension'} is not an image format Pillow writes)"
        )
    _check_replaceable(path)
    if not path.parent.is_dir():
        raise MnistError(f"--errors {path}: folder {path.parent} does not exist")


def _check_replaceable(path: Path) -> None:
    """Nothing at `path`, or a regular file that holds our mark (checked through no link: a
    FIFO or a device is refused at once, without being opened)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as error:
        raise OutputError(f"--errors {path}: cannot check it: {error.strerror or error}") from None
    kind = "a symbolic link" if os.path.islink(path) else kind_of(mode)
    if kind == "a directory":
        raise MnistError(f"--errors {path} is a directory: give a file name such as errors.png")
    if kind is not None:
        raise OutputError(
            f"--errors {path} is {kind}, not a picture mnist drew: give another file name"
        )
    if not is_our_picture(path):
        raise OutputError(
            f"--errors {path} holds a file that mnist did not draw; it would be replaced: give"
            " another --errors, or move the file away"
        )


def is_our_picture(path: Path) -> bool:
    """A regular file, within MAX_PICTURE, that holds the mark every picture here carries."""
    try:
        return MARK.encode() in read_bounded(path, MAX_PICTURE)
    except Unreadable:
        return False


def _marked(image_format: str) -> dict:
    """The save options of Pillow that put MARK into a picture of `image_format`, where the
    format keeps text; none for the others, whose existing files are then never replaced."""
    if image_format == "PNG":
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        info.add_text("Software", MARK)
        return {"pnginfo": info}
    if image_format in ("JPEG", "GIF"):
        return {"comment": MARK}
    if image_format == "TIFF":
        return {"description": MARK}
    return {}


def save_gallery(path: Path, mistakes: list[Mistake], images: list[np.ndarray]) -> int:
    """Draw `images` (uint8 [28, 28] arrays) captioned by `mistakes`, in order, into one image
    at `path`; returns how many digits it shows. With no mistakes it says so in the picture.
    What is at `path` is checked again first: evaluating takes a while."""
    from PIL import Image

    path = Path(path)
    sheet = gallery_image(mistakes, images)
    image = io.BytesIO()
    try:
        image_format = Image.registered_extensions()[path.suffix.lower()]
        sheet.save(image, format=image_format, **_marked(image_format))
    except (OSError, ValueError, KeyError) as error:
        raise OutputError(f"cannot write {path}: {error}") from None
    _check_replaceable(path)
    write_atomically(path, image.getbuffer(), "the picture of mistakes")
    return len(mistakes)


def gallery_image(mistakes: list[Mistake], images: list[np.ndarray]):
    """The picture itself, as a PIL image (RGB)."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    tile = 28 * SCALE
    columns = max(1, min(COLUMNS, len(mistakes)))
    rows = max(1, -(-len(mistakes) // columns))
    width = columns * (tile + GAP) + GAP
    height = rows * (tile + CAPTION + GAP) + GAP
    sheet = Image.new("RGB", (width, max(height, 60)), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=13)
    if not mistakes:
        draw.text((GAP, GAP), "no mistakes", fill="black", font=font)
    for position, (mistake, pixels) in enumerate(zip(mistakes, images, strict=True)):
        left = GAP + (position % columns) * (tile + GAP)
        top = GAP + (position // columns) * (tile + CAPTION + GAP)
        digit = Image.fromarray(np.asarray(pixels)).resize((tile, tile), Image.NEAREST)
        sheet.paste(digit, (left, top))
        caption = f"true {mistake.true}, read {mistake.predicted}"
        draw.text((left, top + tile + 2), caption, fill="black", font=font)
        sure = f"{100 * mistake.confidence:.1f}% sure" if isfinite(mistake.confidence) else ""
        draw.text((left, top + tile + 17), sure, fill="firebrick", font=font)
    return sheet
