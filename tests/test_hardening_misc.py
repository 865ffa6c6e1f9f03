"""Hardening of issue 29: a float setting that is NaN, infinite or out of range is one line
before any run (so no stop can save a run that no command loads); one odd image costs only its
own answer; a full disk during `mnist download` says which path and that the disk is full."""

from __future__ import annotations

import dataclasses
import gzip
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from PIL import Image

from mnist_cli.config import TrainConfig, check_config
from mnist_cli.errors import ImageError, MnistError
from mnist_cli.predict import pipeline
from mnist_cli.predict.pipeline import PREPARERS, predict_files
from mnist_cli.predict.sources import Source
from tests.conftest import app, synthetic_split, train_mlp

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
FAINT_SNEAKER = 118  # a Fashion-MNIST test image that once ended `predict` with an IndexError

# -- item 9: every float of a run finite and in range, checked before the run

FLOATS = [f.name for f in dataclasses.fields(TrainConfig) if "float" in str(f.type)]


@pytest.mark.parametrize("name", FLOATS)
@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_no_float_setting_may_be_nan_or_infinite(name, value):
    with pytest.raises(MnistError) as refused:
        check_config(TrainConfig(**{name: value}))
    flag = "--" + name.replace("_", "-")
    assert flag in str(refused.value), str(refused.value)  # the option, by its name
    assert "\n" not in str(refused.value)


def test_elastic_has_a_ceiling():
    check_config(TrainConfig(elastic=28.0))
    with pytest.raises(MnistError, match=r"^--elastic must be from 0 to 28 pixels"):
        check_config(TrainConfig(elastic=28.5))


@pytest.mark.parametrize("how", ["flag", "config-file"])
def test_elastic_inf_is_one_line_and_nothing_is_saved(runner, tiny_data, how):
    if how == "flag":
        options = ["--elastic", "inf"]
    else:
        Path("run.toml").write_text("elastic = inf\n")
        options = ["--config", "run.toml"]
    result = runner.invoke(app(), ["train", "--model", "mlp", "--epochs", "1", *options])
    assert result.exit_code == 1
    assert result.stderr == "error: --elastic must be from 0 to 28 pixels (the image's side)\n"
    assert not Path("ckpt.pt").exists() and not Path("ckpt.jsonl").exists()


# -- item 13: one odd image fails alone


def _fashion_image(index: int) -> np.ndarray:
    path = DEBIAN_FASHION / "t10k-images-idx3-ubyte.gz"
    if not path.is_file():
        pytest.skip(
            f"Fashion-MNIST is not in {DEBIAN_FASHION}: apt-get install dataset-fashion-mnist"
        )
    with gzip.open(path) as stream:
        stream.seek(16 + index * 28 * 28)
        return np.frombuffer(stream.read(28 * 28), dtype=np.uint8).reshape(28, 28)


