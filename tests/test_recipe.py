"""The recipe that scales with --epochs (issue 15): the long-run augmentations (elastic
distortion, stroke thickness), the width, and how a checkpoint records what ran."""

import json

import pytest
import torch

from mnist_cli.checkpoint.read import load_checkpoint
from mnist_cli.checkpoint.write import make_checkpoint, payload_sha256, save_checkpoint
from mnist_cli.config import LEGACY_RECIPE, LONG_RECIPE, LONG_RUN, SHORT_RECIPE, TrainConfig
from mnist_cli.data.catalog import MNIST
from mnist_cli.inference.torch_model import predict_logits
from mnist_cli.models import build_model
from mnist_cli.train.augment import Augmentation, _thickness, augment, augmentation_of
from tests.conftest import app

BACKGROUND = -0.4242
LONG = Augmentation(elastic=1.5, thickness=0.5)


def _digits(count=8, seed=0):
    generator = torch.Generator().manual_seed(seed)
    images = torch.full((count, 1, 28, 28), BACKGROUND)
    images[:, :, 6:22, 12:15] = 2.8 * (0.5 + torch.rand(count, 1, 1, 1, generator=generator))
    images[:, :, 6:9, 9:19] = 2.8  # a bar across the top: something to bend
    return images


def test_long_augmentation_repeats_with_a_seed_and_changes_images():
    images = _digits()
    first = augment(images, BACKGROUND, torch.Generator().manual_seed(1), LONG)
    again = augment(images, BACKGROUND, torch.Generator().manual_seed(1), LONG)
    other = augment(images, BACKGROUND, torch.Generator().manual_seed(2), LONG)
    affine_only = augment(images, BACKGROUND, torch.Generator().manual_seed(1))
    assert first.shape == images.shape and first.dtype == images.dtype
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)
    assert not torch.allclose(first, affine_only)  # the extras do something


def test_a_blank_page_stays_blank_under_every_augmentation():
    blank = torch.full((4, 1, 28, 28), BACKGROUND)
    moved = augment(blank, BACKGROUND, torch.Generator().manual_seed(0), LONG)
    assert torch.allclose(moved, blank, atol=1e-5)


def test_without_the_extras_the_random_numbers_are_those_of_earlier_versions():
    """Short runs keep the recipe they had: the same draws, so the same weights."""
    images = _digits()
    generator = torch.Generator().manual_seed(3)
    augment(images, BACKGROUND, generator)
    earlier = torch.Generator().manual_seed(3)
    torch.rand(len(images), 4, generator=earlier)  # what the affine draw always took
    assert torch.equal(torch.rand(5, generator=generator), torch.rand(5, generator=earlier))


def test_thickness_makes_strokes_thicker_or_thinner():
    ink = _digits(count=3) - BACKGROUND
    amount = torch.tensor([1.0, 0.0, -1.0])
    changed = _thickness(ink, amount)
    widths = [(changed[i] > 1.0).sum().item() for i in range(3)]
    assert widths[0] > (ink[0] > 1.0).sum().item()  # dilated
    assert torch.equal(changed[1], ink[1])  # untouched
    assert 0 < widths[2] < (ink[2] > 1.0).sum().item()  # eroded, not erased


