"""Prometheus metrics of the gateway: HTTP traffic, jobs by status, queue depths.

Traffic is counted by a middleware as it passes. Jobs and queues are read from MongoDB and
Redis when Prometheus scrapes, concurrently and each within a timeout: a store that is
down or slow leaves its samples out (and says so in `deepfake_gateway_scrape_source_up`)
instead of failing the scrape.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.settings import MetricsSettings
from storage.job_repository import JobRepository
from storage.jobs import Queue

logger = logging.getLogger(__name__)
T = TypeVar("T")

HTTP_REQUESTS = "deepfake_gateway_http_requests"
HTTP_DURATION = "deepfake_gateway_http_request_duration_seconds"
JOBS = "deepfake_jobs"
QUEUE_MESSAGES = "deepfake_queue_messages"
UNACKED_MESSAGES = "deepfake_queue_unacked_messages"
SOURCE_UP = "deepfake_gateway_scrape_source_up"

# Requests that match no route share one label: raw paths would grow without bound.
UNMATCHED_ROUTE = "unmatched"

# Kombu's Redis transport keeps a queue's messages of priority p > 0 under
# "<queue>\x06\x16<p>" (its `sep` and default `priority_steps`), and messages delivered
# but not yet acknowledged in the hash "unacked".
_PRIORITY_SEPARATOR = "\x06\x16"
_PRIORITY_STEPS = (0, 3, 6, 9)
_UNACKED_KEY = "unacked"


def route_template(scope: Scope, routes: Sequence[BaseRoute]) -> str:
    """The path template of the route that handles `scope` (`/v1/jobs/{job_id}`)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    # Not routed: refused by a middleware before routing (413), or no route at all (404,
    # 405). Match it here, so a refused upload still counts against its route.
    partial = None
    for candidate in routes:
        match, _ = candidate.matches(scope)
        template = getattr(candidate, "path", None)
        if match is Match.FULL and isinstance(template, str):
            return template
        if match is Match.PARTIAL and partial is None and isinstance(template, str):
            partial = template
    return partial or UNMATCHED_ROUTE


def queue_keys(queue: Queue) -> list[str]:
    """The Redis lists that hold `queue`'s waiting messages, one per priority step."""
    return [
        queue.value if step == 0 else f"{queue.value}{_PRIORITY_SEPARATOR}{step}"
        for step in _PRIORITY_STEPS
    ]


async def queue_depths(redis: aioredis.Redis) -> tuple[dict[str, int], int]:
    """Messages waiting in each queue, and messages held by workers, in one round trip."""
    async with redis.pipeline(transaction=False) as pipe:
        for queue in Queue:
            for key in queue_keys(queue):
                pipe.llen(key)
        pipe.hlen(_UNACKED_KEY)
        replies = await pipe.execute()
    steps = len(_PRIORITY_STEPS)
    depths = {
        queue.value: sum(int(n) for n in replies[i * steps : (i + 1) * steps])
        for i, queue in enumerate(Queue)
    }
    return depths, int(replies[-1])


@dataclass(frozen=True)
class StoreState:
    """What one scrape read from the stores; None where a store did not answer in time."""

    jobs: dict[str, int] | None
    queues: dict[str, int] | None
    unacked: int | None


def state_families(state: StoreState) -> list[Metric]:
    jobs = GaugeMetricFamily(JOBS, "Jobs by status, counted in MongoDB.", labels=["status"])
    queues = GaugeMetricFamily(
        QUEUE_MESSAGES, "Messages waiting in each Celery queue.", labels=["queue"]
    )
    unacked = GaugeMetricFamily(
        UNACKED_MESSAGES,
        "Messages delivered to workers and not yet acknowledged: running, or waiting for a "
        "retry countdown.",
    )
    up = GaugeMetricFamily(
        SOURCE_UP, "Whether the store answered this scrape in time.", labels=["source"]
    )
    for status, count in (state.jobs or {}).items():
        jobs.add_metric([status], count)
    for queue, depth in (state.queues or {}).items():
        queues.add_metric([queue], depth)
    if state.unacked is not None:
        unacked.add_metric([], state.unacked)
    up.add_metric(["mongodb"], 0 if state.jobs is None else 1)
    up.add_metric(["redis"], 0 if state.queues is None else 1)
    return [jobs, queues, unacked, up]


class _Families(Collector):
    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self._families


class _Joined(Collector):
    def __init__(self, *collectors: Collector) -> None:
        self._collectors = collectors

    def collect(self) -> Iterator[Metric]:
        for collector in self._collectors:
            yield from collector.collect()


async def _within(awaitable: Awaitable[T], timeout_s: float, source: str) -> T | None:
    try:
        return await asyncio.wait_for(awaitable, timeout_s)
    except Exception as error:
        logger.warning("metrics: %s left out of this scrape: %r", source, error)
        return None


class GatewayMetrics:
    """This gateway's registry; `render` reads the stores, then writes the text format."""

    def __init__(self, settings: MetricsSettings) -> None:
        self.settings = settings
        self.registry = CollectorRegistry()
        self.requests = Counter(
            HTTP_REQUESTS,
            "HTTP requests by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            HTTP_DURATION,
            "Time from a request's arrival to the end of its response.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self._job_counts: tuple[float, dict[str, int]] | None = None

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.duration.labels(method, route, str(status)).observe(seconds)

    async def _count_jobs(self, jobs: JobRepository) -> dict[str, int]:
        now = time.monotonic()
        if self._job_counts is not None and now - self._job_counts[0] < self.settings.jobs_cache_s:
            return self._job_counts[1]
        counts = await jobs.count_by_status(max_time_ms=int(self.settings.timeout_s * 1000))
        self._job_counts = (now, counts)
        return counts

    async def read_state(self, jobs: JobRepository, redis: aioredis.Redis) -> StoreState:
        timeout = self.settings.timeout_s
        counts, depths = await asyncio.gather(
            _within(self._count_jobs(jobs), timeout, "mongodb"),
            _within(queue_depths(redis), timeout, "redis"),
        )
        queues, unacked = (None, None) if depths is None else depths
        return StoreState(jobs=counts, queues=queues, unacked=unacked)

    async def render(self, jobs: JobRepository, redis: aioredis.Redis) -> bytes:
        state = await self.read_state(jobs, redis)
        return generate_latest(_Joined(self.registry, _Families(state_families(state))))


class MetricsMiddleware:
    """Counts and times every HTTP request by route template and status code."""

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers when the app raises before responding

        async def send_and_record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_record_status)
        finally:
            self.metrics.observe(
                scope["method"],
                route_template(scope, self.routes),
                status,
                time.perf_counter() - started,
            )
