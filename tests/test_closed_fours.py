"""Closed-top 4s added to the training images (train/styles.py, issue 15): the line joins the
tops of the two strokes, keeps the digit's own ink, is seeded, and is added to digits only."""

import json

import pytest
import torch

from mnist_cli.checkpoint import load_checkpoint
from mnist_cli.config import LEGACY_RECIPE, LONG_RECIPE, SHORT_RECIPE, TrainConfig
from mnist_cli.data.catalog import DIGITS, FASHION_MNIST, MNIST
from mnist_cli.train.styles import INK, close_tops, four_of, with_closed_fours
from tests.conftest import app


def _open_four(shift: int = 0) -> torch.Tensor:
    """An open 4: a left stroke from row 6, a right stem from row 4, a crossbar at row 15."""
    four = torch.zeros(28, 28, dtype=torch.uint8)
    four[6:17, 8 + shift : 10 + shift] = 255  # the left stroke
    four[15:17, 8 + shift : 20 + shift] = 255  # the crossbar
    four[4:24, 17 + shift : 19 + shift] = 255  # the stem, its top higher than the left stroke's
    return four


def test_the_line_joins_the_tops_of_the_two_strokes_and_keeps_the_ink():
    four = _open_four()
    closed = close_tops(four[None], torch.Generator().manual_seed(0))[0]
    assert torch.all(closed >= four)  # nothing of the digit is lost
    added = (closed > INK) & ~(four > INK)
    rows, columns = added.nonzero().unbind(1)
    assert len(rows) >= 8  # a line, not a dot
    # Between the strokes (columns 10 to 16), from the left top (row 6) to the stem's (row 4).
    assert columns.min() <= 11 and columns.max() >= 15
    assert rows.min() >= 2 and rows.max() <= 8
    # Every column between the strokes is crossed: the top is closed.
    assert all(added[:, column].any() or four[:10, column].any() for column in range(10, 17))


def test_an_image_with_ink_on_one_side_only_is_left_as_it_is():
    blank = torch.zeros(1, 28, 28, dtype=torch.uint8)
    dot = blank.clone()
    dot[0, 10:20, 10] = 255  # one column of ink: nothing left of its middle
    generator = torch.Generator().manual_seed(0)
    assert torch.equal(close_tops(blank, generator), blank)
    assert torch.equal(close_tops(dot, generator), dot)
    assert close_tops(torch.zeros(0, 28, 28, dtype=torch.uint8), generator).shape == (0, 28, 28)


def test_a_share_of_the_fours_is_added_labelled_four_and_the_rest_kept():
    images = torch.stack([_open_four(shift % 5) for shift in range(20)])
    labels = torch.tensor([4, 7] * 10)
    more, more_labels = with_closed_fours(images, labels, 0.5, seed=0, four=4)
    assert torch.equal(more[:20], images) and torch.equal(more_labels[:20], labels)
    assert more_labels[20:].tolist() == [4] * 5  # half of the ten 4s
    assert all(torch.any(added != image) for added, image in zip(more[20:], images, strict=False))
    again, _ = with_closed_fours(images, labels, 0.5, seed=0, four=4)
    other, _ = with_closed_fours(images, labels, 0.5, seed=1, four=4)
    assert torch.equal(again, more) and not torch.equal(other, more)
    everything, _ = with_closed_fours(images, labels, 1.0, seed=0, four=4)
    assert len(everything) == 30


@pytest.mark.parametrize("share, four", [(0.0, 4), (0.5, None)])
def test_nothing_is_added_with_a_share_of_zero_or_outside_digits(share, four):
    images, labels = torch.stack([_open_four()] * 4), torch.full((4,), 4)
    more, more_labels = with_closed_fours(images, labels, share, seed=0, four=four)
    assert more is images and more_labels is labels


def test_only_datasets_of_digits_have_a_four():
    assert four_of(MNIST.class_names) == 4 == DIGITS.index("four")
    assert four_of(FASHION_MNIST.class_names) is None


def test_every_recipe_adds_closed_fours_and_older_checkpoints_added_none():
    assert TrainConfig().closed_fours == SHORT_RECIPE["closed_fours"] > 0
    assert TrainConfig(epochs=40).closed_fours == LONG_RECIPE["closed_fours"] > 0
    assert LEGACY_RECIPE["closed_fours"] == 0
    assert TrainConfig(closed_fours=0.0).closed_fours == 0.0


def test_train_adds_them_and_records_the_share(tiny_data, runner):
    flags = ["--epochs", "1", "--threads", "1", "--json", "--val-split", "0"]
    plain = runner.invoke(app(), ["train", *flags, "--closed-fours", "0", "--checkpoint", "a.pt"])
    closed = runner.invoke(app(), ["train", *flags, "--closed-fours", "1", "--checkpoint", "b.pt"])
    assert plain.exit_code == 0 and closed.exit_code == 0, closed.output
    assert json.loads(closed.stdout)["config"]["closed_fours"] == 1.0
    assert load_checkpoint("b.pt").config.closed_fours == 1.0
    # The tiny data has 4s: trained with their closed copies, the weights come out otherwise.
    weights = [load_checkpoint(name).model.state_dict() for name in ("a.pt", "b.pt")]
    assert any(not torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_an_out_of_range_share_is_one_line(tiny_data, runner):
    result = runner.invoke(app(), ["train", "--epochs", "1", "--closed-fours", "2"])
    assert result.exit_code != 0
    assert result.stderr.strip().splitlines() == ["error: --closed-fours must be from 0 to 1"]
