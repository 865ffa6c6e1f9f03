"""The handwriting style benchmark's generator (benchmarks/handwriting_styles.py): every kind is
produced, changes what it says it changes, and is the same for the same seed."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from benchmarks.handwriting_styles import KINDS, score, style_set
from benchmarks.photos import Pen, render_photo
from mnist_cli.checkpoint.read import load_checkpoint
from mnist_cli.checkpoint.write import make_checkpoint, save_checkpoint
from mnist_cli.config import TrainConfig
from mnist_cli.data.catalog import MNIST
from mnist_cli.models import build_model


def _digit(label: int) -> np.ndarray:
    """A rough 28x28 MNIST-like drawing of 1, 4, 7 or anything else (a ring)."""
    digit = np.zeros((28, 28), dtype=np.uint8)
    if label == 1:
        digit[4:24, 13:16] = 255
    elif label == 7:
        digit[4:7, 8:20] = 255
        for row in range(7, 24):
            digit[row, 18 - (row - 7) // 3 : 21 - (row - 7) // 3] = 255
    elif label == 4:
        digit[4:16, 8:11] = 255  # the left stroke, open at the top
        digit[14:17, 8:21] = 255
        digit[4:24, 17:20] = 255
    else:
        digit[4:24, 8:20] = 255
        digit[7:21, 11:17] = 0
    return digit


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    labels = np.arange(20) % 10
    return np.stack([_digit(int(label)) for label in labels]), labels


def _grey(photo: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(photo)).convert("L"), dtype=np.float32) / 255


def test_every_kind_is_produced_for_its_digits(digits):
    images, labels = digits
    for kind in KINDS:
        samples = style_set(kind, images, labels, count=3)
        assert len(samples) == min(3, int(np.isin(labels, kind.digits).sum())), kind.name
        for sample in samples:
            assert sample.label in kind.digits
            assert sample.digit.shape == (28, 28) and sample.digit.dtype == np.uint8
            height, width = _grey(sample.photo).shape
            assert 240 <= height <= 480 and 240 <= width <= 480


@pytest.mark.parametrize("name", ["1 with lead-in", "7 with crossbar", "4 with closed top"])
def test_the_drawn_kinds_add_strokes(digits, name):
    images, labels = digits
    kind = next(k for k in KINDS if k.name.startswith(name))
    original = images[labels == kind.digits[0]][0]
    changed = style_set(kind, images, labels, count=1)[0].digit
    added = changed.astype(int) - original.astype(int)
    assert (added > 128).sum() >= 6  # a stroke, not noise
    assert (added < -64).sum() == 0  # nothing of the digit taken away


def test_the_same_seed_gives_the_same_set_and_another_seed_another(digits):
    images, labels = digits
    for kind in KINDS:
        first = style_set(kind, images, labels, count=2, seed=5)
        again = style_set(kind, images, labels, count=2, seed=5)
        other = style_set(kind, images, labels, count=2, seed=6)
        assert [s.photo for s in first] == [s.photo for s in again]
        assert all(np.array_equal(a.digit, b.digit) for a, b in zip(first, again, strict=True))
        assert [s.photo for s in first] != [s.photo for s in other]


def test_a_ruled_line_crosses_the_page_and_a_ballpoint_is_thin(digits):
    digit = digits[0][1]  # a 1
    plain = _grey(render_photo(digit, 3))
    ruled = _grey(render_photo(digit, 3, pen=Pen(ruled=True)))
    thin = _grey(render_photo(digit, 3, pen=Pen(thin=True)))
    # The same paper, light and camera: the line is what differs, along a row across the page.
    darker = plain - ruled > 0.1
    rows = np.flatnonzero(darker.mean(axis=1) > 0.05)  # a little tilted: over a few rows
    assert len(rows) and rows[-1] - rows[0] < 0.1 * len(darker)
    assert darker[rows[0] : rows[-1] + 1].any(axis=0).mean() > 0.85
    paper = np.median(plain)
    assert (thin < paper - 0.15).sum() < 0.6 * (plain < paper - 0.15).sum()


def test_score_reports_a_fraction_per_kind(digits, tmp_path):
    images, labels = digits
    torch.manual_seed(0)
    config = TrainConfig()
    model = build_model("cnn", num_classes=10, **config.model_kwargs())
    payload = make_checkpoint(model=model, config=config, dataset=MNIST, history=[])
    save_checkpoint(payload, tmp_path / "c.pt")
    checkpoint = load_checkpoint(tmp_path / "c.pt")
    for kind in KINDS:
        result = score(checkpoint, kind, style_set(kind, images, labels, count=2))
        assert 0.0 <= result["photo"] <= 1.0
        assert ("28x28" in result) == kind.flat
