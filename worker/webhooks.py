"""Sending one webhook attempt and deciding what follows it.

The request goes out like an image fetch (`worker.fetch.pinned_request`): the URL is
checked, resolved once, every address checked, and the connection made to the checked
address, so a receiver URL cannot be turned against our own network. Redirects are never
followed: a 3xx is a failed attempt.
"""

import time
from dataclasses import dataclass
from datetime import datetime

import urllib3
from pydantic import BaseModel, ConfigDict, Field
from urllib3.exceptions import HTTPError

from storage.errors import ServiceError
from storage.netguard import DEFAULT_ALLOWED_PORTS, resolve_and_check, validate_url
from storage.webhooks import DeliveryStatus, parse_retry_after, retry_delay_s
from worker.fetch import pinned_request

# The Standard Webhooks schedule: after the 1st attempt 5 s, then 5 min, 30 min, 2 h, 5 h,
# 10 h and 10 h (8 attempts over about 28 hours).
DEFAULT_RETRY_SCHEDULE_S = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
_RETRY_AFTER_STATUSES = frozenset({429, 503})
GONE = 410


class WebhookSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    timeout_s: float = Field(default=15.0, gt=0)
    retry_schedule_s: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE_S
    # Each retry delay varies by up to this fraction either way, so retries spread out.
    jitter: float = Field(default=0.1, ge=0.0, le=1.0)
    # A receiver's Retry-After (on 429 and 503) is honoured up to this many seconds.
    retry_after_max_s: float = Field(default=36000.0, ge=0)
    # A retry due within this many seconds waits in the broker (a countdown); a later one
    # waits in MongoDB and the sweep enqueues it when due. Keep it well under the broker's
    # visibility timeout (`CELERY__VISIBILITY_TIMEOUT_S`), past which Redis hands the
    # message out again.
    countdown_max_s: float = Field(default=60.0, ge=0)
    # How often beat sends the sweep, and how many due deliveries one sweep enqueues.
    sweep_interval_s: float = Field(default=10.0, gt=0)
    sweep_limit: int = Field(default=500, ge=1)
    # Deliveries of one tenant being sent at once, over every webhook worker (a Redis
    # semaphore): one tenant's slow or dead receivers cannot take every delivery process.
    # A delivery over it waits in MongoDB at least `over_cap_delay_s` (then for the next
    # sweep), not counted as an attempt.
    max_in_flight_per_tenant: int = Field(default=4, ge=1)
    over_cap_delay_s: float = Field(default=3.0, gt=0)
    # An endpoint whose every attempt failed for this long (only a success resets the
    # clock) is disabled, like one that answers 410 Gone, and `webhook.disabled` is sent.
    disable_after_s: float = Field(default=5 * 24 * 3600.0, gt=0)
    # Only for tests and local development, like `FetchSettings.allow_loopback`.
    allow_loopback: bool = False
    # Ports a receiver URL may name (`WORKER_WEBHOOK__ALLOWED_PORTS`); any port on loopback
    # where loopback is allowed.
    allowed_ports: frozenset[int] = DEFAULT_ALLOWED_PORTS
    user_agent: str = "deepfake-detection-service-webhooks/0.1"


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    latency_ms: float
    error: str | None = None
    retry_after: str | None = None


@dataclass(frozen=True)
class Decision:
    status: DeliveryStatus
    # Seconds until the next attempt, when `status` is still pending.
    delay_s: float | None = None
    # The receiver answered 410 Gone: disable a registered endpoint.
    gone: bool = False


def post_webhook(
    url: str, headers: dict[str, str], body: bytes, settings: WebhookSettings
) -> AttemptResult:
    """POST `body` once; never raises for what the receiver or the network does."""
    started = time.perf_counter()

    def elapsed_ms() -> float:
        return (time.perf_counter() - started) * 1000

    try:
        target = validate_url(url)
        addresses = resolve_and_check(
            target.host,
            target.port,
            allow_loopback=settings.allow_loopback,
            allowed_ports=settings.allowed_ports,
        )
        pool, response = pinned_request(
            target,
            addresses,
            "POST",
            {"User-Agent": settings.user_agent, **headers},
            urllib3.Timeout(total=settings.timeout_s),
            body,
        )
        with pool:
            try:
                return AttemptResult(
                    status_code=response.status,
                    latency_ms=elapsed_ms(),
                    retry_after=response.headers.get("Retry-After"),
                )
            finally:
                response.close()  # the body is not read: it means nothing to us
    except ServiceError as error:
        return AttemptResult(None, elapsed_ms(), f"{error.code}: {error.message}")
    except (HTTPError, OSError) as error:
        return AttemptResult(None, elapsed_ms(), f"request failed: {type(error).__name__}")


def decide(
    result: AttemptResult, number: int, settings: WebhookSettings, *, now: datetime
) -> Decision:
    """What follows attempt `number` (1-based) of a series."""
    status = result.status_code
    if status is not None and 200 <= status < 300:
        return Decision(DeliveryStatus.SUCCEEDED)
    if status == GONE:
        return Decision(DeliveryStatus.FAILED, gone=True)
    delay = retry_delay_s(number, settings.retry_schedule_s, jitter=settings.jitter)
    if delay is None:
        return Decision(DeliveryStatus.FAILED)
    if status in _RETRY_AFTER_STATUSES:
        asked = parse_retry_after(result.retry_after, now=now, cap_s=settings.retry_after_max_s)
        if asked is not None:
            delay = asked
    return Decision(DeliveryStatus.PENDING, delay_s=delay)