@pytest.mark.real_data
def test_a_fashion_sneaker_given_to_a_digits_model_gets_its_answer(runner, tiny_data):
    train_mlp(runner, 1)  # a digits model (the synthetic set is registered as mnist)
    Image.fromarray(_fashion_image(FAINT_SNEAKER)).save("sneaker.png")
    images, _ = synthetic_split(1, seed=5)
    Image.fromarray(np.frombuffer(images[16:], np.uint8).reshape(28, 28)).save("digit.png")
    result = runner.invoke(app(), ["predict", "sneaker.png", "digit.png", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [row["file"] for row in rows] == ["sneaker.png", "digit.png"]
    assert all("error" not in row or row["error"] is None for row in rows), rows
    # Its shape was wiped as if it were a ruled line; it is kept, not left blank.
    from mnist_cli.predict.handwriting import to_mnist

    seen = to_mnist(Image.fromarray(_fashion_image(FAINT_SNEAKER)))
    assert seen.shape == (28, 28) and (seen > 0.5).sum() > 20


class _Uniform:
    """A Classifier that answers the same for every image (numpy only)."""

    model_name, dataset, runtime = "mlp", "mnist", "numpy"
    class_names = [str(digit) for digit in range(10)]
    mean, std, temperature = 0.1307, 0.3081, 1.0

    def logits(self, pixels: np.ndarray) -> np.ndarray:
        return np.zeros((len(pixels), 10), dtype=np.float32)


def _source(name: str, pixels: np.ndarray) -> Source:
    import io

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return Source(name=name, data=buffer.getvalue())


@pytest.mark.parametrize("failure", ["raises", "wrong-shape"])
def test_an_unexpected_failure_in_preparing_one_image_costs_only_its_answer(monkeypatch, failure):
    real = PREPARERS["handwriting"]

    def fragile(image: Image.Image, preprocess: bool) -> np.ndarray:
        if np.asarray(image).max() == 77:  # the odd one
            if failure == "raises":
                raise IndexError("index 0 is out of bounds for axis 0 with size 0")
            return np.zeros((3, 3), dtype=np.float32)
        return real(image, preprocess)

    monkeypatch.setitem(pipeline.PREPARERS, "handwriting", fragile)
    sources = [
        _source("a.png", np.full((28, 28), 200, np.uint8)),
        _source("odd.png", np.full((28, 28), 77, np.uint8)),
        _source("b.png", np.full((28, 28), 10, np.uint8)),
    ]
    answers = predict_files(_Uniform(), sources)
    assert [answer.file for answer in answers] == ["a.png", "odd.png", "b.png"]
    assert answers[0].error is None and answers[2].error is None
    assert answers[1].error.startswith("odd.png: could not be prepared")
    assert "\n" not in answers[1].error
    if failure == "raises":
        assert "unexpected IndexError" in answers[1].error


def _picture(noise: int, seed: int, bars: list[tuple[int, int, int, int, int]], white: bool):
    """Noise up to `noise` on black, with bars (top, bottom, left, right, grey) drawn over it;
    inverted if `white` (dark on light paper)."""
    pixels = np.random.default_rng(seed).integers(0, noise + 1, (28, 28)).astype(np.uint8)
    for top, bottom, left, right, grey in bars:
        pixels[top:bottom, left:right] = grey
    return 255 - pixels if white else pixels


@st.composite
def _bars(draw, noise: int) -> tuple[int, int, int, int, int]:
    """A bar or a block anywhere, of any grey, often one just brighter than the noise."""
    top, bottom = sorted(draw(st.tuples(st.integers(0, 28), st.integers(0, 28))))
    left, right = sorted(draw(st.tuples(st.integers(0, 28), st.integers(0, 28))))
    grey = draw(st.integers(0, 255) | st.integers(noise, min(255, 3 * noise + 10)))
    return top, bottom, left, right, grey


@st.composite
def _odd_pictures(draw) -> np.ndarray:
    """The pictures a digits model may be given that look like no digit: faint noise, faint or
    bright bars and blocks (wide, flat shapes: a shoe, a lone line), on black or on white."""
    noise = draw(st.integers(0, 60))
    bars = draw(st.lists(_bars(noise), max_size=4))
    return _picture(noise, draw(st.integers(0, 2**32 - 1)), bars, draw(st.booleans()))


# A faint grey bar on faint noise: its wipe as a ruled line once left nothing to crop to.
FAINT_BAR = _picture(26, 384, [(15, 17, 0, 24, 55)], white=False)


@settings(max_examples=300, deadline=None)
@given(_odd_pictures(), st.sampled_from(sorted(PREPARERS)))
@example(FAINT_BAR, "handwriting")
def test_preparing_odd_pictures_gives_an_input_or_our_error(pixels, kind):
    try:
        prepared = PREPARERS[kind](Image.fromarray(pixels), True)
    except ImageError:
        return
    assert prepared.shape == (28, 28) and prepared.dtype == np.float32
    assert np.isfinite(prepared).all() and 0 <= prepared.min() and prepared.max() <= 1


def test_a_run_stopped_after_it_diverged_saves_no_checkpoint(tiny_data, monkeypatch):
    """A stop mid-epoch saves the weights as they are; when they hold NaN (the run diverged
    within the epoch the stop cut short), no command could load that file, so nothing is
    written and the line says why."""
    import torch

    from mnist_cli.config import TrainConfig
    from mnist_cli.train import loop

    real_epoch = loop._train_epoch

    def diverging_epoch(run, data, stop):
        done = real_epoch(run, data, lambda: True)  # stopped after its first step
        with torch.no_grad():
            next(run.model.parameters()).fill_(float("nan"))
        return done

    monkeypatch.setattr(loop, "_train_epoch", diverging_epoch)
    config = dataclasses.replace(TrainConfig(), model="mlp", epochs=1, threads=1)
    with pytest.raises(MnistError, match="diverged .*nothing was saved"):
        loop.train(config, tiny_data, Path("ckpt.pt"))
    assert not Path("ckpt.pt").exists()
