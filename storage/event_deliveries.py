"""One event fanned out to its destinations: a delivery for each endpoint subscribed to its
type, and one for the callback URL its job or batch names. Job events (the worker) and
`batch.completed` (whoever completes the batch) both go through here."""

from dataclasses import dataclass

from storage.jobs import utcnow
from storage.webhook_repository import WebhookRepository
from storage.webhooks import (
    Delivery,
    DestinationKind,
    EventType,
    WebhookEndpoint,
    delivery_id,
    event_message_id,
)


@dataclass(frozen=True)
class Event:
    event_type: EventType
    # The job's or the batch's ID: with the type, it names the event (its message ID).
    subject_id: str
    tenant_id: str
    body: str
    job_id: str | None = None
    batch_id: str | None = None


async def create_deliveries(
    webhooks: WebhookRepository,
    event: Event,
    endpoints: list[WebhookEndpoint],
    callback_url: str | None,
) -> list[Delivery]:
    """The deliveries this call created; one that exists already (the event emitted again
    after a crash) is not created twice, nor returned."""
    message_id = event_message_id(event.subject_id, event.event_type)
    destinations: list[tuple[DestinationKind, str | None, str]] = [
        (DestinationKind.ENDPOINT, endpoint.id, endpoint.url) for endpoint in endpoints
    ]
    if callback_url is not None:
        destinations.append((DestinationKind.CALLBACK, None, callback_url))
    created = []
    for kind, endpoint_id, url in destinations:
        delivery = Delivery(
            id=delivery_id(message_id, f"{kind.value}:{endpoint_id or url}"),
            message_id=message_id,
            event_type=event.event_type,
            destination=kind,
            endpoint_id=endpoint_id,
            url=url,
            job_id=event.job_id,
            batch_id=event.batch_id,
            tenant_id=event.tenant_id,
            body=event.body,
            next_attempt_at=utcnow(),
        )
        if await webhooks.create_delivery(delivery):
            created.append(delivery)
    return created
