"""Webhook endpoints, deliveries and the pure rules of delivering them.

One `Delivery` per (event, destination): its id derives from the event's message id and
the destination, so creating it twice is a no-op. The message id derives from the job and
the event type, so the same event always carries the same `webhook-id`.
"""

import base64
import hashlib
import random
import secrets
from collections.abc import Sequence
from datetime import datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from storage.jobs import DEFAULT_TENANT, JobStatus, utcnow
from storage.signing_keys import PreviousSecret as PreviousSecret  # endpoints' old secrets
from storage.signing_keys import SigningKey


class EventType(StrEnum):
    JOB_SUCCEEDED = "job.succeeded"
    JOB_FAILED = "job.failed"
    BATCH_COMPLETED = "batch.completed"
    # An endpoint was disabled (410 Gone, or failing continuously): sent to the tenant's
    # other endpoints subscribed to it, and recorded on the disabled one's deliveries.
    WEBHOOK_DISABLED = "webhook.disabled"


JOB_EVENTS: dict[JobStatus, EventType] = {
    JobStatus.SUCCEEDED: EventType.JOB_SUCCEEDED,
    JobStatus.FAILED: EventType.JOB_FAILED,
}


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class DestinationKind(StrEnum):
    # A registered endpoint (`POST /v1/webhooks`), signed with its own secret.
    ENDPOINT = "endpoint"
    # A job's or batch's `callback_url`, signed with its tenant's callback secret.
    CALLBACK = "callback"


def _digest_id(prefix: str, *parts: str) -> str:
    digest = hashlib.sha256("\n".join(parts).encode()).digest()[:18]
    return prefix + base64.urlsafe_b64encode(digest).decode("ascii")


def event_message_id(subject_id: str, event_type: EventType) -> str:
    """Deterministic: a job (or batch) reaches a terminal state once, so this names the event."""
    return _digest_id("msg_", subject_id, event_type.value)


def delivery_id(message_id: str, destination: str) -> str:
    return _digest_id("dlv_", message_id, destination)


def new_endpoint_id() -> str:
    return "wh_" + secrets.token_urlsafe(12)


class WebhookEndpoint(SigningKey):
    id: str = Field(default_factory=new_endpoint_id)
    tenant_id: str = DEFAULT_TENANT
    url: str
    event_types: list[EventType]
    description: str | None = None
    disabled: bool = False
    disabled_reason: str | None = None
    disabled_at: datetime | None = None
    # The first failed attempt since the last success; only a success clears it.
    failing_since: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Attempt(BaseModel):
    series: int
    number: int  # 1-based within its series
    at: datetime
    status_code: int | None = None
    latency_ms: float | None = None
    error: str | None = None


class Delivery(BaseModel):
    id: str
    tenant_id: str = DEFAULT_TENANT
    message_id: str
    event_type: EventType
    destination: DestinationKind
    endpoint_id: str | None = None
    url: str
    # The job, or for a batch event the batch, the event is about.
    job_id: str | None = None
    batch_id: str | None = None
    # The exact bytes sent (as text): every attempt and redelivery sends the same body.
    body: str
    status: DeliveryStatus = DeliveryStatus.PENDING
    # A redelivery starts a new series; tasks of an older series find nothing to do.
    series: int = 1
    # The attempt number the last task claimed in the current series.
    claimed: int = 0
    attempts: list[Attempt] = Field(default_factory=list)
    next_attempt_at: datetime | None = None
    # The next attempt waits in MongoDB until `next_attempt_at`, for the sweep to enqueue
    # (a delay too long to wait in the broker); False while it waits in the broker or runs.
    held: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    def claimable(self, series: int, number: int) -> bool:
        """Whether attempt `number` of `series` is the next one to send."""
        return (
            self.status is DeliveryStatus.PENDING
            and self.series == series
            and self.claimed == number - 1
        )


def retry_delay_s(
    attempt: int, schedule: Sequence[float], *, jitter: float, rng: random.Random | None = None
) -> float | None:
    """Seconds before the attempt after `attempt` (1-based), or None when retries are spent.

    Jitter spreads the retries of many deliveries by up to ±`jitter` of the delay.
    """
    if attempt < 1 or attempt > len(schedule):
        return None
    base = float(schedule[attempt - 1])
    spread = (rng or random.Random()).uniform(-jitter, jitter)  # noqa: S311 (not crypto)
    return max(0.0, base * (1 + spread))


def parse_retry_after(value: str | None, *, now: datetime, cap_s: float) -> float | None:
    """`Retry-After` as seconds from now (delta-seconds or an HTTP date), capped; None if absent
    or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        seconds = (when - now).total_seconds()
    return min(max(seconds, 0.0), cap_s)
