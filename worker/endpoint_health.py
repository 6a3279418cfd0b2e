"""Disabling endpoints that cannot take events, and telling the tenant.

An endpoint is disabled when it answers 410 Gone, or when every attempt to it has failed
for `WebhookSettings.disable_after_s` (its `failing_since` clock starts at the first failed
attempt and only a delivered one stops it). The tenant sees the reason and time on the
endpoint, and a `webhook.disabled` event: sent to its other endpoints subscribed to it,
and recorded, unsent, among the disabled endpoint's own deliveries.
"""

import json
from collections.abc import Callable
from datetime import datetime, timedelta

from storage.jobs import utcnow
from storage.webhook_repository import WebhookRepository
from storage.webhooks import (
    Delivery,
    DeliveryStatus,
    DestinationKind,
    EventType,
    WebhookEndpoint,
    delivery_id,
    event_message_id,
)


async def after_attempt(
    webhooks: WebhookRepository,
    endpoint: WebhookEndpoint,
    *,
    delivered: bool,
    gone: bool,
    disable_after_s: float,
    now: datetime,
    on_disabled: Callable[[WebhookEndpoint], None] | None = None,
) -> list[Delivery]:
    """Move the endpoint's failure clock after an attempt that was sent; the deliveries of
    a `webhook.disabled` event when this attempt disabled it (to enqueue). `on_disabled`
    hears of the endpoint this attempt disabled."""
    if delivered:
        if endpoint.failing_since is not None:
            await webhooks.mark_healthy(endpoint.id)
        return []
    if gone:
        reason = f"the endpoint answered 410 Gone at {now.isoformat()}"
    elif endpoint.failing_since is None:
        await webhooks.mark_failing(endpoint.id, now)
        return []
    elif now - endpoint.failing_since < timedelta(seconds=disable_after_s):
        return []
    else:
        since = endpoint.failing_since.isoformat()
        reason = f"every delivery failed from {since} to {now.isoformat()}"
    disabled = await webhooks.disable_endpoint(endpoint.id, reason)
    if disabled is None:  # disabled by a concurrent attempt, which announces it
        return []
    if on_disabled is not None:
        on_disabled(disabled)
    return await announce_disabled(webhooks, disabled)


async def announce_disabled(
    webhooks: WebhookRepository, endpoint: WebhookEndpoint
) -> list[Delivery]:
    """Create the `webhook.disabled` deliveries; those to send (the record on the disabled
    endpoint itself is created finished)."""
    event_type = EventType.WEBHOOK_DISABLED
    disabled_at = endpoint.disabled_at or utcnow()
    message_id = event_message_id(f"{endpoint.id}\n{disabled_at.isoformat()}", event_type)
    payload = {
        "type": event_type.value,
        "timestamp": disabled_at.isoformat(),
        "data": {
            "id": endpoint.id,
            "url": endpoint.url,
            "disabled_reason": endpoint.disabled_reason,
            "disabled_at": disabled_at.isoformat(),
            "failing_since": None
            if endpoint.failing_since is None
            else endpoint.failing_since.isoformat(),
        },
    }
    body = json.dumps(payload, separators=(",", ":"))
    others = [
        other
        for other in await webhooks.endpoints_for(event_type, endpoint.tenant_id)
        if other.id != endpoint.id
    ]
    created = []
    for target in [endpoint, *others]:
        unsent = target is endpoint
        delivery = Delivery(
            id=delivery_id(message_id, f"{DestinationKind.ENDPOINT.value}:{target.id}"),
            message_id=message_id,
            event_type=event_type,
            destination=DestinationKind.ENDPOINT,
            endpoint_id=target.id,
            url=target.url,
            tenant_id=endpoint.tenant_id,
            body=body,
            status=DeliveryStatus.FAILED if unsent else DeliveryStatus.PENDING,
            next_attempt_at=None if unsent else utcnow(),
        )
        if await webhooks.create_delivery(delivery) and not unsent:
            created.append(delivery)
    return created
