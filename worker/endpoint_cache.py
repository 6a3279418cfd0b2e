"""Each tenant's webhook endpoints per event type, kept per worker process and read again
when the tenant's version in Redis moved (storage.endpoint_versions) or after `ttl_s`."""

import logging
import time
from dataclasses import dataclass, field

from redis.exceptions import RedisError

from storage.endpoint_versions import version_key
from storage.webhooks import EventType, WebhookEndpoint
from worker.runtime import Runtime

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Entry:
    version: bytes | None
    expires_at: float
    endpoints: list[WebhookEndpoint]


@dataclass
class EndpointCache:
    ttl_s: float = 10.0
    _entries: dict[tuple[str, EventType], _Entry] = field(default_factory=dict)

    def endpoints(
        self, runtime: Runtime, event_type: EventType, tenant_id: str
    ) -> list[WebhookEndpoint]:
        """The tenant's enabled endpoints subscribed to `event_type`; MongoDB errors raise."""
        try:
            version = runtime.redis.get(version_key(tenant_id))
        except (RedisError, OSError) as error:
            logger.info("endpoint versions unavailable, reading MongoDB: %s", error)
            return runtime.run(runtime.webhooks.endpoints_for(event_type, tenant_id))
        key = (tenant_id, event_type)
        entry = self._entries.get(key)
        now = time.monotonic()
        if entry is not None and entry.version == version and entry.expires_at > now:
            return entry.endpoints
        endpoints = runtime.run(runtime.webhooks.endpoints_for(event_type, tenant_id))
        if len(self._entries) > 10_000:
            self._entries.clear()  # bounded: tenants come and go
        self._entries[key] = _Entry(
            version if isinstance(version, bytes) else None, now + self.ttl_s, endpoints
        )
        return endpoints


def endpoints_changed(runtime: Runtime, tenant_id: str) -> None:
    """Bump the tenant's version (an endpoint this worker disabled); never raises: the
    copies expire anyway."""
    try:
        runtime.redis.incr(version_key(tenant_id))
    except (RedisError, OSError) as error:
        logger.warning("endpoint version of %s not bumped: %s", tenant_id, error)


# One per worker process (a fork starts with its parent's, which is empty).
endpoint_cache = EndpointCache()
