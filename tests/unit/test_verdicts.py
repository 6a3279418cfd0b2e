import pytest
from pydantic import ValidationError

from storage.jobs import Thresholds, Verdict
from storage.settings import VerdictSettings
from worker.settings import RetrySettings
from worker.tasks import backoff_s


@pytest.mark.parametrize(
    ("probability", "verdict"),
    [
        (0.0, Verdict.REAL),
        (0.299, Verdict.REAL),
        (0.3, Verdict.UNCERTAIN),
        (0.5, Verdict.UNCERTAIN),
        (0.7, Verdict.FAKE),
        (1.0, Verdict.FAKE),
    ],
)
def test_verdict_thresholds(probability: float, verdict: Verdict) -> None:
    assert Thresholds(fake=0.7, real=0.3).verdict(probability) is verdict


def test_equal_thresholds_leave_no_uncertain_band() -> None:
    thresholds = Thresholds(fake=0.5, real=0.5)
    assert thresholds.verdict(0.4999) is Verdict.REAL
    assert thresholds.verdict(0.5) is Verdict.FAKE


@pytest.mark.parametrize(("fake", "real"), [(0.2, 0.8), (1.1, 0.5), (0.5, -0.1)])
def test_thresholds_must_be_ordered_and_bounded(fake: float, real: float) -> None:
    with pytest.raises(ValidationError):
        Thresholds(fake=fake, real=real)


def test_settings_thresholds_must_be_ordered() -> None:
    with pytest.raises(ValidationError):
        VerdictSettings(fake_threshold=0.2, real_threshold=0.8)


def test_backoff_doubles_and_is_capped() -> None:
    settings = RetrySettings(backoff_base_s=0.5, backoff_max_s=3)
    assert [backoff_s(n, settings) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
