"""Per-tenant callback secrets, held retries and endpoint failure clocks against a real
MongoDB-protocol server and a real Redis."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from devstack.servers import RedisServer
from storage.job_repository import create_mongo_client
from storage.jobs import utcnow
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
)
from worker.endpoint_health import after_attempt
from worker.webhook_capacity import tenant_slot

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def webhooks(mongo_server: Any) -> AsyncIterator[WebhookRepository]:
    client: AsyncMongoClient[dict[str, Any]] = create_mongo_client(
        MongoSettings(url=mongo_server.url)
    )
    repository = WebhookRepository(client["test_webhook_schedule"])
    await repository.ensure_indexes()
    yield repository
    await client.close()


async def test_each_tenant_gets_its_own_callback_secret_once(webhooks: WebhookRepository) -> None:
    tenant_a, tenant_b = f"a-{uuid.uuid4().hex}", f"b-{uuid.uuid4().hex}"
    # Concurrent first uses (the gateway's read, several deliveries) store one secret.
    first = await asyncio.gather(*(webhooks.callback_secrets.get(tenant_a) for _ in range(5)))
    assert len({key.secret for key in first}) == 1
    assert first[0].secret.startswith("whsec_")
    assert first[0].tenant_id == tenant_a
    other = await webhooks.callback_secrets.get(tenant_b)
    assert other.secret != first[0].secret
    assert (await webhooks.callback_secrets.get(tenant_a)).secret == first[0].secret


async def test_a_rotated_callback_secret_signs_with_the_old_one_during_the_grace_period(
    webhooks: WebhookRepository,
) -> None:
    tenant = f"t-{uuid.uuid4().hex}"
    before = await webhooks.callback_secrets.get(tenant)
    assert before.previous_expires_at(utcnow()) is None
    rotated = await webhooks.callback_secrets.rotate(tenant, new_secret(), grace_s=60)
    assert rotated.secret != before.secret
    stored = await webhooks.callback_secrets.get(tenant)
    assert stored.signing_secrets(utcnow()) == [rotated.secret, before.secret]
    assert stored.signing_secrets(utcnow() + timedelta(seconds=61)) == [rotated.secret]
    expires = stored.previous_expires_at(utcnow())
    assert expires is not None
    assert expires > utcnow() + timedelta(seconds=59)
    # A tenant's first rotation needs no earlier read.
    fresh = await webhooks.callback_secrets.rotate(f"t-{uuid.uuid4().hex}", new_secret(), 0)
    assert fresh.signing_secrets(utcnow()) == [fresh.secret]


def _delivery() -> Delivery:
    return Delivery(
        id=f"dlv_{uuid.uuid4().hex}",
        message_id="msg_x",
        event_type=EventType.JOB_FAILED,
        destination=DestinationKind.ENDPOINT,
        endpoint_id="wh_1",
        url="https://example.com/hook",
        body="{}",
        next_attempt_at=utcnow(),
    )


async def test_a_held_retry_is_released_once_when_due_and_is_not_the_reconcilers(
    webhooks: WebhookRepository,
) -> None:
    delivery = _delivery()
    await webhooks.create_delivery(delivery)
    assert await webhooks.claim_attempt(delivery.id, 1, 1) is not None
    due = utcnow() - timedelta(seconds=1)  # as if the long wait had passed
    failed = Attempt(series=1, number=1, at=utcnow(), status_code=500)
    assert await webhooks.record_attempt(
        delivery.id, failed, DeliveryStatus.PENDING, due, held=True
    )
    # Not due yet at an earlier time; the reconciler's stalled pass leaves it to the sweep.
    assert delivery.id not in {d.id for d in await webhooks.due_held(due - timedelta(1), 100)}
    later = utcnow() + timedelta(hours=1)
    assert delivery.id not in {d.id for d in await webhooks.stalled(later, 1000)}
    (held,) = [d for d in await webhooks.due_held(utcnow(), 1000) if d.id == delivery.id]
    assert held.held
    assert held.claimed == 1
    # Two sweeps read it; one releases it.
    assert [await webhooks.release(held), await webhooks.release(held)] == [True, False]
    assert delivery.id not in {d.id for d in await webhooks.due_held(utcnow(), 1000)}
    # Released but never run (its enqueue failed): the reconciler finds it once untouched.
    assert delivery.id in {d.id for d in await webhooks.stalled(later, 1000)}
    assert await webhooks.claim_attempt(delivery.id, 1, 2) is not None


async def test_a_delivery_over_its_tenants_cap_waits_unclaimed_in_mongodb(
    webhooks: WebhookRepository,
) -> None:
    delivery = _delivery()
    await webhooks.create_delivery(delivery)
    stored = await webhooks.get_delivery(delivery.id)
    assert stored is not None
    until = utcnow() + timedelta(seconds=30)

    assert await webhooks.hold(stored, until)

    assert delivery.id not in {d.id for d in await webhooks.due_held(utcnow(), 1000)}
    (due,) = [d for d in await webhooks.due_held(until, 1000) if d.id == delivery.id]
    assert (due.claimed, due.held) == (0, True)  # not an attempt
    assert await webhooks.release(due)
    assert await webhooks.claim_attempt(delivery.id, 1, 1) is not None


async def test_an_endpoint_failing_past_the_limit_is_disabled_and_announced(
    webhooks: WebhookRepository,
) -> None:
    tenant = f"t-{uuid.uuid4().hex}"

    def endpoint(*events: EventType) -> WebhookEndpoint:
        return WebhookEndpoint(
            tenant_id=tenant, url="https://example.com/h", event_types=list(events), secret="s"
        )

    dead, watcher = endpoint(EventType.JOB_FAILED), endpoint(EventType.WEBHOOK_DISABLED)
    for created in (dead, watcher):
        await webhooks.insert_endpoint(created)

    async def fail(at_s: float, *, delivered: bool = False) -> list[Delivery]:
        current = await webhooks.get_endpoint(dead.id)
        assert current is not None
        now = start + timedelta(seconds=at_s)
        return await after_attempt(
            webhooks, current, delivered=delivered, gone=False, disable_after_s=60, now=now
        )

    start = utcnow().replace(microsecond=0)  # MongoDB keeps milliseconds
    assert await fail(0) == []
    assert await fail(50) == []
    assert await fail(55, delivered=True) == []  # a success stops the clock
    assert await fail(70) == []  # starts again
    assert await fail(120) == []
    announced = await fail(131)
    shown = await webhooks.get_endpoint(dead.id)
    assert shown is not None
    assert shown.disabled
    assert shown.disabled_at is not None
    assert shown.failing_since == start + timedelta(seconds=70)
    assert shown.disabled_reason is not None
    assert "failed" in shown.disabled_reason
    assert [(d.endpoint_id, d.event_type) for d in announced] == [
        (watcher.id, EventType.WEBHOOK_DISABLED)
    ]
    # Recorded, unsent, on the disabled endpoint's own deliveries.
    (record,) = await webhooks.list_deliveries(tenant_id=tenant, endpoint_id=dead.id)
    assert (record.event_type, record.status) == (EventType.WEBHOOK_DISABLED, "failed")
    assert record.message_id == announced[0].message_id
    assert await fail(200) == []  # announced once


def test_a_tenant_takes_at_most_its_cap_of_delivery_slots(redis_server: RedisServer) -> None:
    tenant = f"t-{uuid.uuid4().hex}"

    def slot(who: str = tenant, ttl_s: float = 60) -> Any:
        return tenant_slot(redis_server.url, who, limit=2, ttl_s=ttl_s)

    with slot() as first, slot() as second, slot() as third, slot("other") as other:
        assert (first, second, third, other) == (True, True, False, True)
    with slot() as again:  # released on exit
        assert again
    # A slot never released (a killed worker) frees itself after its time to live.
    stuck = slot(ttl_s=0.2)
    stuck.__enter__()
    stuck2 = slot(ttl_s=0.2)
    assert stuck2.__enter__()
    with slot(ttl_s=0.2) as over:
        assert not over
    time.sleep(0.3)
    with slot(ttl_s=0.2) as freed:
        assert freed
