"""Detection metrics from labels and scores: pure functions, no services."""

import itertools
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Confusion:
    """Counts with `fake` as the positive class."""

    true_positive: int
    false_positive: int
    true_negative: int
    false_negative: int


@dataclass(frozen=True)
class Report:
    count: int
    threshold: float
    accuracy: float
    precision: float
    recall: float
    f1: float
    roc_auc: float | None  # undefined with a single class
    confusion: Confusion
    roc_curve: list[tuple[float, float]]  # (false positive rate, true positive rate)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def confusion(labels: list[bool], scores: list[float], threshold: float) -> Confusion:
    tp = sum(1 for y, s in zip(labels, scores, strict=True) if y and s >= threshold)
    fp = sum(1 for y, s in zip(labels, scores, strict=True) if not y and s >= threshold)
    fn = sum(1 for y in labels if y) - tp
    tn = sum(1 for y in labels if not y) - fp
    return Confusion(tp, fp, tn, fn)


def roc_curve(labels: list[bool], scores: list[float]) -> list[tuple[float, float]]:
    """ROC points from (0, 0) to (1, 1), one step per distinct score."""
    positives = sum(labels)
    negatives = len(labels) - positives
    ranked = sorted(zip(scores, labels, strict=True), key=lambda pair: -pair[0])
    points = [(0.0, 0.0)]
    tp = fp = 0
    for index, (score, label) in enumerate(ranked):
        tp += label
        fp += not label
        if index + 1 == len(ranked) or ranked[index + 1][0] != score:
            points.append((_ratio(fp, negatives), _ratio(tp, positives)))
    return points


def roc_auc(labels: list[bool], scores: list[float]) -> float | None:
    """Area under the ROC curve (trapezoids, so ties count half); None with one class."""
    if all(labels) or not any(labels):
        return None
    points = roc_curve(labels, scores)
    return sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in itertools.pairwise(points))


def evaluate(labels: list[bool], scores: list[float], threshold: float = 0.5) -> Report:
    """`labels`: True for fake. `scores`: the fake probability of each item."""
    counts = confusion(labels, scores, threshold)
    precision = _ratio(counts.true_positive, counts.true_positive + counts.false_positive)
    recall = _ratio(counts.true_positive, counts.true_positive + counts.false_negative)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Report(
        count=len(labels),
        threshold=threshold,
        accuracy=_ratio(counts.true_positive + counts.true_negative, len(labels)),
        precision=precision,
        recall=recall,
        f1=f1,
        roc_auc=roc_auc(labels, scores),
        confusion=counts,
        roc_curve=roc_curve(labels, scores),
    )
