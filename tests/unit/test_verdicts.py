import pytest
from pydantic import ValidationError

from storage.jobs import Verdict
from worker.settings import RetrySettings, VerdictSettings
from worker.tasks import backoff_s, verdict_for


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
    assert verdict_for(probability, VerdictSettings()) is verdict


def test_thresholds_must_be_ordered() -> None:
    with pytest.raises(ValidationError):
        VerdictSettings(fake_threshold=0.2, real_threshold=0.8)


def test_backoff_doubles_and_is_capped() -> None:
    settings = RetrySettings(backoff_base_s=0.5, backoff_max_s=3)
    assert [backoff_s(n, settings) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
