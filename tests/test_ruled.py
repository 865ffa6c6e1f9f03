"""Ruled lines under a digit (issue 15): wiped before the crop, so that the digit is cropped as if
it stood alone; the digit's own long strokes (the base of a 2, the bar of a tightly cropped 7)
are never taken for one."""

import numpy as np
from PIL import Image

from mnist_cli.predict.handwriting import to_mnist
from mnist_cli.predict.ruled import wipe_ruled_lines
from tests.test_images import _check_mnist_like, _paper_digit
from tests.test_preprocess import _similar


def _ruled(pixels: np.ndarray, row: int, thickness: int = 3, tilt: float = 0.0) -> np.ndarray:
    """`pixels` (dark ink on light paper) with a grey printed line across the whole width."""
    ruled = pixels.copy()
    height, width = ruled.shape
    for col in range(width):
        top = int(round(row + tilt * (col - width / 2)))
        ruled[top : top + thickness, col] = np.minimum(ruled[top : top + thickness, col], 90)
    return ruled


def test_a_digit_on_a_ruled_line_is_cropped_like_the_digit_alone():
    clean = to_mnist(_paper_digit())
    pixels = np.asarray(_paper_digit())
    # Touching the foot of the 1, just under it, and tilted by a degree.
    for row, tilt in ((160, 0.0), (166, 0.0), (163, 0.017)):
        result = to_mnist(Image.fromarray(_ruled(pixels, row, tilt=tilt)))
        _check_mnist_like(result)
        assert _similar(result, clean) > 0.95, (row, tilt)


def test_without_the_wipe_the_line_would_spoil_the_crop():
    """The test above means something: the same images, crop and all, but no wipe."""
    from mnist_cli.predict import handwriting

    pixels = _ruled(np.asarray(_paper_digit()), 160)
    original = handwriting.wipe_ruled_lines
    handwriting.wipe_ruled_lines = lambda ink: ink
    try:
        spoiled = to_mnist(Image.fromarray(pixels))
    finally:
        handwriting.wipe_ruled_lines = original
    assert _similar(spoiled, to_mnist(_paper_digit())) < 0.9


def _ink(height: int = 100, width: int = 100) -> np.ndarray:
    return np.zeros((height, width), dtype=np.float32)


def test_the_base_of_a_two_and_the_bar_of_a_seven_stay():
    two = _ink()
    two[5:10, 10:90] = 1.0  # the top arc, as a bar
    two[10:85, 80:88] = 1.0
    two[85:92, 5:95] = 1.0  # the long base, almost the whole width
    seven = _ink()
    seven[2:9, 0:100] = 1.0  # a tightly cropped bar, the whole width, at the top
    seven[9:98, 45:53] = 1.0
    for ink in (two, seven):
        assert np.array_equal(wipe_ruled_lines(ink), ink)


def test_where_a_stroke_crosses_the_line_the_stroke_stays():
    ink = _ink(200, 300)
    ink[120:123, :] = 0.7  # a line across the whole width...
    ink[40:150, 140:150] = 1.0  # ...and a 1 whose stem goes through it
    wiped = wipe_ruled_lines(ink)
    assert wiped[120:123, :100].max() == 0 and wiped[120:123, 200:].max() == 0
    assert wiped[40:150, 140:150].min() == 1.0  # the stem is whole


def test_nothing_but_a_line_is_left_alone():
    ink = _ink()
    ink[50:54, 5:95] = 1.0  # a 1 lying down, or a dash: not ours to wipe
    assert np.array_equal(wipe_ruled_lines(ink), ink)
    assert np.array_equal(wipe_ruled_lines(_ink()), _ink())
