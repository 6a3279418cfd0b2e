from pathlib import Path

import pytest
from PIL import Image

from evaluation.metrics import Confusion, evaluate, roc_auc, roc_curve
from evaluation.plot import draw_roc


def test_perfect_separation() -> None:
    report = evaluate([True, True, False, False], [0.9, 0.8, 0.2, 0.1])
    assert (report.accuracy, report.precision, report.recall, report.f1) == (1, 1, 1, 1)
    assert report.roc_auc == 1.0
    assert report.confusion == Confusion(2, 0, 2, 0)


def test_known_mixed_case() -> None:
    labels = [True, True, True, False, False, False]
    scores = [0.9, 0.6, 0.4, 0.7, 0.2, 0.1]
    report = evaluate(labels, scores, threshold=0.5)
    assert report.confusion == Confusion(
        true_positive=2, false_positive=1, true_negative=2, false_negative=1
    )
    assert report.precision == pytest.approx(2 / 3)
    assert report.recall == pytest.approx(2 / 3)
    assert report.accuracy == pytest.approx(4 / 6)
    # 9 positive-negative pairs, 7 ranked correctly.
    assert report.roc_auc == pytest.approx(7 / 9)


def test_ties_count_half_and_curve_spans_the_square() -> None:
    labels = [True, False]
    assert roc_auc(labels, [0.5, 0.5]) == pytest.approx(0.5)
    curve = roc_curve(labels, [0.5, 0.5])
    assert curve[0] == (0.0, 0.0)
    assert curve[-1] == (1.0, 1.0)


def test_one_class_has_no_auc() -> None:
    assert evaluate([True, True], [0.9, 0.1]).roc_auc is None


def test_the_roc_png_is_written(tmp_path: Path) -> None:
    path = tmp_path / "out" / "roc.png"
    draw_roc([(0.0, 0.0), (0.2, 0.8), (1.0, 1.0)], 0.8, path)
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == (480, 480)
