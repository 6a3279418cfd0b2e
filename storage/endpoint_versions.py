"""A tenant's webhook endpoints change rarely and are asked for with every finished job.

Workers keep the answer (worker.endpoint_cache), keyed by a per-tenant version in Redis
that the gateway bumps after every change it writes (register, delete, enable): a worker
that sees a new version reads the endpoints again. A bump lost to a Redis outage is
covered by the cache's time to live."""

KEY_PREFIX = "deepfake:endpoints-version:"


def version_key(tenant_id: str) -> str:
    return KEY_PREFIX + tenant_id
