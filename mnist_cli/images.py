"""Reading a user's image safely and turning it into a 28x28 MNIST-style input.

MNIST digits are white ink on black, the ink fitted into a 20x20 box keeping its aspect ratio and
placed in a 28x28 field by its centre of mass. `to_mnist` does the same to any image: greyscale,
ink polarity, contrast stretch, crop to the ink, fit, centre.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mnist_cli.errors import ImageError

ALLOWED_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP")
MAX_PIXELS = 40_000_000  # a 40-megapixel photo is fine; a decompression bomb is not
MAX_FILE_BYTES = 100 * 1024 * 1024
SIDE = 28
BOX = 20
INK_THRESHOLD = 0.25  # after contrast stretch, what counts as ink when cropping


def read_image(source: Path | bytes, name: str | None = None) -> Image.Image:
    """Open and fully decode an image from a path or bytes, refusing anything unsafe."""
    label = name or str(source if isinstance(source, Path) else "image")
    if isinstance(source, Path):
        try:
            if source.stat().st_size > MAX_FILE_BYTES:
                raise ImageError(f"{label}: file is larger than {MAX_FILE_BYTES // 2**20} MiB")
            data = source.read_bytes()
        except FileNotFoundError:
            raise ImageError(f"{label}: no such file") from None
        except IsADirectoryError:
            raise ImageError(f"{label}: is a directory, not an image") from None
        except OSError as error:
            raise ImageError(f"{label}: cannot read: {error.strerror or error}") from None
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


def _border(grey: np.ndarray) -> np.ndarray:
    width = max(1, min(grey.shape) // 10)
    return np.concatenate(
        [
            grey[:width].ravel(),
            grey[-width:].ravel(),
            grey[:, :width].ravel(),
            grey[:, -width:].ravel(),
        ]
    )


def _resize(grey: np.ndarray, width: int, height: int) -> np.ndarray:
    resized = Image.fromarray(grey.astype(np.float32), mode="F").resize(
        (width, height), Image.Resampling.LANCZOS
    )
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def _centre_by_mass(box: np.ndarray) -> np.ndarray:
    """Place the fitted ink in a 28x28 field so that its centre of mass is at the centre."""
    field = np.zeros((SIDE, SIDE), dtype=np.float32)
    height, width = box.shape
    total = float(box.sum())
    rows, cols = np.indices(box.shape)
    centre_row = float((rows * box).sum() / total) if total else (height - 1) / 2
    centre_col = float((cols * box).sum() / total) if total else (width - 1) / 2
    top = int(round((SIDE - 1) / 2 - centre_row))
    left = int(round((SIDE - 1) / 2 - centre_col))
    top = min(max(top, 0), SIDE - height)
    left = min(max(left, 0), SIDE - width)
    field[top : top + height, left : left + width] = box
    return field


def to_mnist(image: Image.Image, preprocess: bool = True) -> np.ndarray:
    """A 28x28 float32 array in [0, 1], white ink on black, as the model was trained on."""
    grey = to_grey(image)
    if not preprocess:
        if grey.shape != (SIDE, SIDE):
            grey = _resize(grey, SIDE, SIDE)
        return grey
    if np.median(_border(grey)) > 0.5:  # dark ink on light paper
        grey = 1.0 - grey
    background = float(np.median(grey))
    peak = float(np.percentile(grey, 99.9))
    if peak - background < 0.05:
        return np.zeros((SIDE, SIDE), dtype=np.float32)  # a blank page: nothing to centre
    grey = np.clip((grey - background) / (peak - background), 0.0, 1.0)
    rows = np.flatnonzero((grey > INK_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((grey > INK_THRESHOLD).any(axis=0))
    ink = grey[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    height, width = ink.shape
    scale = BOX / max(height, width)
    fitted = _resize(ink, max(1, round(width * scale)), max(1, round(height * scale)))
    return _centre_by_mass(fitted)
