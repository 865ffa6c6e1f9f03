"""MNIST-style preprocessing on the cases that break a plain resize: uneven grey paper, faint
pencil, specks and clutter along the edges, thin pen strokes, tight crops; every colour mode and
damaged file the issue names; and arbitrary pixels and bytes, from which only our error comes."""

import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from mnist_cli.errors import ImageError
from mnist_cli.predict.handwriting import to_mnist
from mnist_cli.predict.read import read_image
from tests.test_images import _check_mnist_like, _encode, _paper_digit


def _lit(pixels: np.ndarray, darkest: float, brightest: float) -> Image.Image:
    """Paper lit from one side: brightness runs from `darkest` to `brightest` left to right."""
    light = np.linspace(darkest, brightest, pixels.shape[1])[None, :]
    return Image.fromarray((pixels.astype(np.float32) * light).astype(np.uint8))


def _similar(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two 28x28 images, at the best shift of up to 2 pixels each way (a shift
    of a pixel is nothing to the model but much to a pixel-wise comparison)."""
    return max(
        float(np.corrcoef(np.roll(a, (dr, dc), (0, 1)).ravel(), b.ravel())[0, 1])
        for dr in range(-2, 3)
        for dc in range(-2, 3)
    )


def test_uneven_light_and_faint_pencil():
    clean = to_mnist(_paper_digit())
    faint = np.asarray(_paper_digit(ink=190, paper=240))  # pencil: ink barely darker than paper
    for image in (_lit(np.asarray(_paper_digit()), 0.3, 1.0), _lit(faint, 0.45, 1.0)):
        result = to_mnist(read_image(_encode(image, "JPEG", quality=60)))
        _check_mnist_like(result)
        assert _similar(result, clean) > 0.9


def test_grey_paper_in_dim_light_is_still_dark_on_light():
    dim = np.asarray(_paper_digit(ink=40, paper=110))  # all of it darker than mid-grey
    _check_mnist_like(to_mnist(Image.fromarray(dim)))


def test_specks_and_an_edge_band_are_ignored():
    clean = to_mnist(_paper_digit())
    pixels = np.asarray(_paper_digit()).copy()
    pixels[:, :8] = 20  # the dark edge of a photo
    pixels[195:, :] = 60  # a ruled line along the bottom edge
    pixels[20:23, 30:33] = 30  # specks of dirt
    pixels[170:172, 100:102] = 30
    result = to_mnist(Image.fromarray(pixels))
    _check_mnist_like(result)
    assert _similar(result, clean) > 0.95


def test_a_tight_crop_touching_every_edge_is_kept():
    ring = np.full((60, 50), 255, dtype=np.uint8)
    ring[:, :6] = ring[:, -6:] = ring[:6] = ring[-6:] = 0  # a "0" cropped to its ink
    result = to_mnist(Image.fromarray(ring))
    assert result.sum() > 30
    assert result[13:15, 13:15].max() < 0.1  # the hole stays a hole


def test_thin_pen_strokes_are_thickened_like_mnist():
    pixels = np.full((400, 400), 230, dtype=np.uint8)
    pixels[60:340, 198:201] = 20  # a 3-pixel pen line, 280 pixels tall
    result = to_mnist(Image.fromarray(pixels))
    assert (result > 0.5).sum(axis=1).max() >= 2  # MNIST strokes are 2 to 3 pixels wide


def test_mnist_digits_stay_as_they_are(real_mnist, runner):
    """Preprocessing an image that is already MNIST-like changes it by little more than a shift."""
    from mnist_cli.data.catalog import MNIST
    from mnist_cli.data.store import load_split
    from tests.conftest import app

    imported = runner.invoke(app(), ["download", "--from", str(real_mnist)])
    assert imported.exit_code == 0, imported.output
    digits = load_split(MNIST, Path("data"), "test")[0][:50].numpy()
    similarity = [_similar(to_mnist(Image.fromarray(d)), d / 255.0) for d in digits]
    assert np.median(similarity) > 0.9


def _animated_gif() -> bytes:
    frames = [_paper_digit().convert("P"), Image.new("P", (300, 200), 0)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    return buffer.getvalue()


def _palette_with_transparency() -> bytes:
    image = _paper_digit(ink=0, paper=255).convert("P")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", transparency=255)  # the paper is transparent
    return buffer.getvalue()


@pytest.mark.parametrize(
    "data",
    [
        _encode(Image.fromarray(np.asarray(_paper_digit()).astype(np.int32) * 1000), "TIFF"),
        _encode(Image.fromarray(np.asarray(_paper_digit()).astype(np.float32) / 255), "TIFF"),
        _encode(Image.fromarray(np.asarray(_paper_digit()).astype(np.uint16) * 257), "TIFF"),
        _encode(_paper_digit().convert("CMYK"), "TIFF"),
        _encode(_paper_digit().convert("RGBA"), "WEBP", lossless=True),
        _encode(_paper_digit().convert("P"), "BMP"),
        _palette_with_transparency(),
        _animated_gif(),
    ],
    ids=[
        "32-bit",
        "float",
        "16-bit-tiff",
        "cmyk-tiff",
        "rgba-webp",
        "palette-bmp",
        "palette-transparent",
        "animated-gif",
    ],
)
def test_more_modes_work(data):
    _check_mnist_like(to_mnist(read_image(data)))


def _zero_width_png() -> bytes:
    from tests.test_images import _png_header_only

    return _png_header_only(0, 10)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_encode(_paper_digit(), "JPEG")[:-400], "damaged"),  # a truncated download
        (_encode(_paper_digit(), "GIF")[:300], "damaged"),
        (_zero_width_png(), "not an image|no pixels|damaged"),
    ],
)
def test_truncated_and_zero_size_give_one_line(data, message):
    with pytest.raises(ImageError, match=message) as caught:
        to_mnist(read_image(data, "upload"))
    assert "\n" not in str(caught.value)


@settings(max_examples=100, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 40), st.integers(1, 40))))
def test_any_pixels_give_a_valid_input(pixels):
    result = to_mnist(Image.fromarray(pixels))
    assert result.shape == (28, 28) and result.dtype == np.float32
    assert np.isfinite(result).all() and result.min() >= 0 and result.max() <= 1


SAMPLES = {
    fmt: _encode(_paper_digit(48, 32).convert("RGB"), fmt)
    for fmt in ("JPEG", "GIF", "BMP", "TIFF", "WEBP")
}


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(sorted(SAMPLES)), st.data())
def test_mangled_files_of_every_format_give_only_our_error(fmt, data):
    mangled = bytearray(SAMPLES[fmt])
    for _ in range(data.draw(st.integers(1, 6))):
        position = data.draw(st.integers(0, len(mangled) - 1))
        mangled[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(mangled)))
    try:
        to_mnist(read_image(bytes(mangled[:cut])))
    except ImageError:
        pass
