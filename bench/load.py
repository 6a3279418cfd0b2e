"""Open-loop HTTP load: requests at a fixed arrival rate, or all at once, with a cap on
requests in flight; each request's start (wall clock) and latency are recorded."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from bench.images import ImageSet

MODE = "whole_image"  # one detector call per image: the naive baseline's work


@dataclass(frozen=True)
class Sent:
    index: int
    started_at: float  # time.time()
    latency_s: float
    status: int
    body: dict[str, Any]


async def send_all(
    request: Callable[[int], Awaitable[httpx.Response]],
    count: int,
    *,
    concurrency: int,
    rate_per_s: float | None = None,
) -> list[Sent]:
    """`count` requests; at `rate_per_s` arrivals per second, or as fast as allowed."""
    slots = asyncio.Semaphore(concurrency)
    started = time.perf_counter()

    async def one(index: int) -> Sent:
        if rate_per_s:
            await asyncio.sleep(max(0.0, started + index / rate_per_s - time.perf_counter()))
        async with slots:
            wall, begin = time.time(), time.perf_counter()
            try:
                response = await request(index)
            except httpx.HTTPError as error:
                return Sent(index, wall, time.perf_counter() - begin, 0, {"error": str(error)})
            latency = time.perf_counter() - begin
            body = response.json() if response.content else {}
            return Sent(index, wall, latency, response.status_code, body)

    return await asyncio.gather(*(one(index) for index in range(count)))


def http_client(
    base_url: str, *, connections: int = 64, headers: dict[str, str]
) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=base_url, limits=limits, timeout=120, headers=headers)


def job_request(
    client: httpx.AsyncClient,
    images: ImageSet,
    image_base_url: str,
    count: int,
    *,
    uploads_only: bool = False,
) -> Callable[[int], Awaitable[httpx.Response]]:
    """`count` jobs of fresh images: even ones uploaded, odd ones by URL (unless `uploads_only`)."""
    indexes = images.take(count)

    async def submit(position: int) -> httpx.Response:
        index = indexes[position]
        if uploads_only or position % 2 == 0:
            files = {"file": (f"{index}.jpg", images.content(index), "image/jpeg")}
            return await client.post("/v1/jobs", files=files, data={"mode": MODE})
        body = {"image_url": images.url(image_base_url, index), "mode": MODE}
        return await client.post("/v1/jobs", json=body)

    return submit


async def wait_for_jobs(
    client: httpx.AsyncClient,
    job_ids: list[str],
    *,
    timeout_s: float,
    window: int = 4,
    reads: list[int] | None = None,
) -> dict[str, dict[str, Any]]:
    """Every job's final document. Polls the oldest unfinished jobs only: jobs finish in
    roughly the order they were sent. Each GET is one database read by the gateway,
    counted in `reads` (reads made for the benchmark, not by the pipeline)."""
    pending = list(job_ids)
    done: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout_s
    while pending:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(pending)} jobs unfinished after {timeout_s:.0f}s")
        head = pending[:window]
        responses = await asyncio.gather(*(client.get(f"/v1/jobs/{job_id}") for job_id in head))
        if reads is not None:
            reads.append(len(head))
        finished = {
            job_id: response.json()
            for job_id, response in zip(head, responses, strict=True)
            if response.status_code == 200 and response.json()["status"] in _ENDED
        }
        done.update(finished)
        pending = [job_id for job_id in pending if job_id not in finished]
        if len(finished) < len(head):
            # Every GET is a database read on the cores being measured: keep idle polls rare.
            await asyncio.sleep(0.25)
    return done


async def wait_for_last(
    client: httpx.AsyncClient, job_ids: list[str], *, timeout_s: float, reads: list[int]
) -> None:
    """Until the last job sent has ended, polling it alone (5 reads a second, counted in
    `reads`): what the pipeline does meanwhile is measured with next to nothing of ours."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        response = await client.get(f"/v1/jobs/{job_ids[-1]}")
        reads.append(1)
        if response.status_code != 200 or response.json()["status"] in _ENDED:
            return
        await asyncio.sleep(0.2)


_ENDED = ("succeeded", "failed")
