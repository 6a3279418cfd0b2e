"""Webhook deliveries against a real MongoDB-protocol server: created once, attempted once."""

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from storage.job_repository import create_mongo_client
from storage.jobs import DEFAULT_TENANT, utcnow
from storage.settings import MongoSettings
from storage.signing import new_secret
from storage.webhook_repository import WebhookRepository
from storage.webhooks import (
    Attempt,
    Delivery,
    DeliveryStatus,
    DestinationKind,
    EventType,
    WebhookEndpoint,
    delivery_id,
    event_message_id,
)

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def webhooks(mongo_server: Any) -> AsyncIterator[WebhookRepository]:
    client: AsyncMongoClient[dict[str, Any]] = create_mongo_client(
        MongoSettings(url=mongo_server.url)
    )
    repository = WebhookRepository(client["test_webhook_repository"])
    await repository.ensure_indexes()
    yield repository
    await client.close()


def _delivery(job_id: str, destination: str = "endpoint:wh_1") -> Delivery:
    message_id = event_message_id(job_id, EventType.JOB_SUCCEEDED)
    return Delivery(
        id=delivery_id(message_id, destination),
        message_id=message_id,
        event_type=EventType.JOB_SUCCEEDED,
        destination=DestinationKind.ENDPOINT,
        endpoint_id="wh_1",
        url="https://example.com/hook",
        job_id=job_id,
        body="{}",
    )


def _attempt(series: int, number: int, status_code: int) -> Attempt:
    return Attempt(series=series, number=number, at=utcnow(), status_code=status_code)


async def test_a_delivery_is_created_once_per_event_and_destination(
    webhooks: WebhookRepository,
) -> None:
    assert await webhooks.create_delivery(_delivery("job_once"))
    assert not await webhooks.create_delivery(_delivery("job_once"))
    assert await webhooks.create_delivery(_delivery("job_once", "callback:https://x.example/"))
    assert len(await webhooks.list_deliveries(tenant_id=DEFAULT_TENANT, job_id="job_once")) == 2


async def test_each_attempt_is_claimed_once_and_stale_series_do_nothing(
    webhooks: WebhookRepository,
) -> None:
    delivery = _delivery("job_claims")
    await webhooks.create_delivery(delivery)
    assert await webhooks.claim_attempt(delivery.id, 1, 1) is not None
    assert await webhooks.claim_attempt(delivery.id, 1, 1) is None  # a duplicate message
    assert await webhooks.claim_attempt(delivery.id, 1, 3) is None  # out of order
    later = utcnow() + timedelta(seconds=1)
    assert await webhooks.record_attempt(
        delivery.id, _attempt(1, 1, 503), DeliveryStatus.PENDING, later
    )
    assert await webhooks.restart(delivery.id) is None  # still pending
    assert await webhooks.claim_attempt(delivery.id, 1, 2) is not None
    assert await webhooks.record_attempt(
        delivery.id, _attempt(1, 2, 200), DeliveryStatus.SUCCEEDED, None
    )
    assert await webhooks.claim_attempt(delivery.id, 1, 3) is None  # finished
    restarted = await webhooks.restart(delivery.id)
    assert restarted is not None
    assert (restarted.series, restarted.status, restarted.claimed) == (2, "pending", 0)
    assert await webhooks.claim_attempt(delivery.id, 1, 3) is None  # the old series
    assert await webhooks.abandon(delivery.id, 2)  # as if its enqueue had failed
    assert (await webhooks.restart(delivery.id)) is not None
    assert not await webhooks.abandon(delivery.id, 2)  # an older series
    assert await webhooks.claim_attempt(delivery.id, 3, 1) is not None
    assert not await webhooks.abandon(delivery.id, 3)  # a task has it
    stored = await webhooks.get_delivery(delivery.id)
    assert stored is not None
    assert [(a.series, a.number, a.status_code) for a in stored.attempts] == [
        (1, 1, 503),
        (1, 2, 200),
    ]


async def test_rotation_keeps_the_old_secret_for_the_grace_period(
    webhooks: WebhookRepository,
) -> None:
    endpoint = WebhookEndpoint(
        url="https://example.com/hook", event_types=[EventType.JOB_FAILED], secret=new_secret()
    )
    await webhooks.insert_endpoint(endpoint)
    rotated = await webhooks.rotate_secret(endpoint.id, new_secret(), grace_s=60)
    assert rotated is not None
    stored = await webhooks.get_endpoint(endpoint.id)
    assert stored is not None
    assert stored.signing_secrets(utcnow()) == [rotated.secret, endpoint.secret]
    assert stored.signing_secrets(utcnow() + timedelta(seconds=61)) == [rotated.secret]
    subscribed = await webhooks.endpoints_for(EventType.JOB_FAILED, DEFAULT_TENANT)
    assert endpoint.id in [e.id for e in subscribed]
    assert not await webhooks.endpoints_for(EventType.JOB_FAILED, "another-tenant")
    assert await webhooks.disable_endpoint(endpoint.id, "410")
    assert not await webhooks.disable_endpoint(endpoint.id, "410")
    subscribed = await webhooks.endpoints_for(EventType.JOB_FAILED, DEFAULT_TENANT)
    assert endpoint.id not in [e.id for e in subscribed]
    assert await webhooks.delete_endpoint(endpoint.id)
    assert await webhooks.rotate_secret(endpoint.id, new_secret(), grace_s=60) is None
