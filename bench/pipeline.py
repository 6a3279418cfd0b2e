"""The pipeline end to end through the gateway: throughput and where each job's time went.

Per-stage times come from what each job records: `timestamps` (when it entered each
status) and `durations_ms` (the worker's timed stages), read from MongoDB when the
benchmark knows where it is, else only the timestamps the API returns.
"""

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pymongo

from bench.images import ImageSet
from bench.load import MODE, Sent, job_request, send_all, wait_for_jobs, wait_for_last
from bench.processes import cpu_account
from bench.stats import percentiles_ms, rate
from storage.settings import MongoSettings

STAGES = ("queue_wait", "fetch", "store", "load", "decode", "inference", "write", "total")


def job_documents(
    mongo_url: str | None, api_jobs: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """The stored jobs (with `durations_ms`), or the API's view of them without a MongoDB URL."""
    if mongo_url is None:
        return list(api_jobs.values())
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(mongo_url, tz_aware=True)
    try:
        jobs = client[MongoSettings().database]["jobs"]
        ids = list(api_jobs)
        documents: list[dict[str, Any]] = []
        for start in range(0, len(ids), 500):
            documents += jobs.find({"_id": {"$in": ids[start : start + 500]}})
        return documents
    finally:
        client.close()


def _ended_ids(mongo_url: str, ids: list[str]) -> set[str]:
    """Which of these jobs have ended, read from MongoDB (not counted as the pipeline's)."""
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(mongo_url)
    try:
        jobs = client[MongoSettings().database]["jobs"]
        ended: set[str] = set()
        for start in range(0, len(ids), 500):
            query = {"_id": {"$in": ids[start : start + 500]}, "status": {"$in": list(_ENDED)}}
            ended.update(str(doc["_id"]) for doc in jobs.find(query, {"_id": 1}))
        return ended
    finally:
        client.close()


def mongo_ops(mongo_url: str | None) -> dict[str, int]:
    """MongoDB's operation counters (`serverStatus.opcounters`) so far; empty without a URL."""
    if mongo_url is None:
        return {}
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(mongo_url)
    try:
        counters: dict[str, int] = client.admin.command("serverStatus").get("opcounters", {})
        return counters
    finally:
        client.close()


def _seconds(value: Any) -> float:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def stage_seconds(job: dict[str, Any]) -> dict[str, float]:
    """One finished job's time per stage, in seconds (stages it did not go through left out).

    `timestamps.succeeded` is taken as the result write starts, and an upload's
    `timestamps.inferring` by a conditional update as its inference task starts, so:
    an upload waits `inferring - queued` (queue and the job's read) and its `write` (one
    status update) is what `succeeded - inferring` leaves besides the timed stages. A URL
    job waits in two queues: `fetching - queued`, then what `succeeded - inferring` leaves;
    `store` is its fetch task's time besides the download (check, object store, update).
    """
    stamps = {status: _seconds(value) for status, value in job.get("timestamps", {}).items()}
    durations = {stage: ms / 1000 for stage, ms in job.get("durations_ms", {}).items()}
    timed = ("fetch", "load", "decode", "inference")
    stages = {name: durations[name] for name in timed if name in durations}
    if "succeeded" not in stamps or "inferring" not in stamps:
        return stages
    if "store" in durations:
        # A micro-batch: judging started at `inferring` (fetch included), and what its
        # timed stages leave is the bulk write and waiting on the rest of the micro-batch.
        timed_all = ("fetch", "store", "load", "decode", "inference")
        stages.update({name: durations[name] for name in timed_all if name in durations})
        judged = stamps["succeeded"] - stamps["inferring"]
        stages["queue_wait"] = stamps["inferring"] - stamps["queued"]
        stages["write"] = max(0.0, judged - sum(stages.get(n, 0.0) for n in timed_all))
        stages["total"] = stamps["succeeded"] - stamps["queued"]
        return stages
    inferring_task = stamps["succeeded"] - stamps["inferring"]
    leftover = max(0.0, inferring_task - sum(stages.get(n, 0.0) for n in timed[1:]))
    if "fetching" in stamps:
        stages["queue_wait"] = stamps["fetching"] - stamps["queued"] + leftover
        stages["store"] = max(
            0.0, stamps["inferring"] - stamps["fetching"] - stages.get("fetch", 0)
        )
    else:
        stages["queue_wait"] = stamps["inferring"] - stamps["queued"]
        stages["write"] = leftover
    stages["total"] = stamps["succeeded"] - stamps["queued"]
    return stages


def summarize(sent: list[Sent], documents: list[dict[str, Any]]) -> dict[str, Any]:
    succeeded = [doc for doc in documents if doc.get("status") == "succeeded"]
    first = min(s.started_at for s in sent)
    last = max((_seconds(doc["timestamps"]["succeeded"]) for doc in succeeded), default=first)
    per_job = [stage_seconds(doc) for doc in succeeded]
    return {
        "jobs": len(sent),
        # From the first submit to the last result.
        "makespan_s": round(last - first, 3),
        "submit_errors": sum(1 for s in sent if s.status != 202),
        "succeeded": len(succeeded),
        "failed": sum(1 for doc in documents if doc.get("status") == "failed"),
        "images_per_s": rate(len(succeeded), last - first),
        "submit_ms": percentiles_ms([s.latency_s for s in sent if s.status == 202]),
        "stages_ms": {
            stage: percentiles_ms([job[stage] for job in per_job if stage in job])
            for stage in STAGES
        },
    }


async def run_jobs(
    client: httpx.AsyncClient,
    images: ImageSet,
    image_base_url: str,
    mongo_url: str | None,
    count: int,
    *,
    rate_per_s: float | None,
    concurrency: int = 64,
    uploads_only: bool = False,
    pids: dict[str, int] | None = None,
) -> dict[str, Any]:
    """`count` jobs at a fixed arrival rate (or all at once), waited for, summarized."""
    request = job_request(client, images, image_base_url, count, uploads_only=uploads_only)
    cpu: dict[str, Any] = {}
    ops_before = await asyncio.to_thread(mongo_ops, mongo_url)
    with cpu_account(pids or {}, cpu, count):
        sent = await send_all(request, count, concurrency=concurrency, rate_per_s=rate_per_s)
        ids = [s.body["id"] for s in sent if s.status == 202]
        reads: list[int] = []
        timeout_s = max(300.0, count)
        if mongo_url is not None and ids:
            # The last job's end, then every job from the database: the API is read only for
            # the stragglers (jobs end roughly in the order they were sent).
            await wait_for_last(client, ids, timeout_s=timeout_s, reads=reads)
            ended = await asyncio.to_thread(_ended_ids, mongo_url, ids)
            reads.append(-(-len(ids) // 500))  # its queries
            stragglers = [job_id for job_id in ids if job_id not in ended]
            await wait_for_jobs(client, stragglers, timeout_s=timeout_s, reads=reads)
            api_jobs: dict[str, dict[str, Any]] = {job_id: {} for job_id in ids}
        else:
            api_jobs = await wait_for_jobs(client, ids, timeout_s=timeout_s, reads=reads)
    ops_after = await asyncio.to_thread(mongo_ops, mongo_url)
    documents = await asyncio.to_thread(job_documents, mongo_url, api_jobs)
    summary = summarize(sent, documents)
    summary.update(cpu)
    if ops_after:
        # Every database operation per job, the benchmark's own polling (one read) included.
        summary["mongo_ops_per_job"] = ops = _ops_per_job(ops_before, ops_after, count)
        # Less the reads that answered the benchmark's own polling.
        summary["mongo_ops_per_job_pipeline"] = round(sum(ops.values()) - sum(reads) / count, 2)
    summary["arrival"] = (
        f"{rate_per_s:g}/s" if rate_per_s else f"all at once ({concurrency} in flight)"
    )
    return summary


async def closed_loop(
    client: httpx.AsyncClient,
    images: ImageSet,
    mongo_url: str | None,
    *,
    clients: int,
    count: int,
    pids: dict[str, int] | None = None,
) -> dict[str, Any]:
    """`clients` users, each uploading an image and waiting for its result before sending
    the next, as the client library does (a long-poll, `GET /v1/jobs/{id}?wait=`)."""
    indexes = iter(images.take(count))
    latencies: list[float] = []
    failed = 0

    async def user() -> None:
        nonlocal failed
        for index in indexes:
            begin = time.perf_counter()
            files = {"file": (f"{index}.jpg", images.content(index), "image/jpeg")}
            submitted = await client.post("/v1/jobs", files=files, data={"mode": MODE})
            if submitted.status_code != 202:
                failed += 1
                continue
            job_id = submitted.json()["id"]
            while True:
                polled = await client.get(f"/v1/jobs/{job_id}", params={"wait": 30})
                if polled.status_code == 200 and polled.json()["status"] in _ENDED:
                    break
            latencies.append(time.perf_counter() - begin)

    cpu: dict[str, Any] = {}
    ops_before = await asyncio.to_thread(mongo_ops, mongo_url)
    with cpu_account(pids or {}, cpu, count):
        started = time.perf_counter()
        await asyncio.gather(*(user() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    ops_after = await asyncio.to_thread(mongo_ops, mongo_url)
    return {
        "clients": clients,
        "jobs": count,
        "failed": failed,
        "images_per_s": rate(len(latencies), elapsed),
        "result_ms": percentiles_ms(latencies),
        "mongo_ops_per_job": _ops_per_job(ops_before, ops_after, count),
        **cpu,
    }


_ENDED = ("succeeded", "failed")


def _ops_per_job(before: dict[str, int], after: dict[str, int], count: int) -> dict[str, float]:
    if not after:
        return {}
    return {
        name: round((after[name] - before.get(name, 0)) / count, 2)
        for name in ("insert", "query", "update", "delete", "getmore", "command")
    }
