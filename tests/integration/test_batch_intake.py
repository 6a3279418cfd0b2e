"""Reading a batch is resumable: a chunk taken twice creates and counts nothing twice."""

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from storage.batch_intake import Taken, batch_job_id, take_chunk
from storage.batch_repository import Batch, BatchRepository, BatchSource, RowError
from storage.batch_rows import Row
from storage.errors import ErrorCode
from storage.job_repository import JobRepository, create_mongo_client
from storage.jobs import utcnow
from storage.settings import MongoSettings

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def stores(mongo_server: Any) -> AsyncIterator[tuple[JobRepository, BatchRepository]]:
    client = create_mongo_client(MongoSettings(url=mongo_server.url))
    database = client[f"intake_{uuid.uuid4().hex[:8]}"]
    yield JobRepository(database), BatchRepository(database)
    await client.close()


async def test_a_chunk_taken_twice_is_counted_once(
    stores: tuple[JobRepository, BatchRepository],
) -> None:
    jobs, batches = stores
    source = BatchSource(
        object_key="k",
        row_format="csv",
        row_limit=10,
        max_items=10,
        max_url_length=2048,
        max_metadata_bytes=1024,
    )
    batch = Batch(tenant_id="acme", source=source)
    await batches.insert(batch)
    chunk: list[Row | RowError] = [
        Row(number=2, image_url="https://e.com/a.jpg", external_id="a", metadata={}),
        RowError(row=3, code=ErrorCode.INVALID_URL, message="bad"),
        Row(number=4, image_url="https://e.com/b.jpg", external_id="b", metadata={}),
    ]
    enqueued: list[str] = []

    async def enqueue(job_ids: list[str]) -> None:
        enqueued.extend(job_ids)

    assert await take_chunk(batch, chunk, 0, jobs, batches, enqueue) is Taken.COUNTED
    # A second reader (a redelivered task) takes the same rows: nothing new is counted.
    assert await take_chunk(batch, chunk, 0, jobs, batches, enqueue) is Taken.BY_ANOTHER
    stored = await batches.get(batch.id)
    assert stored is not None
    assert (stored.rows_read, stored.total, stored.invalid_rows) == (3, 2, 1)
    counts = await jobs.count_batch_by_status(batch.id)
    assert sum(counts.values()) == 2
    first = await jobs.get(batch_job_id(batch.id, 2))
    assert first is not None
    assert (first.tenant_id, first.external_id) == ("acme", "a")
    # Only the reader that counted the rows enqueues their jobs.
    assert enqueued == [batch_job_id(batch.id, 2), batch_job_id(batch.id, 4)]


async def test_a_batch_whose_reading_stopped_is_found(
    stores: tuple[JobRepository, BatchRepository],
) -> None:
    _, batches = stores
    now = utcnow()
    stuck = Batch(updated_at=now - timedelta(minutes=20))
    moving = Batch(updated_at=now)
    done = Batch(updated_at=now - timedelta(minutes=20), sealed=True)
    for batch in (stuck, moving, done):
        await batches.insert(batch)
    assert await batches.stalled(now - timedelta(minutes=10), limit=10) == [stuck.id]
