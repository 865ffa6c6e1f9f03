"""A picture of what a model gets wrong: misclassified digits in a grid, each captioned with its
true digit, the model's answer and how sure the model was. It is written as every picture of
ours is (pictures.py): marked (in PNG, JPEG, GIF and TIFF), and never over anything but a
picture mnist drew."""

from __future__ import annotations

import io
from math import isfinite
from pathlib import Path
from typing import TYPE_CHECKING

from mnist_cli.errors import MnistError, OutputError
from mnist_cli.pictures import check_picture_path, pillow_options, write_picture

if TYPE_CHECKING:
    import numpy as np

    from mnist_cli.evaluate.metrics import Mistake

SCALE = 4  # each 28x28 digit is drawn 112x112, pixels kept sharp
COLUMNS = 10
CAPTION = 34  # pixels of text under each digit
GAP = 6
OPTION = "--errors"


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
    check_picture_path(path, OPTION)


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
        sheet.save(image, format=image_format, **pillow_options(image_format, OPTION))
    except (OSError, ValueError, KeyError) as error:
        raise OutputError(f"cannot write {path}: {error}") from None
    write_picture(path, image.getbuffer(), OPTION)
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
