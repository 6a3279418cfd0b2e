"""The open-jobs quota, reserved atomically in Redis so that parallel submissions (jobs or
batches, on any gateway replica) can never take more room than the tenant has.

Per tenant, Redis holds:
- `base`: the tenant's open jobs as last counted in MongoDB, and when (Redis time): jobs
  queued or running, plus the rows unsealed batches may still turn into jobs
  (`row_limit - rows_read`, which the worker writes as it reads);
- `held`: reservations not yet recorded in MongoDB (member `<id>:<n>`, scored by time);
- `done`: reservations recorded since, scored by when.

In use = base + held + done recorded at or after the count began. One Lua script checks
and reserves, so two submissions never both see the same room. Nothing has to be released
when a job ends or a batch leaves rows unused: the next count (every `max_age_s`, at most
one per tenant at a time across replicas) sees it. A reservation a crashed gateway never
recorded expires after `held_ttl_s`, so no crash holds quota for ever. Counts err high
(a reservation may be counted twice for a moment), never low.
"""

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis
from pymongo.asynchronous.database import AsyncDatabase
from redis.exceptions import RedisError

from gateway.errors import ApiError
from storage.errors import ErrorCode

logger = logging.getLogger(__name__)

# (tenant) -> open jobs plus rows unsealed batches may still open, from MongoDB.
CountOpen = Callable[[str], Awaitable[int]]

# KEYS: base, held, done. ARGV: limit, wanted, id, held_ttl_s, keys_ttl_s.
# Returns {granted, base age in ms}; granted -1: no count yet; 0: no room.
_RESERVE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[4]))
local base = redis.call('HMGET', KEYS[1], 'count', 'at')
if not base[1] then return {-1, 0} end
local used = tonumber(base[1])
for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  used = used + tonumber(string.match(member, ':(%d+)$'))
end
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], base[2], '+inf')) do
  used = used + tonumber(string.match(member, ':(%d+)$'))
