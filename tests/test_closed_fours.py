"""Closed-top 4s added to the training images (train/styles.py, issue 15): the line joins the
tops of the two strokes, keeps the digit's own ink, is seeded, and is added to digits only."""

import json
from pathlib import Path

import pytest
import torch

from mnist_cli.checkpoint.read import load_checkpoint
from mnist_cli.checkpoint.write import make_checkpoint, payload_sha256, save_checkpoint
from mnist_cli.config import TrainConfig
from mnist_cli.data.catalog import DIGITS, FASHION_MNIST, MNIST
from mnist_cli.data.store import get_dataset, load_split
from mnist_cli.models import build_model
from mnist_cli.train.styles import (
    INK,
    bar_passes_stem,
    close_tops,
    four_of,
    with_closed_fours,
)
from mnist_cli.train.validation import validation_size
from tests.conftest import app

DEFAULT_VAL_SPLIT = TrainConfig().val_split


def _open_four(shift: int = 0, bar_end: int = 22) -> torch.Tensor:
    """An open 4: a left stroke from row 6, a right stem from row 4 (columns 17-18), a crossbar
    at row 15 that ends before column `bar_end` (past the stem, by default)."""
    four = torch.zeros(28, 28, dtype=torch.uint8)
    four[6:17, 8 + shift : 10 + shift] = 255  # the left stroke
    four[15:17, 8 + shift : bar_end + shift] = 255  # the crossbar
    four[4:24, 17 + shift : 19 + shift] = 255  # the stem, its top higher than the left stroke's
    return four


def _nine() -> torch.Tensor:
    """A 9: a loop whose right side goes on down as the stem, nothing to the right of it."""
    nine = torch.zeros(28, 28, dtype=torch.uint8)
    nine[4:6, 9:19] = nine[13:15, 9:19] = 255  # the loop's top and bottom
    nine[4:15, 9:11] = 255  # its left side
    nine[4:24, 17:19] = 255  # its right side and the stem
    return nine


def _slanted(image: torch.Tensor) -> torch.Tensor:
    """`image` leaning right as handwriting does: each row moved left by a third of its depth."""
    return torch.stack([row.roll(-(index // 3)) for index, row in enumerate(image)])


def test_only_a_four_whose_bar_passes_its_stem_is_closed():
    shapes = [_open_four(), _slanted(_open_four()), _open_four(bar_end=19), _nine()]
    assert bar_passes_stem(torch.stack(shapes)).tolist() == [True, True, False, False]


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
    images = torch.stack([_open_four(shift % 5) for shift in range(20)] + [_open_four(0, 19)] * 4)
    labels = torch.tensor([4, 7] * 10 + [4] * 4)  # the last four 4s: bars that stop at the stem
    more, more_labels = with_closed_fours(images, labels, 0.5, seed=0, four=4)
    assert torch.equal(more[:24], images) and torch.equal(more_labels[:24], labels)
    assert more_labels[24:].tolist() == [4] * 5  # half of the ten 4s whose bar passes the stem
    assert all(bar_passes_stem(more[24:])) and all(torch.any(closed > INK) for closed in more[24:])
    again, _ = with_closed_fours(images, labels, 0.5, seed=0, four=4)
    other, _ = with_closed_fours(images, labels, 0.5, seed=1, four=4)
    assert torch.equal(again, more) and not torch.equal(other, more)
    everything, _ = with_closed_fours(images, labels, 1.0, seed=0, four=4)
    assert len(everything) == 34


@pytest.mark.parametrize("share, four", [(0.0, 4), (0.5, None)])
def test_nothing_is_added_with_a_share_of_zero_or_outside_digits(share, four):
    images, labels = torch.stack([_open_four()] * 4), torch.full((4,), 4)
    more, more_labels = with_closed_fours(images, labels, share, seed=0, four=four)
    assert more is images and more_labels is labels


def test_only_datasets_of_digits_have_a_four():
    assert four_of(MNIST.class_names) == 4 == DIGITS.index("four")
    assert four_of(FASHION_MNIST.class_names) is None


def test_closed_fours_are_asked_for_and_older_checkpoints_added_none(tmp_path):
    assert TrainConfig().closed_fours == TrainConfig(epochs=40).closed_fours == 0.0
    assert TrainConfig(closed_fours=1.0).closed_fours == 1.0
    model = build_model("cnn", num_classes=10, **TrainConfig().model_kwargs())
    payload = make_checkpoint(model=model, config=TrainConfig(), dataset=MNIST, history=[])
    del payload["config"]["closed_fours"]  # saved before the field existed
    payload["sha256"] = payload_sha256(payload)
    save_checkpoint(payload, tmp_path / "old.pt")
    assert load_checkpoint(tmp_path / "old.pt").config.closed_fours == 0.0


def test_train_adds_them_and_records_the_share(tiny_data, runner, monkeypatch):
    from mnist_cli.train import loop

    seen = []

    def spy(images, labels, share, seed, four):
        seen.append((len(labels), share, seed, four))
        return with_closed_fours(images, labels, share, seed, four)

    monkeypatch.setattr(loop, "with_closed_fours", spy)
    flags = ["--epochs", "1", "--threads", "1", "--json", "--seed", "3"]
    result = runner.invoke(app(), ["train", *flags, "--closed-fours", "0.25"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["config"]["closed_fours"] == 0.25
    assert load_checkpoint("ckpt.pt").config.closed_fours == 0.25
    # Called on the images left after the validation split, with the run's seed and the 4s' class.
    [(count, share, seed, four)] = seen
    assert (share, seed, four) == (0.25, 3, 4)
    _, labels = load_split(get_dataset("mnist"), Path("data"), "train")
    assert count == len(labels) - validation_size(DEFAULT_VAL_SPLIT, len(labels))
    default = runner.invoke(app(), ["train", "--epochs", "1", "--json", "--checkpoint", "b.pt"])
    assert json.loads(default.stdout)["config"]["closed_fours"] == 0.0
    assert len(seen) == 2 and seen[1][1] == 0.0  # asked with a share of 0: nothing added


def test_an_out_of_range_share_is_one_line(tiny_data, runner):
    result = runner.invoke(app(), ["train", "--epochs", "1", "--closed-fours", "2"])
    assert result.exit_code != 0
    assert result.stderr.strip().splitlines() == ["error: --closed-fours must be from 0 to 1"]
