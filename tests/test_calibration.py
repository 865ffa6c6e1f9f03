"""Temperature scaling, the expected calibration error and the NLL, against what they must give:
a known temperature recovered from synthetic logits, and a plain-Python ECE."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mnist_cli.evaluate.calibration import (
    calibration,
    expected_calibration_error,
    fit_temperature,
    nll,
    reliability,
)


def _sampled(temperature: float, count: int = 20000, seed: int = 0):
    """Logits, and labels drawn from softmax(logits / temperature): the temperature that makes
    those logits calibrated is `temperature`, by construction."""
    generator = torch.Generator().manual_seed(seed)
    logits = 4 * torch.randn(count, 10, generator=generator, dtype=torch.float64)
    labels = torch.multinomial((logits / temperature).softmax(1), 1, generator=generator)
    return logits, labels.flatten()


@pytest.mark.parametrize("temperature", [0.4, 1.0, 2.5])
def test_the_fit_recovers_a_known_temperature(temperature):
    logits, labels = _sampled(temperature)
    assert fit_temperature(logits, labels) == pytest.approx(temperature, rel=0.05)


def test_the_fitted_temperature_minimises_the_nll():
    logits, labels = _sampled(0.7, count=4000, seed=1)
    fitted = fit_temperature(logits, labels)

    def loss(temperature):
        return nll((logits / temperature).softmax(1), labels)

    assert loss(fitted) <= min(loss(fitted * 0.95), loss(fitted * 1.05))
    assert loss(fitted) < loss(1.0)


def test_calibrating_lowers_the_ece_of_overconfident_logits():
    logits, labels = _sampled(2.0, seed=2)  # the logits claim twice the confidence they have
    before = logits.softmax(1)
    after = (logits / fit_temperature(logits, labels)).softmax(1)
    figures = calibration(after, before, labels)
    assert figures.ece < 0.02 < 0.1 < figures.ece_before
    assert figures.nll < figures.nll_before


def test_without_images_the_temperature_is_one():
    assert fit_temperature(torch.zeros(0, 10), torch.zeros(0, dtype=torch.long)) == 1.0


def plain_ece(probabilities: list[list[float]], labels: list[int], bins: int = 15) -> float:
    """The textbook definition, one image at a time: bin by top probability (the last bin holds
    1.0), then the |accuracy - confidence| of each bin weighted by its share of the images."""
    members: list[list[tuple[float, bool]]] = [[] for _ in range(bins)]
    for row, label in zip(probabilities, labels, strict=True):
        confidence = max(row)
        members[min(int(confidence * bins), bins - 1)].append(
            (confidence, row.index(confidence) == label)
        )
    total = 0.0
    for chosen in members:
        if chosen:
            accuracy = sum(right for _, right in chosen) / len(chosen)
            confidence = sum(c for c, _ in chosen) / len(chosen)
            total += len(chosen) / len(labels) * abs(accuracy - confidence)
    return total


@st.composite
def predictions(draw):
    classes = draw(st.integers(2, 10))
    count = draw(st.integers(1, 60))
    weights = st.lists(st.floats(0.001, 1, allow_nan=False), min_size=classes, max_size=classes)
    rows = [
        [w / sum(row) for w in row]
        for row in draw(st.lists(weights, min_size=count, max_size=count))
    ]
    labels = draw(st.lists(st.integers(0, classes - 1), min_size=count, max_size=count))
    return rows, labels


@given(predictions())
def test_ece_is_the_plain_python_definition(case):
    rows, labels = case
    expected = plain_ece(rows, labels)
    assert expected_calibration_error(np.array(rows), np.array(labels)) == pytest.approx(
        expected, abs=1e-12
    )
    table = reliability(torch.tensor(rows), torch.tensor(labels))
    assert len(table) == 15 and sum(b.count for b in table) == len(labels)


@given(predictions())
def test_nll_is_the_mean_of_minus_log_the_true_probability(case):
    rows, labels = case
    expected = -sum(math.log(row[label]) for row, label in zip(rows, labels, strict=True)) / len(
        labels
    )
    assert nll(np.array(rows), np.array(labels)) == pytest.approx(expected, rel=1e-12)


def test_a_certain_right_answer_is_perfectly_calibrated():
    probabilities = torch.eye(10, dtype=torch.float64)
    labels = torch.arange(10)
    assert expected_calibration_error(probabilities, labels) == 0.0
    assert nll(probabilities, labels) == 0.0
    assert reliability(probabilities, labels)[-1].count == 10  # 1.0 falls in the last bin
