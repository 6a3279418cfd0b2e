"""A job's end, announced on Redis, wakes the requests waiting on it, and only those."""

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from devstack.servers import RedisServer
from gateway.job_ends import JobEndWatcher
from storage.job_ends import job_end_channel

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def watcher(redis_server: RedisServer) -> AsyncIterator[tuple[JobEndWatcher, aioredis.Redis]]:
    client = aioredis.from_url(redis_server.url)
    watching = JobEndWatcher(client)
    watching.start()
    await asyncio.sleep(0.2)  # subscribed
    yield watching, client
    await watching.stop()
    await client.aclose()


async def test_an_announced_end_wakes_its_waiters_only(
    watcher: tuple[JobEndWatcher, aioredis.Redis],
) -> None:
    watching, client = watcher
    with watching.watching("job_a") as ended, watching.watching("job_b") as other:
        await client.publish(job_end_channel("job_a"), "1")
        await asyncio.wait_for(ended, timeout=5)
        await asyncio.sleep(0.1)
        assert not other.done()


async def test_a_waiter_gone_leaves_nothing_behind(
    watcher: tuple[JobEndWatcher, aioredis.Redis],
) -> None:
    watching, client = watcher
    with watching.watching("job_c"):
        pass
    assert watching._waiters == {}
    await client.publish(job_end_channel("job_c"), "1")  # nobody waits: nothing happens
