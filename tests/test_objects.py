"""Photos for a Fashion-MNIST checkpoint: a dark article on light paper is inverted and its
bounding box fitted to the whole 28x28 frame, with no centre-of-mass step; digit datasets keep
the handwriting preparation."""

import numpy as np
import pytest
from PIL import Image

from mnist_cli.predict.fashion import to_fashion
from mnist_cli.predict.handwriting import to_mnist
from mnist_cli.predict.pipeline import preparer_for


def _article() -> np.ndarray:
    """A T-shirt-like shape as Fashion-MNIST stores it: bright on black, its bounding box 28
    tall and 24 wide, lopsided so that its centre of mass is not its box's centre."""
    article = np.zeros((28, 28), dtype=np.float32)
    article[0:8, 2:26] = 0.9  # shoulders and sleeves
    article[8:28, 7:21] = 0.7  # body
    article[20:28, 7:12] = 1.0  # a bright patch, low on one side
    return article


def _photo(article: np.ndarray, paper: int = 235, dark_paper: bool = False) -> Image.Image:
    """A 600x400 photo with the article 10 times larger, off-centre, on paper."""
    big = np.kron(article, np.ones((10, 10), dtype=np.float32))
    canvas = np.full((400, 600), 0.0 if dark_paper else 1.0, dtype=np.float32)
    canvas[60:340, 300:580] = big if dark_paper else 1.0 - big  # dark article on light paper
    scale = 255 if dark_paper else paper
    return Image.fromarray((canvas * scale).astype(np.uint8))


def _bounding_box(pixels: np.ndarray, threshold: float = 0.1) -> tuple[int, int]:
    rows = np.flatnonzero((pixels > threshold).any(axis=1))
    cols = np.flatnonzero((pixels > threshold).any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


@pytest.mark.parametrize("dark_paper", [False, True])
def test_a_photo_becomes_the_article_as_fashion_mnist_stores_it(dark_paper):
    article = _article()
    prepared = to_fashion(_photo(article, dark_paper=dark_paper))
    assert prepared.shape == (28, 28) and prepared.dtype == np.float32
    assert _bounding_box(prepared) == (28, 24)  # fitted to the frame, centred by its box
    assert np.corrcoef(prepared.ravel(), article.ravel())[0, 1] > 0.95
    assert np.abs(prepared - article).mean() < 0.05


def test_differs_from_the_handwriting_preparation():
    photo = _photo(_article())
    digit_style = to_mnist(photo)
    assert max(_bounding_box(digit_style)) == 20  # MNIST's 20x20 box, centred by mass
    assert np.corrcoef(digit_style.ravel(), _article().ravel())[0, 1] < 0.8


def test_an_empty_photo_is_blank():
    assert not to_fashion(Image.new("L", (300, 200), 240)).any()


def test_no_preprocess_only_resizes():
    photo = Image.fromarray((_article() * 255).astype(np.uint8)).resize((56, 56))
    assert np.array_equal(to_fashion(photo, preprocess=False), to_mnist(photo, preprocess=False))


def test_each_dataset_gets_its_preparation():
    assert preparer_for("fashion-mnist") is to_fashion
    for name in ("mnist", "kmnist", "qmnist", "qmnist10k", "a-dataset-from-the-future"):
        assert preparer_for(name) is to_mnist
