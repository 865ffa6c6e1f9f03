"""Reading users' images: every common mode and format, MNIST-style preprocessing, and hostile
bytes, from which only our own error may come out."""

import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from mnist_cli.errors import ImageError
from mnist_cli.predict.handwriting import to_mnist
from mnist_cli.predict.read import read_image


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _paper_digit(width=300, height=200, ink=30, paper=225) -> Image.Image:
    """A dark, thick '1'-like stroke with a foot, off-centre on light paper."""
    pixels = np.full((height, width), paper, dtype=np.uint8)
    pixels[40:160, 200:215] = ink  # the stem
    pixels[150:160, 185:240] = ink  # the foot
    return Image.fromarray(pixels)


def _check_mnist_like(result: np.ndarray) -> None:
    assert result.shape == (28, 28)
    assert result.dtype == np.float32
    assert 0.0 <= result.min() and result.max() <= 1.0
    ink = result > 0.25
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 <= 21  # fitted into 20x20
    total = result.sum()
    centre = (
        (np.arange(28)[:, None] * result).sum() / total,
        (np.arange(28)[None, :] * result).sum() / total,
    )
    assert abs(centre[0] - 13.5) <= 1.0 and abs(centre[1] - 13.5) <= 1.0
    assert result[0].max() < 0.1 and result[:, 0].max() < 0.1  # black background


def test_dark_ink_on_paper_becomes_white_on_black_fitted_and_centred():
    image = read_image(_encode(_paper_digit(), "PNG"))
    _check_mnist_like(to_mnist(image))


def test_white_on_black_keeps_its_polarity():
    inverted = Image.fromarray(255 - np.asarray(_paper_digit()))
    _check_mnist_like(to_mnist(read_image(_encode(inverted, "PNG"))))


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [
        ("RGB", "JPEG"),
        ("CMYK", "JPEG"),
        ("P", "GIF"),
        ("P", "PNG"),
        ("1", "BMP"),
        ("I;16", "PNG"),
        ("L", "TIFF"),
        ("RGB", "WEBP"),
        ("LA", "PNG"),
    ],
)
def test_common_modes_and_formats(mode, fmt):
    base = _paper_digit()
    if mode == "I;16":
        image = Image.fromarray(np.asarray(base).astype(np.uint16) * 257)
    else:
        image = base.convert(mode)
    _check_mnist_like(to_mnist(read_image(_encode(image, fmt))))


def test_transparent_background_is_white_paper():
    alpha = 255 - np.asarray(_paper_digit(ink=0, paper=255))  # opaque where the ink is
    rgba = np.zeros((*alpha.shape, 4), dtype=np.uint8)
    rgba[..., 3] = alpha
    image = Image.fromarray(rgba)  # black ink, transparent paper
    _check_mnist_like(to_mnist(read_image(_encode(image, "PNG"))))


def test_exif_orientation_is_applied():
    image = _paper_digit()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    loaded = read_image(_encode(image, "JPEG", exif=exif.tobytes()))
    assert loaded.size == (image.height, image.width)


def test_no_preprocess_only_resizes():
    pixels = np.zeros((28, 28), dtype=np.uint8)
    pixels[3:6, 3:6] = 255
    result = to_mnist(read_image(_encode(Image.fromarray(pixels), "PNG")), preprocess=False)
    assert np.array_equal(result, pixels / 255.0)
    big = to_mnist(read_image(_encode(_paper_digit(), "PNG")), preprocess=False)
    assert big.shape == (28, 28)


def test_blank_page_gives_an_empty_field():
    blank = Image.new("L", (100, 100), 240)
    assert to_mnist(read_image(_encode(blank, "PNG"))).max() == 0.0


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"hello, not an image", "not an image"),
        (_png_header_only(100_000, 100_000), "too large"),
        (_png_header_only(7_000, 7_000), "too many pixels"),
        (_encode(_paper_digit(), "PNG")[:200], "damaged"),
        (b"%PDF-1.4\n", "not an image"),
    ],
)
def test_hostile_or_broken_files_give_one_clear_error(data, message):
    with pytest.raises(ImageError, match=message) as caught:
        read_image(data, "upload")
    assert "\n" not in str(caught.value)


def test_unlisted_formats_are_refused():
    data = _encode(_paper_digit(), "PPM")
    with pytest.raises(ImageError, match="not an image"):
        read_image(data)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        read_image(tmp_path / "nope.png")
    with pytest.raises(ImageError, match="directory"):
        read_image(tmp_path)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_give_only_our_error(data):
    try:
        to_mnist(read_image(data))
    except ImageError:
        pass


SMALL_PNG = _encode(_paper_digit(60, 40), "PNG")


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mangled_images_give_only_our_error(data):
    mangled = bytearray(SMALL_PNG)
    for _ in range(data.draw(st.integers(1, 6))):
        position = data.draw(st.integers(0, len(mangled) - 1))
        mangled[position] = data.draw(st.integers(0, 255))
    try:
        to_mnist(read_image(bytes(mangled)))
    except ImageError:
        pass
