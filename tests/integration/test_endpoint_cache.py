"""A worker keeps each tenant's webhook endpoints until the tenant's version in Redis moves
(or its time to live passes), on the real Redis and MongoDB."""

import uuid
from typing import Any

import pytest

from storage.endpoint_versions import version_key
from storage.webhooks import EventType, WebhookEndpoint
from worker.endpoint_cache import EndpointCache
from worker.runtime import Runtime

pytestmark = pytest.mark.integration


def _counting(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, ttl_s: float
) -> tuple[str, list[str], EndpointCache]:
    """A new tenant, the MongoDB reads of its endpoints, and a cache."""
    reads: list[str] = []
    lookup = runtime.webhooks.endpoints_for

    async def counted(event_type: EventType, tenant_id: str) -> Any:
        reads.append(tenant_id)
        return await lookup(event_type, tenant_id)

    monkeypatch.setattr(runtime.webhooks, "endpoints_for", counted)
    return f"t-{uuid.uuid4().hex[:8]}", reads, EndpointCache(ttl_s=ttl_s)


def test_endpoints_are_read_again_only_when_the_tenant_changed_them(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant, reads, cache = _counting(runtime, monkeypatch, ttl_s=60)

    assert cache.endpoints(runtime, EventType.JOB_SUCCEEDED, tenant) == []
    assert cache.endpoints(runtime, EventType.JOB_SUCCEEDED, tenant) == []
    assert reads == [tenant]  # the second came from the cache

    endpoint = WebhookEndpoint(
        tenant_id=tenant,
        url="https://hooks.example.com/in",
        event_types=[EventType.JOB_SUCCEEDED],
        secret="whsec_" + "a" * 32,
    )
    runtime.run(runtime.webhooks.insert_endpoint(endpoint))
    runtime.redis.incr(version_key(tenant))  # as the gateway does after the write

    found = cache.endpoints(runtime, EventType.JOB_SUCCEEDED, tenant)
    assert [e.id for e in found] == [endpoint.id]
    assert cache.endpoints(runtime, EventType.JOB_FAILED, tenant) == []
    assert len(reads) == 3


def test_a_lost_version_bump_is_covered_by_the_time_to_live(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant, reads, cache = _counting(runtime, monkeypatch, ttl_s=0)

    cache.endpoints(runtime, EventType.JOB_SUCCEEDED, tenant)
    cache.endpoints(runtime, EventType.JOB_SUCCEEDED, tenant)

    assert reads == [tenant, tenant]
