"""One delivery attempt: read, take a tenant slot, claim, sign, send, record, and say what
follows (the task in `worker.webhook_tasks` enqueues it).

Reading before claiming lets a delivery over its tenant's cap wait unclaimed (not counted
as an attempt), held in MongoDB until the sweep releases it: the claim is a conditional
`update_one` on the delivery as read.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from storage.jobs import utcnow
from storage.signing import sign
from storage.webhooks import (
    Attempt,
    Delivery,
    DeliveryStatus,
    DestinationKind,
    WebhookEndpoint,
)
from worker import metrics
from worker.endpoint_cache import endpoints_changed
from worker.endpoint_health import after_attempt
from worker.runtime import Runtime
from worker.webhook_capacity import tenant_slot
from worker.webhooks import AttemptResult, Decision, decide, post_webhook

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Followup:
    """What the task enqueues after an attempt."""

    # The attempt to enqueue next, after `countdown_s`.
    number: int | None = None
    countdown_s: float = 0.0
    # New deliveries to send (a `webhook.disabled` event this attempt caused).
    created: list[Delivery] = field(default_factory=list)


def attempt(runtime: Runtime, delivery_id: str, series: int, number: int) -> Followup:
    delivery = runtime.run(runtime.webhooks.get_delivery(delivery_id))
    if delivery is None or not delivery.claimable(series, number):
        return Followup()  # a duplicate message, a stale series, or already finished
    settings = runtime.settings.webhook
    with tenant_slot(
        runtime.settings.celery.broker_url.get_secret_value(),
        delivery.tenant_id,
        limit=settings.max_in_flight_per_tenant,
        ttl_s=2 * settings.timeout_s + 30,
    ) as taken:
        if not taken:
            # Held in MongoDB, not cycled through the broker: a tenant with thousands of
            # deliveries waiting costs the sweep's bounded pass, not a message each.
            logger.info("delivery %s: tenant %s at its cap", delivery.id, delivery.tenant_id)
            until = utcnow() + timedelta(seconds=settings.over_cap_delay_s)
            runtime.run(runtime.webhooks.hold(delivery, until))
            return Followup()
        if not runtime.run(runtime.webhooks.claim(delivery, number)):
            return Followup()
        return _send(runtime, delivery, number)


def _send(runtime: Runtime, delivery: Delivery, number: int) -> Followup:
    settings = runtime.settings.webhook
    now = utcnow()
    secrets, endpoint, refusal = runtime.run(_signing_secrets(runtime, delivery, now))
    if refusal is not None:
        result = AttemptResult(status_code=None, latency_ms=0.0, error=refusal)
        decision = Decision(DeliveryStatus.FAILED)
    else:
        timestamp = int(now.timestamp())
        body = delivery.body.encode()
        headers = {
            "Content-Type": "application/json",
            "webhook-id": delivery.message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secrets, delivery.message_id, timestamp, body),
        }
        result = post_webhook(delivery.url, headers, body, settings)
        decision = decide(result, number, settings, now=now)
    record = Attempt(
        series=delivery.series,
        number=number,
        at=now,
        status_code=result.status_code,
        latency_ms=round(result.latency_ms, 1),
        error=result.error,
    )
    delay_s = decision.delay_s if decision.status is DeliveryStatus.PENDING else None
    # A long wait is left in MongoDB: the broker would hand a message held past its
    # visibility timeout out again.
    held = delay_s is not None and delay_s > settings.countdown_max_s
    next_at = None if delay_s is None else now + timedelta(seconds=delay_s)
    recorded = runtime.run(
        runtime.webhooks.record_attempt(delivery.id, record, decision.status, next_at, held=held)
    )
    metrics.delivery_attempted(delivery, result, decision)
    logger.info(
        "delivery %s attempt %d.%d: %s -> %s%s",
        delivery.id,
        delivery.series,
        number,
        result.status_code or result.error,
        decision.status,
        " (held)" if held else "",
    )
    created: list[Delivery] = []
    if endpoint is not None and refusal is None:
        created = runtime.run(
            after_attempt(
                runtime.webhooks,
                endpoint,
                delivered=decision.status is DeliveryStatus.SUCCEEDED,
                gone=decision.gone,
                disable_after_s=settings.disable_after_s,
                now=now,
                on_disabled=lambda disabled: endpoints_changed(runtime, disabled.tenant_id),
            )
        )
    if not recorded or delay_s is None or held:
        return Followup(created=created)
    return Followup(number + 1, delay_s, created)


async def _signing_secrets(
    runtime: Runtime, delivery: Delivery, now: datetime
) -> tuple[list[str], WebhookEndpoint | None, str | None]:
    """The secrets to sign with and the endpoint, or why the delivery cannot be sent.

    A callback is signed with its tenant's callback secret (created on first use), never
    with anything another tenant's receiver could trust."""
    if delivery.destination is DestinationKind.CALLBACK:
        callback_secret = await runtime.webhooks.callback_secrets.get(delivery.tenant_id)
        return callback_secret.signing_secrets(now), None, None
    endpoint = None
    if delivery.endpoint_id is not None:
        endpoint = await runtime.webhooks.get_endpoint(delivery.endpoint_id)
    if endpoint is None or endpoint.tenant_id != delivery.tenant_id:
        return [], None, "the endpoint was deleted"
    if endpoint.disabled:
        return [], None, "the endpoint is disabled"
    return endpoint.signing_secrets(now), endpoint, None
