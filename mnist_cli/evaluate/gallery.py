"""A picture of what a model gets wrong: misclassified digits in a grid, each captioned with its
true digit, the model's answer and how sure the model was."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

from mnist_cli.errors import MnistError, OutputError
from mnist_cli.files import write_atomically

if TYPE_CHECKING:
    import numpy as np

    from mnist_cli.evaluate.metrics import Mistake

SCALE = 4  # each 28x28 digit is drawn 112x112, pixels kept sharp
COLUMNS = 10
CAPTION = 34  # pixels of text under each digit
GAP = 6


def check_gallery_path(path: Path) -> None:
    """Refuse, before any work is done, a path that Pillow cannot write as an image."""
    from PIL import Image

    path = Path(path)
    image_format = Image.registered_extensions().get(path.suffix.lower())
    if image_format not in Image.SAVE:
        raise MnistError(
            f"--errors {path}: give an image file name such as errors.png "
            f"({path.suffix or 'no extension'} is not an image format Pillow writes)"
        )
    if path.is_dir():
        raise MnistError(f"--errors {path} is a directory: give a file name such as errors.png")
    if not path.parent.is_dir():
        raise MnistError(f"--errors {path}: folder {path.parent} does not exist")


def save_gallery(path: Path, mistakes: list[Mistake], images: list[np.ndarray]) -> int:
    """Draw `images` (uint8 [28, 28] arrays) captioned by `mistakes`, in order, into one image
    at `path`; returns how many digits it shows. With no mistakes it says so in the picture."""
    from PIL import Image

    sheet = gallery_image(mistakes, images)
    image = io.BytesIO()
    try:
        sheet.save(image, format=Image.registered_extensions()[Path(path).suffix.lower()])
    except (OSError, ValueError, KeyError) as error:
        raise OutputError(f"cannot write {path}: {error}") from None
    write_atomically(Path(path), image.getbuffer(), "the picture of mistakes")
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
        sure = f"{100 * mistake.confidence:.1f}% sure"
        draw.text((left, top + tile + 17), sure, fill="firebrick", font=font)
    return sheet
