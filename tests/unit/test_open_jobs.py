"""The open-jobs count: read once, kept up to date by this gateway, refreshed behind."""

import asyncio

import pytest

from gateway.open_jobs import OpenJobs


class Counts:
    def __init__(self) -> None:
        self.value = 10
        self.calls = 0
        self.release = asyncio.Event()
        self.release.set()
        self.failing = False

    async def __call__(self, tenant_id: str) -> int:
        self.calls += 1
        if self.failing:
            raise ConnectionError("down")
        await self.release.wait()
        return self.value


@pytest.mark.anyio
async def test_a_stale_count_is_answered_at_once_and_refreshed_behind() -> None:
    counts = Counts()
    open_jobs = OpenJobs(counts, max_age_s=0)
    assert await open_jobs.current("acme") == 10
    open_jobs.opened("acme", 3)
    counts.value = 20
    counts.release.clear()
    # Stale: the old reading plus what this gateway opened, without waiting for the count.
    assert await open_jobs.current("acme") == 13
    await asyncio.sleep(0)  # the refresh starts, and waits for its count
    open_jobs.opened("acme", 2)  # while the count runs: kept on top of the new reading
    assert await open_jobs.current("acme") == 15
    assert counts.calls == 2  # one refresh at a time
    counts.release.set()
    await asyncio.sleep(0.01)
    assert await open_jobs.current("other") == 20
    assert await open_jobs.current("acme") == 22


@pytest.mark.anyio
async def test_a_failed_refresh_keeps_the_last_count() -> None:
    counts = Counts()
    open_jobs = OpenJobs(counts, max_age_s=0)
    assert await open_jobs.current("acme") == 10
    counts.failing = True
    assert await open_jobs.current("acme") == 10
    await asyncio.sleep(0.01)
    assert await open_jobs.current("acme") == 10


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
