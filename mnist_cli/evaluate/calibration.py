"""Whether the probabilities mean what they say: temperature scaling (Guo et al., 2017, "On
Calibration of Modern Neural Networks"), the expected calibration error over equal-width bins,
the negative log-likelihood, and the bins a reliability diagram draws. Pure arithmetic on
logits, probabilities and labels, in numpy (tensors are taken as they come, copied to the
CPU), so that a path without torch can use it too."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

BINS = 15  # equal-width confidence bins of the ECE and the reliability diagram, as Guo et al.
# The temperature is searched in [1 / MAX_SHARPEN, MAX_SOFTEN]: wide enough for any model here
# (label smoothing asks for about 0.5), narrow enough that a degenerate split cannot run away.
MAX_SHARPEN = 20.0
MAX_SOFTEN = 20.0
SEARCH_STEPS = 80  # golden-section steps: the interval shrinks by 0.618 each, far below 1e-9


def _array(values, dtype) -> np.ndarray:
    if hasattr(values, "detach"):  # a torch tensor, on any device
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=dtype)


def log_softmax(logits) -> np.ndarray:
    """Log-probabilities of logits [N, C], in float64, computed stably."""
    logits = _array(logits, np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def nll(probabilities, labels) -> float:
    """Mean negative log-likelihood of the true labels (natural log)."""
    probabilities, labels = _array(probabilities, np.float64), _array(labels, np.int64)
    true = probabilities[np.arange(len(labels)), labels]
    return float(-np.log(np.maximum(true, 1e-300)).mean()) if len(labels) else 0.0


def fit_temperature(logits, labels) -> float:
    """The T > 0 that minimises the NLL of softmax(logits / T) on these labels.

    The NLL is convex in 1/T, so a golden-section search over 1/T finds the one minimum; bounded,
    deterministic and free of a learning rate. Without images it returns 1.0."""
    if len(labels) == 0:
        return 1.0
    logits, labels = _array(logits, np.float64), _array(labels, np.int64)
    rows = np.arange(len(labels))

    def loss(inverse: float) -> float:
        return float(-log_softmax(logits * inverse)[rows, labels].mean())

    low, high = 1 / MAX_SOFTEN, MAX_SHARPEN
    ratio = (math.sqrt(5) - 1) / 2
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    loss_a, loss_b = loss(a), loss(b)
    for _ in range(SEARCH_STEPS):
        if loss_a <= loss_b:
            high, b, loss_b = b, a, loss_a
            a = high - ratio * (high - low)
            loss_a = loss(a)
        else:
            low, a, loss_a = a, b, loss_b
            b = low + ratio * (high - low)
            loss_b = loss(b)
    return 1 / ((low + high) / 2)


@dataclass(frozen=True)
class Bin:
    """One confidence bin: the images whose top probability falls in [low, high)."""

    low: float
    high: float
    count: int
    confidence: float  # mean top probability of its images (0 if empty)
    accuracy: float  # share of them read right (0 if empty)


def reliability(probabilities, labels, bins: int = BINS) -> list[Bin]:
    """The images split by their top probability into `bins` equal-width bins of [0, 1]; the
    last bin includes 1.0. An image whose top probability is not a number (a model that
    answers NaN) is in no bin."""
    probabilities = _array(probabilities, np.float64)
    confidence, predicted = probabilities.max(1), probabilities.argmax(1)
    right = (predicted == _array(labels, np.int64)).astype(np.float64)
    known = np.isfinite(confidence)
    index = np.full(len(confidence), -1, dtype=np.int64)
    index[known] = np.clip((confidence[known] * bins).astype(np.int64), 0, bins - 1)
    result = []
    for number in range(bins):
        chosen = index == number
        count = int(chosen.sum())
        result.append(
            Bin(
                low=number / bins,
                high=(number + 1) / bins,
                count=count,
                confidence=float(confidence[chosen].mean()) if count else 0.0,
                accuracy=float(right[chosen].mean()) if count else 0.0,
            )
        )
    return result


def expected_calibration_error(probabilities, labels, bins: int = BINS) -> float:
    """ECE: the gap between confidence and accuracy in each bin, weighted by the bin's share of
    the images; NaN where some image's confidence is not a number (in no bin)."""
    table = reliability(probabilities, labels, bins)
    total = sum(b.count for b in table)
    if total < len(_array(labels, np.int64)):
        return math.nan
    return sum(b.count / total * abs(b.accuracy - b.confidence) for b in table) if total else 0.0


@dataclass(frozen=True)
class Calibration:
    """How well the probabilities shown match how often they are right, and as they were before
    the temperature (for an ensemble: the mean of its members' plain softmax)."""

    ece: float
    nll: float
    ece_before: float
    nll_before: float
    bins: list[Bin]  # of the probabilities shown: the reliability diagram
    bins_before: list[Bin]


def calibration(probabilities, before, labels) -> Calibration:
    """Every calibration figure of `probabilities` (temperature applied) and `before` (not)."""
    return Calibration(
        ece=expected_calibration_error(probabilities, labels),
        nll=nll(probabilities, labels),
        ece_before=expected_calibration_error(before, labels),
        nll_before=nll(before, labels),
        bins=reliability(probabilities, labels),
        bins_before=reliability(before, labels),
    )