def test_elastic_distortion_bends_but_keeps_the_ink_in_place():
    images = _digits(count=16)
    still = Augmentation(degrees=0.0, scale=0.0, shift=0.0, elastic=1.5)
    bent = augment(images, BACKGROUND, torch.Generator().manual_seed(0), still)
    assert not torch.allclose(bent, images, atol=1e-3)
    ink, bent_ink = images - BACKGROUND, bent - BACKGROUND
    # At most 1.5 pixels each way: the ink's centre hardly moves; strokes stretch and shrink
    # with the bends, but none vanishes.
    rows = torch.arange(28.0).view(1, 1, 28, 1)
    centre = (ink * rows).sum((1, 2, 3)) / ink.sum((1, 2, 3))
    bent_centre = (bent_ink * rows).sum((1, 2, 3)) / bent_ink.sum((1, 2, 3))
    assert (centre - bent_centre).abs().max() < 1.5
    assert torch.allclose(bent_ink.sum((1, 2, 3)), ink.sum((1, 2, 3)), rtol=0.5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_augmentation_runs_on_the_gpu_as_on_the_cpu():
    images = _digits()
    cpu = augment(images, BACKGROUND, torch.Generator().manual_seed(1), LONG)
    gpu = augment(images.cuda(), BACKGROUND, torch.Generator().manual_seed(1), LONG)
    assert torch.allclose(gpu.cpu(), cpu, atol=1e-4)


def test_the_recipe_follows_the_epochs_and_the_flags_win():
    assert TrainConfig(epochs=8).width == SHORT_RECIPE["width"]
    default = TrainConfig()  # 20 epochs, the long recipe's shortest run (docs/training.md)
    assert default.epochs == LONG_RUN and default.width == LONG_RECIPE["width"]
    short, long = TrainConfig(epochs=LONG_RUN - 1), TrainConfig(epochs=LONG_RUN)
    assert {k: getattr(short, k) for k in SHORT_RECIPE} == SHORT_RECIPE
    assert {k: getattr(long, k) for k in LONG_RECIPE} == LONG_RECIPE
    assert augmentation_of(long) == Augmentation(
        elastic=LONG_RECIPE["elastic"], thickness=LONG_RECIPE["thickness"]
    )
    chosen = TrainConfig(epochs=40, width=16, elastic=0.0, thickness=0.25)
    assert (chosen.width, chosen.elastic, chosen.thickness) == (16, 0.0, 0.25)
    assert TrainConfig(model="mlp").model_kwargs() == {}
    assert TrainConfig(epochs=40).model_kwargs() == {"width": LONG_RECIPE["width"]}


def test_a_long_run_checkpoint_rebuilds_its_wider_model(tmp_path):
    config = TrainConfig(epochs=40)
    model = build_model("cnn", num_classes=10, **config.model_kwargs())
    save_checkpoint(
        make_checkpoint(model=model, config=config, dataset=MNIST, history=[]), tmp_path / "c.pt"
    )
    loaded = load_checkpoint(tmp_path / "c.pt")
    inputs = torch.randn(4, 1, 28, 28)
    assert torch.equal(predict_logits(model, inputs), predict_logits(loaded.model, inputs))
    assert loaded.config == config


def test_an_older_checkpoint_says_it_ran_the_recipe_of_its_time(tmp_path):
    """Saved before the recipe fields existed: a 40-epoch run of width 24, no extras."""
    model = build_model("cnn", num_classes=10)
    payload = make_checkpoint(model=model, config=TrainConfig(epochs=40), dataset=MNIST, history=[])
    payload["model"]["kwargs"] = {"num_classes": 10}
    for name in LEGACY_RECIPE:
        del payload["config"][name]
    payload["sha256"] = payload_sha256(payload)
    save_checkpoint(payload, tmp_path / "old.pt")
    loaded = load_checkpoint(tmp_path / "old.pt")
    assert {k: getattr(loaded.config, k) for k in LEGACY_RECIPE} == LEGACY_RECIPE
    assert sum(p.numel() for p in loaded.model.parameters()) == sum(
        p.numel() for p in model.parameters()
    )


def test_train_records_the_recipe_it_ran(tiny_data, runner):
    flags = ["--width", "4", "--elastic", "1", "--thickness", "0.3", "--threads", "1"]
    result = runner.invoke(app(), ["train", "--epochs", "1", "--json", *flags])
    assert result.exit_code == 0, result.output
    config = json.loads(result.stdout)["config"]
    assert (config["width"], config["elastic"], config["thickness"]) == (4, 1.0, 0.3)
    assert load_checkpoint("ckpt.pt").config.width == 4
    shown = runner.invoke(app(), ["train", "--help"], env={"COLUMNS": "80"})
    assert all(flag in shown.stdout for flag in ("--width", "--elastic", "--thickness"))


def test_the_loop_draws_an_epoch_of_numbers_for_the_long_recipe():
    from mnist_cli.train.resume import EpochProgress
    from mnist_cli.train.runtime import plan_runtime
    from mnist_cli.train.steps import TrainData, epoch_uniform

    images = torch.zeros(10, 28, 28, dtype=torch.uint8)
    images[:, 6:22, 12:15] = 255
    data = TrainData(images, torch.zeros(10, dtype=torch.long), 0.1307, 0.3081, LONG)
    progress = EpochProgress(torch.randperm(10))
    uniform = epoch_uniform(progress, torch.Generator().manual_seed(0), 10, 4, LONG.columns)
    assert uniform.shape == (10, LONG.columns) and LONG.columns > 4
    batch = data.batch(torch.arange(4), uniform[:4], plan_runtime(torch.device("cpu")))
    plain = data.batch(torch.arange(4), None, plan_runtime(torch.device("cpu")))
    assert batch.shape == (4, 1, 28, 28) and not torch.allclose(batch, plain)


@pytest.mark.parametrize("flags", [["--thickness", "1.5"], ["--elastic", "-1"]])
def test_out_of_range_recipe_flags_give_one_line(tiny_data, runner, flags):
    result = runner.invoke(app(), ["train", "--epochs", "1", *flags])
    assert result.exit_code != 0
    assert result.stderr.strip().splitlines() == [
        "error: --thickness must be from 0 to 1, and --elastic at least 0"
    ]
