"""The report's numbers against plain-Python oracles: confusion matrix, per-class scores,
the Wilson interval, the most confused pairs, the most confident mistakes."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mnist_cli.evaluate.metrics import (
    Confusion,
    class_scores,
    confusion_matrix,
    most_confused,
    score,
    wilson_interval,
    worst_mistakes,
)

pairs = st.lists(st.tuples(st.integers(0, 9), st.integers(0, 9)), min_size=1, max_size=300)


@given(pairs)
def test_confusion_matrix_counts_every_pair_once(pairs):
    labels = torch.tensor([true for true, _ in pairs])
    predicted = torch.tensor([guess for _, guess in pairs])
    matrix = confusion_matrix(predicted, labels, 10).tolist()
    expected = [[0] * 10 for _ in range(10)]
    for true, guess in pairs:
        expected[true][guess] += 1
    assert matrix == expected


@given(pairs)
def test_class_scores_match_their_definitions(pairs):
    labels = torch.tensor([true for true, _ in pairs])
    predicted = torch.tensor([guess for _, guess in pairs])
    scores = class_scores(confusion_matrix(predicted, labels, 10))
    for digit, got in enumerate(scores):
        hits = sum(true == guess == digit for true, guess in pairs)
        support = sum(true == digit for true, _ in pairs)
        called = sum(guess == digit for _, guess in pairs)
        precision = hits / called if called else 0.0
        recall = hits / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        assert got.support == support
        assert got.precision == pytest.approx(precision)
        assert got.recall == pytest.approx(recall)
        assert got.f1 == pytest.approx(f1)


def test_score_agrees_with_its_own_confusion_matrix():
    logits = torch.randn(500, 10, generator=torch.Generator().manual_seed(0))
    labels = torch.randint(0, 10, (500,), generator=torch.Generator().manual_seed(1))
    metrics = score(logits, labels, 10)
    diagonal = sum(metrics.confusion[i][i] for i in range(10))
    assert sum(map(sum, metrics.confusion)) == metrics.count == 500
    assert diagonal == metrics.correct
    assert metrics.accuracy == metrics.correct / 500
    assert [s.recall for s in metrics.per_class] == pytest.approx(metrics.per_class_accuracy)
    low, high = metrics.accuracy_interval
    assert low < metrics.accuracy < high


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [
        # The published values for n = 10 (statsmodels' proportion_confint(method="wilson")
        # gives the same), and one worked out by hand from the formula for n = 10,000.
        (0, 10, 0.0, 0.27753),
        (10, 10, 0.72247, 1.0),
        (5, 10, 0.23659, 0.76341),
        (9885, 10000, 0.986215, 0.990410),
    ],
)
def test_wilson_interval_known_values(successes, trials, low, high):
    assert wilson_interval(successes, trials) == pytest.approx((low, high), abs=1e-5)


@given(st.integers(1, 100_000), st.data())
def test_wilson_interval_holds_the_estimate_inside_0_1(trials, data):
    successes = data.draw(st.integers(0, trials))
    low, high = wilson_interval(successes, trials)
    assert 0.0 <= low <= successes / trials <= high <= 1.0
    assert math.isfinite(low) and math.isfinite(high)


def test_most_confused_is_largest_first_without_the_diagonal_or_zeros():
    matrix = [[0] * 10 for _ in range(10)]
    matrix[3][3] = 500  # right answers never count
    matrix[4][9] = 12
    matrix[7][2] = 5
    matrix[2][7] = 5
    matrix[5][3] = 1
    assert most_confused(matrix, limit=3) == [
        Confusion(4, 9, 12),
        Confusion(2, 7, 5),  # ties: lower true digit first
        Confusion(7, 2, 5),
    ]
    assert len(most_confused(matrix, limit=10)) == 4


def test_worst_mistakes_are_wrong_and_surest_first():
    logits = torch.tensor(
        [
            [5.0, 0.0, 0.0],  # right
            [0.0, 9.0, 0.0],  # wrong, very sure
            [0.0, 0.0, 1.0],  # wrong, unsure
            [0.0, 4.0, 0.0],  # wrong, fairly sure
        ]
    )
    labels = torch.tensor([0, 0, 1, 2])
    mistakes = worst_mistakes(logits, labels, limit=10)
    assert [m.index for m in mistakes] == [1, 3, 2]
    assert [(m.true, m.predicted) for m in mistakes] == [(0, 1), (2, 1), (1, 2)]
    assert mistakes[0].confidence == pytest.approx(torch.tensor([0.0, 9.0, 0.0]).softmax(0)[1])
    assert [m.index for m in worst_mistakes(logits, labels, limit=2)] == [1, 3]
