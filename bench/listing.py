"""`python -m bench.listing`: how long a page of `GET /v1/jobs` takes at 10,000 and 100,000
jobs of one tenant (beside another tenant's), first and deep pages, with each filter.

Measures the repository call the route makes (storage.job_listing), against the MongoDB
server given (`--mongo-url`) or a local SecantusDB of its own. A page that stays as fast at
100,000 jobs as at 10,000 is answered from an index, not a scan.
"""

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

from devstack.servers import MongoServer
from storage.job_listing import JobFilter, encode_cursor, listing_plan
from storage.job_repository import JobRepository
from storage.jobs import Job, JobResult, JobStatus, SourceKind, Verdict
from storage.review_labels import Agreement, ReviewLabel, ReviewSummary

TENANT = "bench-listing"
_REPEATS = 5
_START = datetime(2026, 1, 1, tzinfo=UTC)


def _job(index: int, tenant: str) -> Job:
    verdict = (Verdict.FAKE, Verdict.REAL, Verdict.UNCERTAIN)[index % 3]
    created = _START + timedelta(seconds=index)
    review = None
    if index % 10 == 0:
        review = ReviewSummary(
            label=ReviewLabel.FAKE,
            face=None,
            agreement=Agreement.AGREE,
            reviewer="key",
            created_at=created,
        )
    return Job(
        tenant_id=tenant,
        status=JobStatus.SUCCEEDED,
        source=SourceKind.UPLOAD,
        metadata={"post": f"p{index}"},
        batch_id=f"bat_{index // 1000}",
        external_id=f"e{index}",
        created_at=created,
        updated_at=created,
        result=JobResult(fake_probability=0.5, verdict=verdict, model_name="m", model_version="1"),
        review=review,
    )


async def _fill(jobs: JobRepository, start: int, stop: int, tenant: str) -> None:
    for chunk in range(start, stop, 5000):
        await jobs.insert_many([_job(i, tenant) for i in range(chunk, min(chunk + 5000, stop))])


async def _page_ms(jobs: JobRepository, job_filter: JobFilter, cursor: str | None) -> float:
    timings = []
    for _ in range(_REPEATS):
        started = time.perf_counter()
        page, _ = await jobs.page(TENANT, job_filter, limit=50, cursor=cursor)
        timings.append((time.perf_counter() - started) * 1000)
        assert page, "an empty page measures nothing"
    return round(statistics.median(timings), 2)


_FILTERS = {
    "newest": JobFilter(),
    "verdict=fake": JobFilter(verdict=Verdict.FAKE),
    "reviewed=false": JobFilter(reviewed=False),
    "reviewed=true": JobFilter(reviewed=True),
    "batch_id": JobFilter(batch_id="bat_1"),
    "external_id": JobFilter(external_id="e1234"),
}


async def _figures(jobs: JobRepository, size: int) -> dict[str, float]:
    figures = {
        f"{name} (first page)": await _page_ms(jobs, f, None) for name, f in _FILTERS.items()
    }
    # Halfway down the listing: the cursor of the job created at the middle.
    middle = _START + timedelta(seconds=size // 2)
    cursor = encode_cursor(middle, "~")
    figures["newest (page at the middle)"] = await _page_ms(jobs, JobFilter(), cursor)
    return figures


async def measure(mongo_url: str, sizes: tuple[int, ...]) -> dict[str, Any]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, tz_aware=True)
    database = client[f"bench_listing_{int(time.time())}"]
    jobs = JobRepository(database)
    await jobs.ensure_indexes()
    # Another tenant's jobs share the collection: they must not cost this tenant anything.
    await _fill(jobs, 0, 10_000, "bench-other")
    results: dict[str, Any] = {}
    filled = 0
    for size in sizes:
        started = time.perf_counter()
        await _fill(jobs, filled, size, TENANT)
        filled = size
        results[str(size)] = {
            "insert_s": round(time.perf_counter() - started, 1),
            "page_ms": await _figures(jobs, size),
        }
    # The index each page walks, and whether the server sorts after it (MongoDB does not).
    results["plans"] = {
        name: dict(
            zip(
                ("index", "sorts_in_memory"),
                await listing_plan(database["jobs"], TENANT, f),
                strict=True,
            )
        )
        for name, f in _FILTERS.items()
    }
    await client.drop_database(database.name)
    await client.close()
    return results


def on_own_server(data_dir: Path, sizes: tuple[int, ...]) -> dict[str, Any]:
    """`measure` on a local SecantusDB of its own, started and stopped here."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=data_dir) as data, MongoServer(Path(data)) as server:
        return asyncio.run(measure(server.url, sizes))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.listing", description=__doc__)
    parser.add_argument("--mongo-url", help="a MongoDB server (default: a local SecantusDB)")
    parser.add_argument("--sizes", default="10000,100000")
    args = parser.parse_args()
    sizes = tuple(int(size) for size in args.sizes.split(","))
    if args.mongo_url:
        results = asyncio.run(measure(args.mongo_url, sizes))
    else:
        with tempfile.TemporaryDirectory() as data:
            results = on_own_server(Path(data), sizes)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