end
local age_ms = math.floor((now - tonumber(base[2])) * 1000)
local granted = math.min(tonumber(ARGV[2]), tonumber(ARGV[1]) - used)
if granted <= 0 then return {0, age_ms} end
redis.call('ZADD', KEYS[2], now, ARGV[3] .. ':' .. granted)
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], tonumber(ARGV[5])) end
return {granted, age_ms}
"""

# KEYS: held, done. ARGV: member, keys_ttl_s. Recorded in MongoDB: counted by time now.
_RECORDED = """
local clock = redis.call('TIME')
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  redis.call('ZADD', KEYS[2], tonumber(clock[1]) + tonumber(clock[2]) / 1000000, ARGV[1])
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[2]))
end
return 1
"""

# KEYS: base, done. ARGV: count, started at (Redis time), keys_ttl_s. A count that began
# before the one recorded is stale: dropped.
# Deletes the count lock only if it is still this count's (one past its expiry may be
# another replica's by now).
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# How long a submission waits for another replica's count of its tenant to land.
_COUNT_WAIT_S = 5.0

_COUNTED = """
local at = redis.call('HGET', KEYS[1], 'at')
if at and tonumber(at) >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'count', ARGV[1], 'at', ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[2])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"""


def too_many_open_jobs(limit: int) -> ApiError:
    return ApiError(
        429,
        ErrorCode.TOO_MANY_OPEN_JOBS,
        f"{limit} jobs are already queued or running for this tenant; "
        "submit more when some have finished",
        {"Retry-After": "10"},
    )


class OpenJobsQuota:
    def __init__(
        self,
        redis: aioredis.Redis,
        count_open: CountOpen,
        *,
        limit: int,
        max_age_s: float,
        held_ttl_s: float = 900.0,
    ) -> None:
        self._redis = redis
        self._count_open = count_open
        self.limit = limit
        self._max_age_s = max_age_s
        self._held_ttl_s = held_ttl_s
        self._keys_ttl_s = 24 * 3600
        self._reserve = redis.register_script(_RESERVE)
        self._recorded = redis.register_script(_RECORDED)
        self._counted = redis.register_script(_COUNTED)
        self._unlock = redis.register_script(_UNLOCK)
        self._counting: dict[str, asyncio.Task[None]] = {}

    @asynccontextmanager
    async def holding(self, tenant_id: str, wanted: int) -> AsyncIterator[int]:
        """Reserve up to `wanted` jobs (429 if none is free) for the block, which records
        them in MongoDB; kept if it succeeds, given back if it raises."""
        if self.limit == 0:
            yield wanted
            return
        try:
            granted, member = await self._take(tenant_id, wanted)
        except RedisError as error:
            # Refused, not waved through: a quota that opens when Redis is busy is none (and
            # without Redis, the broker, nothing could be queued anyway).
            logger.warning("open-jobs quota of %s unavailable: %r", tenant_id, error)
            raise ApiError(
                503,
                ErrorCode.SERVICE_UNAVAILABLE,
                "the job queue is unavailable; submit again later",
                {"Retry-After": "1"},
            ) from error
        held, done = _keys(tenant_id)[1:]
        try:
            yield granted
        except BaseException:
            await self._forget(held, member)
            raise
        try:
            await self._recorded(keys=[held, done], args=[member, self._keys_ttl_s])
        except RedisError:
            logger.warning("quota reservation %s not marked recorded; it expires", member)

    async def _take(self, tenant_id: str, wanted: int) -> tuple[int, str]:
        member_id = secrets.token_hex(8)
        for attempt in range(3):
            granted, age_ms = (
                int(value)
                for value in await self._reserve(
                    keys=list(_keys(tenant_id)),
                    args=[self.limit, wanted, member_id, self._held_ttl_s, self._keys_ttl_s],
                )
            )
            age_s = age_ms / 1000
            if granted > 0:
                if age_s > self._max_age_s:
                    self._count_later(tenant_id)
                return granted, f"{member_id}:{granted}"
            # No count yet, or no room by a count old enough that jobs may have ended since.
            if attempt == 2 or (granted == 0 and age_s < min(1.0, self._max_age_s)):
                break
            await self.recount(tenant_id)
        if granted < 0:
            # Still no count (MongoDB slow or down): not a verdict on the tenant's jobs.
            raise ApiError(
                503,
                ErrorCode.SERVICE_UNAVAILABLE,
                "open jobs could not be counted; submit again later",
                {"Retry-After": "1"},
            )
        raise too_many_open_jobs(self.limit)

    async def _forget(self, held: str, member: str) -> None:
        try:
            await self._redis.zrem(held, member)
        except RedisError:
            logger.warning("quota reservation %s not given back; it expires", member)

    def _count_later(self, tenant_id: str) -> None:
        if tenant_id not in self._counting:
            task = asyncio.create_task(self._count_quietly(tenant_id))
            self._counting[tenant_id] = task
            task.add_done_callback(lambda _: self._counting.pop(tenant_id, None))

    async def _count_quietly(self, tenant_id: str) -> None:
        try:
            await self.recount(tenant_id)
        except Exception:
            logger.warning("open jobs of %s not counted; the last count stays", tenant_id)

    async def recount(self, tenant_id: str) -> None:
        """Count in MongoDB and record it: one count per tenant at a time, across replicas."""
        base, _, done = _keys(tenant_id)
        lock = f"{base}:counting"
        token = secrets.token_hex(8)
        if not await self._redis.set(lock, token, nx=True, ex=30):
            # Another replica counts: wait (bounded) for its count to land.
            for _ in range(int(_COUNT_WAIT_S / 0.05)):
                await asyncio.sleep(0.05)
                if not await self._redis.exists(lock):
                    return
            return
        try:
            seconds, micros = await self._redis.time()
            started = seconds + micros / 1_000_000
            count = await self._count_open(tenant_id)
            await self._counted(keys=[base, done], args=[count, repr(started), self._keys_ttl_s])
        finally:
            await self._unlock(keys=[lock], args=[token])


def _keys(tenant_id: str) -> tuple[str, str, str]:
    prefix = f"openjobs:{{{tenant_id}}}"
    return f"{prefix}:base", f"{prefix}:held", f"{prefix}:done"


async def unread_batch_rows(database: AsyncDatabase[dict[str, Any]], tenant_id: str) -> int:
    """Rows the tenant's batches still being read may yet turn into jobs (their reservation
    at submission, less the rows read so far: those are jobs, counted as such, or errors)."""
    unread = 0
    batches = database["batches"].find(
        {"tenant_id": tenant_id, "sealed": False, "cancelled_at": None},
        {"source.row_limit": 1, "rows_read": 1},
    )
    async for batch in batches:
        row_limit = int((batch.get("source") or {}).get("row_limit", 0))
        unread += max(0, row_limit - int(batch.get("rows_read", 0)))
    return unread
