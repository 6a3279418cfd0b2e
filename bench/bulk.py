"""A 10,000-row CSV batch: memory of the gateway and the worker while it drains, and how
long interactive jobs take meanwhile (they run ahead of the bulk queues) against idle."""

import asyncio
import time
from typing import Any

import httpx

from bench.images import ImageSet
from bench.load import MODE, job_request, send_all, wait_for_jobs
from bench.pipeline import _seconds
from bench.processes import memory_sampler, memory_summary
from bench.stats import percentiles_ms, rate


def batch_csv(images: ImageSet, image_base_url: str, rows: int, first: int) -> bytes:
    lines = ["external_id,image_url"]
    lines += [f"row{i},{images.url(image_base_url, first + i)}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


async def interactive_latency(
    client: httpx.AsyncClient, images: ImageSet, count: int, rate_per_s: float
) -> dict[str, Any]:
    """Upload jobs at a fixed rate: their submit latency and submit-to-result latency."""
    sent = await send_all(
        job_request(client, images, "", count, uploads_only=True),
        count,
        concurrency=16,
        rate_per_s=rate_per_s,
    )
    ok = [s for s in sent if s.status == 202]
    jobs = await wait_for_jobs(client, [s.body["id"] for s in ok], timeout_s=600)
    end_to_end = [
        _seconds(jobs[s.body["id"]]["timestamps"]["succeeded"]) - s.started_at
        for s in ok
        if jobs[s.body["id"]]["status"] == "succeeded"
    ]
    return {
        "jobs": count,
        "rate_per_s": rate_per_s,
        "submit_ms": percentiles_ms([s.latency_s for s in ok]),
        "end_to_end_ms": percentiles_ms(end_to_end),
    }


async def _wait_for_batch(
    client: httpx.AsyncClient, batch_id: str, timeout_s: float
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        batch: dict[str, Any] = (await client.get(f"/v1/batches/{batch_id}")).json()
        if batch["completed_at"] is not None or time.monotonic() > deadline:
            return batch
        await asyncio.sleep(2)


async def drain(
    client: httpx.AsyncClient,
    images: ImageSet,
    image_base_url: str,
    rows: int,
    pids: dict[str, int],
    *,
    interactive_jobs: int,
    interactive_rate: float,
) -> dict[str, Any]:
    idle = await interactive_latency(
        client, images, max(10, interactive_jobs // 3), interactive_rate
    )
    csv = batch_csv(images, image_base_url, rows, images.take(rows).start)
    with memory_sampler(pids) as samples:
        submitted = time.perf_counter()
        response = await client.post(
            "/v1/batches", files={"file": ("batch.csv", csv, "text/csv")}, data={"mode": MODE}
        )
        response.raise_for_status()
        batch_submit_s = time.perf_counter() - submitted
        batch_id = response.json()["id"]
        await asyncio.sleep(2)  # the workers are busy with the batch from here on
        busy = await interactive_latency(client, images, interactive_jobs, interactive_rate)
        batch = await _wait_for_batch(client, batch_id, timeout_s=max(600.0, rows / 5))
    drained_s = (
        _seconds(batch["completed_at"]) - _seconds(batch["created_at"])
        if batch["completed_at"]
        else None
    )
    return {
        "rows": rows,
        "batch_submit_s": round(batch_submit_s, 2),
        "counts": batch["counts"],
        "drain_s": round(drained_s, 1) if drained_s else None,
        # Succeeded jobs only: a cancelled batch completes with the rest failed.
        "images_per_s": rate(batch["counts"].get("succeeded", 0), drained_s) if drained_s else None,
        "interactive_idle": idle,
        "interactive_during_drain": busy,
        "memory_mb": memory_summary(samples, list(pids)),
        "memory_samples": samples,
    }
