"""The open-jobs quota over a real Redis: parallel reservations never exceed the limit,
recorded ones count until MongoDB's count has them, and abandoned ones expire."""

import asyncio
import random
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from devstack.servers import RedisServer
from gateway.errors import ApiError
from gateway.quota import OpenJobsQuota

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    # As the gateway's: more submissions than connections wait for one.
    client = aioredis.Redis.from_pool(
        aioredis.BlockingConnectionPool.from_url(redis_server.url, max_connections=20)
    )
    yield client
    await client.aclose()


class Recorded:
    """What MongoDB would count: the jobs recorded so far."""

    def __init__(self) -> None:
        self.jobs = 0

    async def count(self, _tenant: str) -> int:
        return self.jobs


async def test_parallel_reservations_never_exceed_the_limit(redis: aioredis.Redis) -> None:
    recorded = Recorded()
    quota = OpenJobsQuota(redis, recorded.count, limit=100, max_age_s=0.05)
    tenant = uuid.uuid4().hex
    granted: list[int] = []
    refused = 0

    async def submit(wanted: int) -> None:
        nonlocal refused
        try:
            async with quota.holding(tenant, wanted) as room:
                await asyncio.sleep(random.random() / 100)  # the insert, interleaved
                recorded.jobs += room
                granted.append(room)
        except ApiError as error:
            refused += error.code == "too_many_open_jobs"

    await asyncio.gather(*(submit(random.choice([1, 1, 3, 20])) for _ in range(300)))
    assert sum(granted) == recorded.jobs == 100
    assert refused + len(granted) == 300


async def test_room_comes_back_when_the_count_drops_and_on_failure(
    redis: aioredis.Redis,
) -> None:
    recorded = Recorded()
    quota = OpenJobsQuota(redis, recorded.count, limit=5, max_age_s=0)
    tenant = uuid.uuid4().hex
    with pytest.raises(RuntimeError):
        async with quota.holding(tenant, 5):
            raise RuntimeError("the insert failed")  # given back at once
    async with quota.holding(tenant, 5) as room:
        recorded.jobs += room
    with pytest.raises(ApiError):
        async with quota.holding(tenant, 1):
            pass
    recorded.jobs = 2  # three jobs ended; the worker tells nobody
    await asyncio.sleep(1.1)  # a refusal recounts once the count is a second old
    async with quota.holding(tenant, 10) as room:
        assert room == 3


async def test_a_reservation_never_recorded_expires(redis: aioredis.Redis) -> None:
    recorded = Recorded()
    quota = OpenJobsQuota(redis, recorded.count, limit=4, max_age_s=60, held_ttl_s=0.5)
    tenant = uuid.uuid4().hex
    holding = quota.holding(tenant, 4)
    assert await holding.__aenter__() == 4  # a gateway that dies here never exits
    with pytest.raises(ApiError):
        async with quota.holding(tenant, 1):
            pass
    await asyncio.sleep(0.6)
    async with quota.holding(tenant, 4) as room:
        assert room == 4
