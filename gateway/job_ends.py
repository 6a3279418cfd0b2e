"""Long-polling for a job's end (`GET /v1/jobs/{id}?wait=`): one pattern subscription per
gateway process wakes every request waiting on a job the workers announce as ended."""

import asyncio
import contextlib
import logging
from collections.abc import Iterator

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from storage.job_ends import CHANNEL_PATTERN, job_id_of

logger = logging.getLogger(__name__)


class JobEndWatcher:
    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}
        self._listener: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._listener = asyncio.create_task(self._listen())

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener

    @contextlib.contextmanager
    def watching(self, job_id: str) -> Iterator[asyncio.Future[None]]:
        """A future set when `job_id` is announced as ended. Register before reading the job,
        so an end between the read and the wait is not missed."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters = self._waiters.setdefault(job_id, set())
        waiters.add(future)
        try:
            yield future
        finally:
            waiters.discard(future)
            if not waiters:
                self._waiters.pop(job_id, None)

    async def _listen(self) -> None:
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.psubscribe(CHANNEL_PATTERN)
                    async for message in pubsub.listen():
                        if message.get("type") == "pmessage":
                            self._wake(job_id_of(message["channel"]))
            except (RedisError, OSError) as error:
                # Waiters fall back to reading MongoDB meanwhile.
                logger.warning("job end announcements unavailable: %s", error)
                await asyncio.sleep(1.0)

    def _wake(self, job_id: str) -> None:
        for future in self._waiters.get(job_id, ()):
            if not future.done():
                future.set_result(None)
