"""How many jobs each tenant has queued or running, for the open-jobs limit, without a count
query on every submission.

The count is read from MongoDB at most every `max_age_s` per tenant, in the background
once a value exists (the request that finds it stale does not wait), and the jobs this
gateway opened since are added on top. The limit is a safety valve, so a few seconds of
staleness, and other replicas' jobs since the last count, are acceptable.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass
class _Reading:
    count: int
    at: float
    # Jobs this gateway opened since `count` was read.
    added: int = 0
    refreshing: asyncio.Task[None] | None = None


class OpenJobs:
    def __init__(self, count: Callable[[str], Awaitable[int]], max_age_s: float) -> None:
        self._count = count
        self._max_age_s = max_age_s
        self._readings: dict[str, _Reading] = {}

    async def current(self, tenant_id: str) -> int:
        reading = self._readings.get(tenant_id)
        if reading is None:
            reading = self._readings[tenant_id] = _Reading(await self._count(tenant_id), _now())
        elif _now() - reading.at > self._max_age_s and reading.refreshing is None:
            reading.refreshing = asyncio.create_task(self._refresh(tenant_id, reading))
        return reading.count + reading.added

    def opened(self, tenant_id: str, jobs: int) -> None:
        reading = self._readings.get(tenant_id)
        if reading is not None:
            reading.added += jobs

    async def _refresh(self, tenant_id: str, reading: _Reading) -> None:
        started, added_before = _now(), reading.added
        try:
            count = await self._count(tenant_id)
        except Exception:
            logger.warning("open jobs of %s not counted; the last count stays", tenant_id)
            reading.refreshing = None
            return
        # Jobs opened while counting may or may not be in `count`: keep them, erring high.
        self._readings[tenant_id] = _Reading(count, started, reading.added - added_before)


def _now() -> float:
    return time.monotonic()
