"""The numbers behind an evaluation report: `Metrics` (accuracy, loss, confusion matrix, per-class
scores, the confidence interval of the accuracy), the most confused pairs and the most confident
mistakes. Pure arithmetic on logits and labels: no model, no data loading. numpy, no torch: the
ONNX path scores with it too; tensors are taken as they come (copied to the CPU)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Z_95 = 1.959964  # two-sided 95% quantile of the standard normal


@dataclass(frozen=True)
class ClassScore:
    """How one class fares: precision and recall in [0, 1], their harmonic mean, and how many
    test images truly belong to it."""

    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Confusion:
    """`count` images of digit `true` were read as `predicted`."""

    true: int
    predicted: int
    count: int


@dataclass(frozen=True)
class Mistake:
    """One misclassified image: where it is in its split, and how sure the model was."""

    index: int
    true: int
    predicted: int
    confidence: float  # the probability the model gave its (wrong) answer


@dataclass(frozen=True)
class Metrics:
    """How a model scores on a labelled set."""

    accuracy: float  # fraction correct, in [0, 1]
    loss: float  # mean cross-entropy
    count: int  # images scored
    correct: int
    confusion: list[list[int]]  # rows are the true classes, columns the predictions
    per_class: list[ClassScore]
    accuracy_interval: tuple[float, float]  # 95% Wilson score interval of the accuracy

    @property
    def per_class_accuracy(self) -> list[float]:
        """The share of each class read right: its recall."""
        return [scores.recall for scores in self.per_class]


def as_array(values) -> np.ndarray:
    """A numpy array of logits or labels, which may be a torch tensor on any device."""
    if hasattr(values, "detach"):  # a torch tensor; torch itself is not imported here
        values = values.detach().cpu()
        values = (values.float() if values.is_floating_point() else values).numpy()
    return np.asarray(values)


def log_softmax(logits) -> np.ndarray:
    """Log-probabilities of float64 logits [N, C], computed stably."""
    logits = as_array(logits).astype(np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def score(logits, labels, num_classes: int) -> Metrics:
    """Every number of the report, counted from the confusion matrix of `logits`."""
    logits, labels = as_array(logits), as_array(labels).astype(np.int64)
    confusion = confusion_matrix(logits.argmax(1), labels, num_classes)
    correct = int(np.trace(confusion))
    loss = -log_softmax(logits)[np.arange(len(labels)), labels].mean() if len(labels) else 0.0
    return Metrics(
        accuracy=correct / len(labels),
        loss=float(loss),
        count=len(labels),
        correct=correct,
        confusion=confusion.tolist(),
        per_class=class_scores(confusion),
        accuracy_interval=wilson_interval(correct, len(labels)),
    )


def confusion_matrix(predicted, labels, num_classes: int) -> np.ndarray:
    """[num_classes, num_classes] counts: rows are the true classes, columns the predictions."""
    pairs = as_array(labels).astype(np.int64) * num_classes + as_array(predicted).astype(np.int64)
    return np.bincount(pairs, minlength=num_classes**2).reshape(num_classes, num_classes)


def class_scores(confusion) -> list[ClassScore]:
    """Precision, recall, F1 and support per class; 0 where a ratio has nothing to divide by
    (as scikit-learn's `zero_division=0`)."""
    confusion = as_array(confusion).astype(np.float64)
    hits = confusion.diagonal()
    support = confusion.sum(1)
    predicted = confusion.sum(0)
    precision = np.where(predicted > 0, hits / np.maximum(predicted, 1), 0.0)
    recall = np.where(support > 0, hits / np.maximum(support, 1), 0.0)
    both = precision + recall
    f1 = np.where(both > 0, 2 * precision * recall / np.maximum(both, 1e-12), 0.0)
    return [
        ClassScore(p, r, f, int(s))
        for p, r, f, s in zip(
            precision.tolist(), recall.tolist(), f1.tolist(), support.tolist(), strict=True
        )
    ]


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of a proportion (95% by default). Unlike the normal approximation,
    it stays inside [0, 1] and is not zero-wide at 100% accuracy."""
    if trials <= 0:
        return (0.0, 1.0)
    share = successes / trials
    z2 = z * z
    centre = (share + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z / (1 + z2 / trials) * math.sqrt(share * (1 - share) / trials + z2 / (4 * trials**2))
    low = 0.0 if successes == 0 else max(0.0, centre - half)  # exact at the ends, where
    high = 1.0 if successes == trials else min(1.0, centre + half)  # rounding would nibble
    return (low, high)


def most_confused(confusion, limit: int = 5) -> list[Confusion]:
    """The largest off-diagonal counts of a confusion matrix (array, tensor or nested lists),
    largest first (ties: lower true digit, then lower prediction), zeros left out."""
    off_diagonal = as_array(confusion).copy()
    np.fill_diagonal(off_diagonal, 0)
    num_classes = off_diagonal.shape[1]
    counts = off_diagonal.flatten().tolist()
    order = sorted(range(len(counts)), key=lambda cell: (-counts[cell], cell))
    return [
        Confusion(cell // num_classes, cell % num_classes, counts[cell])
        for cell in order[:limit]
        if counts[cell] > 0
    ]


def worst_mistakes(logits, labels, limit: int) -> list[Mistake]:
    """The misclassified images the model was surest about, most confident first."""
    probabilities = np.exp(log_softmax(logits))
    confidence, predicted = probabilities.max(1), probabilities.argmax(1)
    labels = as_array(labels)
    wrong = np.flatnonzero(predicted != labels)
    order = np.argsort(-confidence[wrong], kind="stable")[:limit]
    return [
        Mistake(int(index), int(labels[index]), int(predicted[index]), float(confidence[index]))
        for index in wrong[order].tolist()
    ]
