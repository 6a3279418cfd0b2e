"""A 10,000-row CSV batch: memory of the gateway and the worker while it drains and while
its results stream out, its `batch.completed` event, and how long interactive jobs take
meanwhile (they run ahead of the bulk queues) against idle."""

import asyncio
import csv
import io
import time
from typing import Any

import httpx

from bench.images import ImageSet
from bench.load import MODE, job_request, send_all, wait_for_jobs
from bench.pipeline import _seconds
from bench.processes import memory_sampler, memory_summary
from bench.receiver import Events, receiving
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


async def _subscribe(client: httpx.AsyncClient, events: Events) -> str | None:
    """An endpoint for `batch.completed` on the local receiver; None where the gateway
    refuses it (a running stack that does not allow loopback callbacks)."""
    body = {"url": events.url, "event_types": ["batch.completed"]}
    response = await client.post("/v1/webhooks", json=body)
    return str(response.json()["id"]) if response.status_code == 201 else None


async def _stream_results(client: httpx.AsyncClient, batch_id: str) -> dict[str, Any]:
    """Read the batch's results as CSV, row by row as they arrive."""
    started = time.perf_counter()
    rows, external_ids = 0, set()
    statuses: dict[str, int] = {}
    async with client.stream("GET", f"/v1/batches/{batch_id}/results?format=csv") as response:
        response.raise_for_status()
        header: list[str] | None = None
        async for line in response.aiter_lines():
            if not line:
                continue
            (values,) = csv.reader(io.StringIO(line))
            if header is None:
                header = values
                continue
            row = dict(zip(header, values, strict=False))
            rows += 1
            external_ids.add(row.get("external_id"))
            status = row.get("status", "")
            statuses[status] = statuses.get(status, 0) + 1
    return {
        "rows": rows,
        "distinct_external_ids": len(external_ids),
        "statuses": statuses,
        "seconds": round(time.perf_counter() - started, 2),
    }


async def _batch_event(events: Events, batch_id: str, timeout_s: float) -> dict[str, Any] | None:
    """The batch's `batch.completed` events once one has arrived: how many, and its counts."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        received = [e for e in events.of_type("batch.completed") if e["data"]["id"] == batch_id]
        if received:
            return {"received": len(received), "counts": received[0]["data"]["counts"]}
        await asyncio.sleep(0.5)
    return None


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
    content = batch_csv(images, image_base_url, rows, images.take(rows).start)
    with receiving() as events, memory_sampler(pids) as samples:
        endpoint_id = await _subscribe(client, events)
        submitted = time.perf_counter()
        response = await client.post(
            "/v1/batches",
            files={"file": ("batch.csv", content, "text/csv")},
            data={"mode": MODE},
        )
        response.raise_for_status()
        batch_submit_s = time.perf_counter() - submitted
        batch_id = response.json()["id"]
        await asyncio.sleep(2)  # the workers are busy with the batch from here on
        busy = await interactive_latency(client, images, interactive_jobs, interactive_rate)
        batch = await _wait_for_batch(client, batch_id, timeout_s=max(600.0, rows / 5))
        streamed = await _stream_results(client, batch_id) if batch["completed_at"] else None
        event = await _batch_event(events, batch_id, 30) if endpoint_id else None
        # One more event would show here as a second delivery: give it a moment.
        await asyncio.sleep(1)
        if event is not None:
            event = await _batch_event(events, batch_id, 1)
        if endpoint_id:
            await client.delete(f"/v1/webhooks/{endpoint_id}")
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
        "results_streamed": streamed,
        "batch_completed_event": event,
        "interactive_idle": idle,
        "interactive_during_drain": busy,
        "memory_mb": memory_summary(samples, list(pids)),
        "memory_samples": samples,
    }
