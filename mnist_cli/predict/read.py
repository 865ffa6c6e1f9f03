"""Reading a user's image safely: an allow-list of formats, caps on size, every colour mode, to a
grey array; and resizing such arrays. What is done to the pixels next, to make them look like the
training images, is in handwriting.py (digits) and fashion.py (articles).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mnist_cli.errors import ImageError
from mnist_cli.files import Unreadable, read_bounded

ALLOWED_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP")
MAX_PIXELS = 40_000_000  # a 40-megapixel photo is fine; a decompression bomb is not
MAX_FILE_BYTES = 100 * 1024 * 1024
SIDE = 28  # the side of every model input


def read_image(source: Path | bytes, name: str | None = None) -> Image.Image:
    """Open and fully decode an image from a path or bytes, refusing anything unsafe."""
    label = name or str(source if isinstance(source, Path) else "image")
    if isinstance(source, Path):
        try:
            data = read_bounded(source, MAX_FILE_BYTES, "an image")
        except Unreadable as why:
            raise ImageError(f"{label}: {why}") from None
    else:
        data = source
    if not data:
        raise ImageError(f"{label}: empty file, not an image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
            if image.width * image.height > MAX_PIXELS:
                raise ImageError(f"{label}: {image.width}x{image.height} is too many pixels")
            image.load()
            image = ImageOps.exif_transpose(image)
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(
            f"{label}: not an image (or not one of {', '.join(ALLOWED_FORMATS)})"
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{label}: image is too large (possible decompression bomb)") from None
    except Exception as error:  # Pillow raises many kinds for damaged files
        raise ImageError(f"{label}: damaged or unsupported image ({error})") from None
    if image.width == 0 or image.height == 0:
        raise ImageError(f"{label}: image has no pixels")
    return image


def to_grey(image: Image.Image) -> np.ndarray:
    """Any mode -> float32 array in [0, 1]; transparency is composited onto white paper."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        grey = np.nan_to_num(np.asarray(image, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        top = float(grey.max()) if grey.size else 0.0
        scale = 65535.0 if top > 255 else 255.0 if top > 1 else 1.0
        return np.clip(grey / scale, 0.0, 1.0)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, rgba)
    try:
        grey = image.convert("L")
    except (ValueError, OSError) as error:
        raise ImageError(f"cannot read colour mode {image.mode}: {error}") from None
    return np.asarray(grey, dtype=np.float32) / 255.0


def resize(
    grey: np.ndarray, width: int, height: int, method=Image.Resampling.LANCZOS
) -> np.ndarray:
    """A grey array in [0, 1] resized to width x height, still in [0, 1]."""
    resized = Image.fromarray(grey.astype(np.float32), mode="F").resize((width, height), method)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)
