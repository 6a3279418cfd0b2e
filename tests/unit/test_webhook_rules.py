"""The pure rules of webhook delivery: ids, retry schedule, Retry-After, outcomes."""

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from storage.webhooks import (
    DeliveryStatus,
    EventType,
    PreviousSecret,
    WebhookEndpoint,
    delivery_id,
    event_message_id,
    parse_retry_after,
    retry_delay_s,
)
from worker.webhooks import DEFAULT_RETRY_SCHEDULE_S, AttemptResult, WebhookSettings, decide

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_message_ids_are_deterministic_per_job_and_event() -> None:
    first = event_message_id("job_a", EventType.JOB_SUCCEEDED)
    assert first == event_message_id("job_a", EventType.JOB_SUCCEEDED)
    assert first.startswith("msg_")
    assert first != event_message_id("job_a", EventType.JOB_FAILED)
    assert first != event_message_id("job_b", EventType.JOB_SUCCEEDED)
    assert delivery_id(first, "endpoint:wh_1") == delivery_id(first, "endpoint:wh_1")
    assert delivery_id(first, "endpoint:wh_1") != delivery_id(first, "endpoint:wh_2")


def test_the_default_schedule_is_the_specifications() -> None:
    assert DEFAULT_RETRY_SCHEDULE_S == (5, 300, 1800, 7200, 18000, 36000, 36000)


def test_retry_delays_follow_the_schedule_within_the_jitter() -> None:
    rng = random.Random(7)
    schedule = (5.0, 300.0)
    assert retry_delay_s(1, schedule, jitter=0.0) == 5.0
    for _ in range(100):
        delay = retry_delay_s(2, schedule, jitter=0.1, rng=rng)
        assert delay is not None
        assert 270.0 <= delay <= 330.0
    assert retry_delay_s(3, schedule, jitter=0.1) is None
    assert retry_delay_s(0, schedule, jitter=0.1) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("120", 120.0),
        (" 7 ", 7.0),
        ("999999", 3600.0),  # capped
        (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
        (format_datetime(NOW - timedelta(seconds=90), usegmt=True), 0.0),
        ("-5", None),
        ("soon", None),
    ],
)
def test_retry_after_is_read_as_seconds_or_a_date(
    value: str | None, expected: float | None
) -> None:
    assert parse_retry_after(value, now=NOW, cap_s=3600) == expected


SETTINGS = WebhookSettings(retry_schedule_s=(1.0, 2.0), jitter=0.0, retry_after_max_s=60)


@pytest.mark.parametrize(
    ("status", "retry_after", "number", "expected"),
    [
        (200, None, 1, (DeliveryStatus.SUCCEEDED, None, False)),
        (204, None, 3, (DeliveryStatus.SUCCEEDED, None, False)),
        (410, None, 1, (DeliveryStatus.FAILED, None, True)),
        (500, None, 1, (DeliveryStatus.PENDING, 1.0, False)),
        (302, None, 2, (DeliveryStatus.PENDING, 2.0, False)),  # redirects are not followed
        (None, None, 1, (DeliveryStatus.PENDING, 1.0, False)),  # no answer at all
        (500, None, 3, (DeliveryStatus.FAILED, None, False)),  # retries spent
        (503, "30", 1, (DeliveryStatus.PENDING, 30.0, False)),
        (429, "9999", 1, (DeliveryStatus.PENDING, 60.0, False)),  # capped
        (500, "30", 1, (DeliveryStatus.PENDING, 1.0, False)),  # only 429 and 503
        (503, "30", 3, (DeliveryStatus.FAILED, None, False)),
    ],
)
def test_what_follows_an_attempt(
    status: int | None,
    retry_after: str | None,
    number: int,
    expected: tuple[DeliveryStatus, float | None, bool],
) -> None:
    result = AttemptResult(status_code=status, latency_ms=1.0, retry_after=retry_after)
    decision = decide(result, number, SETTINGS, now=NOW)
    assert (decision.status, decision.delay_s, decision.gone) == expected


def test_rotated_secrets_sign_until_they_expire() -> None:
    endpoint = WebhookEndpoint(
        url="https://example.com/hook",
        event_types=[EventType.JOB_SUCCEEDED],
        secret="whsec_new",
        previous_secrets=[
            PreviousSecret(secret="whsec_old", expires_at=NOW + timedelta(seconds=1)),
            PreviousSecret(secret="whsec_older", expires_at=NOW),
        ],
    )
    assert endpoint.signing_secrets(NOW) == ["whsec_new", "whsec_old"]
