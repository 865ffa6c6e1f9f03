"""Preparing a photo of an object the way Fashion-MNIST's images were made (digits are prepared
by handwriting.py; pipeline.py chooses by the dataset a checkpoint was trained on).

Fashion-MNIST (Xiao et al. 2017, section 2) took product photos on white, trimmed them to the
article, resized the longest edge to 28 and centred the result in 28x28, then negated them: a
bright article on black that fills the frame. So, unlike digits, there is no 20x20 box and no
centre-of-mass step: the article's bounding box is fitted into the whole frame.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from mnist_cli.predict.handwriting import to_mnist
from mnist_cli.predict.read import SIDE, resize, to_grey

OBJECT_THRESHOLD = 0.1  # after removing the background, what counts as the article when cropping


def _border(grey: np.ndarray) -> np.ndarray:
    """The outer tenth of the picture on every side: where the background shows."""
    width = max(1, min(grey.shape) // 10)
    return np.concatenate(
        [
            grey[:width].ravel(),
            grey[-width:].ravel(),
            grey[:, :width].ravel(),
            grey[:, -width:].ravel(),
        ]
    )


def to_fashion(image: Image.Image, preprocess: bool = True) -> np.ndarray:
    """A 28x28 float32 array in [0, 1]: the article bright on black, fitted to the frame."""
    if not preprocess:
        return to_mnist(image, preprocess=False)  # only resized: the same for every dataset
    grey = to_grey(image)
    if np.median(_border(grey)) > 0.5:  # an article on light paper, as product photos are
        grey = 1.0 - grey
    background = float(np.median(_border(grey)))
    grey = np.clip((grey - background) / max(1.0 - background, 1e-6), 0.0, 1.0)
    mask = grey > OBJECT_THRESHOLD
    if not mask.any():
        return np.zeros((SIDE, SIDE), dtype=np.float32)  # an empty background: nothing to fit
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    article = grey[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    height, width = article.shape
    scale = SIDE / max(height, width)
    fitted = resize(article, max(1, round(width * scale)), max(1, round(height * scale)))
    field = np.zeros((SIDE, SIDE), dtype=np.float32)
    top, left = (SIDE - fitted.shape[0]) // 2, (SIDE - fitted.shape[1]) // 2
    field[top : top + fitted.shape[0], left : left + fitted.shape[1]] = fitted
    return field
