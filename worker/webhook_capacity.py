"""A per-tenant cap on deliveries being sent at once, over every webhook worker.

A Redis sorted set per tenant holds one member per delivery in flight, scored with the
time it started; members older than `ttl_s` (a worker killed mid-attempt never releases
its slot) are dropped before counting, so a lost slot frees itself. Taking a slot is one
Lua script: the count and the add cannot interleave with another worker's.
"""

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from redis import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

_KEY_PREFIX = "webhooks:in-flight:"
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])))
return 1
"""


@lru_cache
def _client(url: str) -> Redis:
    # redis-py reopens its connections in a forked child (its pool checks the pid).
    return Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)


@contextmanager
def tenant_slot(url: str, tenant_id: str, *, limit: int, ttl_s: float) -> Iterator[bool]:
    """Yields whether a slot of `tenant_id` was taken; releases it on exit. When Redis
    cannot be reached the delivery goes ahead (True): the cap is a fairness measure, and a
    broker outage stops new deliveries anyway."""
    client = _client(url)
    key = _KEY_PREFIX + tenant_id
    member = uuid.uuid4().hex
    try:
        taken = bool(client.eval(_ACQUIRE, 1, key, time.time(), ttl_s, limit, member))
    except RedisError as error:
        logger.warning("tenant %s: delivery cap not checked: %s", tenant_id, error)
        yield True
        return
    try:
        yield taken
    finally:
        if taken:
            try:
                client.zrem(key, member)
            except RedisError as error:  # the slot expires after ttl_s
                logger.warning("tenant %s: delivery slot not released: %s", tenant_id, error)
