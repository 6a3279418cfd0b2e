"""A reader racing a cancel or a delete stops in the update that would count its chunk,
leaving no job behind; a cancel leaves the `job.failed` events pending; a batch whose
reading failed ends with `batch_unreadable`."""

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from storage.batch_intake import Taken, batch_job_id, take_chunk
from storage.batch_repository import Batch, BatchRepository, BatchSource, RowError, cancel_queued
from storage.batch_rows import Row
from storage.errors import ErrorCode
from storage.job_repository import JobRepository, create_mongo_client
from storage.jobs import JobStatus
from storage.settings import MongoSettings

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

Stores = tuple[JobRepository, BatchRepository]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def stores(mongo_server: Any) -> AsyncIterator[Stores]:
    client = create_mongo_client(MongoSettings(url=mongo_server.url))
    database = client[f"races_{uuid.uuid4().hex[:8]}"]
    yield JobRepository(database), BatchRepository(database)
    await client.close()


async def _batch(batches: BatchRepository) -> Batch:
    source = BatchSource(
        object_key="k",
        row_format="csv",
        row_limit=100,
        max_items=100,
        max_url_length=2048,
        max_metadata_bytes=1024,
    )
    batch = Batch(tenant_id="acme", source=source)
    await batches.insert(batch)
    return batch


def _rows(lines: range) -> list[Row | RowError]:
    return [Row(n, f"https://e.com/{n}.jpg", None, {}) for n in lines]


async def _nothing(job_ids: list[str]) -> None:
    raise AssertionError(f"enqueued {job_ids}")


@pytest.mark.parametrize("race", ["cancelled", "deleted"])
async def test_a_reader_that_loses_to_a_cancel_or_delete_leaves_no_job(
    stores: Stores, race: str
) -> None:
    jobs, batches = stores
    batch = await _batch(batches)
    if race == "cancelled":
        await batches.mark_cancelled(batch.id)
    else:
        await batches.delete(batch.id)
    taken = await take_chunk(batch, _rows(range(2, 5)), 0, jobs, batches, _nothing)
    assert taken is Taken.STOPPED
    assert all([await jobs.get(batch_job_id(batch.id, n)) is None for n in range(2, 5)])
    stored = await batches.get(batch.id)
    assert stored is None or (stored.rows_read, stored.total) == (0, 0)


async def test_a_cancel_fails_queued_jobs_with_their_events_pending(stores: Stores) -> None:
    jobs, batches = stores
    batch = await _batch(batches)
    enqueued: list[str] = []

    async def enqueue(job_ids: list[str]) -> None:
        enqueued.extend(job_ids)

    assert await take_chunk(batch, _rows(range(2, 6)), 0, jobs, batches, enqueue) is Taken.COUNTED
    running = enqueued[0]
    assert await jobs.start_fetching(running)
    assert await cancel_queued(batch.id, jobs) == 3
    pending = await jobs.pending_failures_of_batch(batch.id, ErrorCode.CANCELLED.value, 2)
    assert len(pending) == 2
    everything = await jobs.pending_failures_of_batch(batch.id, ErrorCode.CANCELLED.value, 10)
    assert sorted(everything) == sorted(enqueued[1:])
    job = await jobs.get(everything[0])
    assert job is not None
    assert (job.status, job.event_pending) == (JobStatus.FAILED, True)
    # The cancel adds no finished marks: each job is counted once, when its event goes out.
    stored = await batches.get(batch.id)
    assert stored is not None
    assert (stored.finished_marks, stored.total) == (0, 4)


async def test_reading_given_up_is_one_row_error_after_the_last_line_read(
    stores: Stores,
) -> None:
    jobs, batches = stores
    batch = await _batch(batches)
    assert await take_chunk(batch, _rows(range(2, 9)), 0, jobs, batches, _ignore) is Taken.COUNTED
    await batches.start_reading(batch.id)
    await batches.start_reading(batch.id)
    stored = await batches.get(batch.id)
    assert stored is not None
    assert stored.read_attempts == 2
    assert await batches.give_up_reading(batch.id, "the rest could not be read")
    assert not await batches.give_up_reading(batch.id, "again")
    stored = await batches.get(batch.id)
    assert stored is not None
    assert stored.error is not None
    assert stored.error.code is ErrorCode.BATCH_UNREADABLE
    assert (stored.total, stored.invalid_rows) == (7, 1)
    assert [(e.row, e.code) for e in stored.row_errors] == [(9, ErrorCode.BATCH_UNREADABLE)]


async def _ignore(job_ids: list[str]) -> None:
    return None
