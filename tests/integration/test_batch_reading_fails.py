"""A batch whose reading keeps failing ends: after MAX_READ_ATTEMPTS tasks it records
`batch_unreadable`, the rest of its file is one row error, and it completes; the traceback
goes to the log, never to the batch. Real MongoDB-protocol and S3 servers; the task runs
in-process (Celery's `apply`), its retries with it."""

import asyncio
import io
import logging
import os
import uuid
from collections.abc import Iterator
from typing import Any, cast

import pytest
from redis import Redis

from storage.batch_repository import MAX_READ_ATTEMPTS, Batch, BatchRepository, BatchSource
from storage.batch_rows import RowFormat
from storage.errors import ErrorCode
from storage.job_repository import JobRepository, create_mongo_client
from storage.objects import ObjectStore
from storage.settings import MongoSettings, ObjectStoreSettings
from storage.webhook_repository import WebhookRepository
from worker import batch_tasks
from worker.inference import DetectorClient
from worker.runtime import Runtime
from worker.settings import RetrySettings, Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def runtime(
    mongo_server: Any, s3_server: Any, redis_server: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Runtime]:
    mongo = MongoSettings(url=mongo_server.url, database=f"reading_{uuid.uuid4().hex[:8]}")
    store = ObjectStoreSettings(endpoint=s3_server.endpoint, bucket="reading")
    settings = Settings(mongo=mongo, object_store=store, retry=RetrySettings(backoff_base_s=0))
    client = create_mongo_client(mongo)
    database = client[mongo.database]
    objects = ObjectStore(store)
    objects.ensure_bucket()
    runtime = Runtime(
        settings=settings,
        loop=asyncio.new_event_loop(),
        mongo=client,
        jobs=JobRepository(database),
        webhooks=WebhookRepository(database),
        batches=BatchRepository(database),
        objects=objects,
        detector=cast(DetectorClient, None),  # reading a batch never infers
        redis=Redis.from_url(redis_server.url),
        pid=os.getpid(),
    )
    monkeypatch.setattr(batch_tasks, "get_runtime", lambda _: runtime)
    yield runtime
    runtime.run(client.close())
    runtime.loop.close()


def _batch(runtime: Runtime, content: bytes | None) -> Batch:
    key = f"batches/acme/{uuid.uuid4().hex}"
    if content is not None:
        key = runtime.objects.put_batch_file("acme", key[-32:], io.BytesIO(content), len(content))
    source = BatchSource(
        object_key=key,
        row_format=RowFormat.CSV.value,
        row_limit=100,
        max_items=100,
        max_url_length=2048,
        max_metadata_bytes=1024,
    )
    batch = Batch(tenant_id="acme", source=source)
    runtime.run(runtime.batches.insert(batch))
    return batch


def _ended(runtime: Runtime, batch: Batch) -> Batch:
    stored = runtime.run(runtime.batches.get(batch.id))
    assert stored is not None
    assert stored.sealed
    assert stored.completed_at is not None
    assert stored.error is not None
    assert stored.error.code is ErrorCode.BATCH_UNREADABLE
    return stored


def test_a_batch_whose_file_is_gone_ends_unreadable(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    batch = _batch(runtime, None)
    with caplog.at_level(logging.ERROR, logger="worker.batch_tasks"):
        batch_tasks.expand_batch.apply(args=[batch.id])
    stored = _ended(runtime, batch)
    assert stored.read_attempts == MAX_READ_ATTEMPTS
    assert [(e.row, e.code) for e in stored.row_errors] == [(1, ErrorCode.BATCH_UNREADABLE)]
    assert "NoSuchKey" not in stored.row_errors[0].message
    assert any(record.exc_info for record in caplog.records)
    # A later resume finds nothing to read: the batch is sealed.
    assert runtime.run(runtime.batches.stalled(stored.updated_at, limit=10)) == []


def test_a_parser_defect_ends_the_batch_after_the_bound(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = _batch(runtime, b"image_url\nhttps://e.com/a.jpg\n")
    calls = 0

    def broken(*_: object) -> Iterator[object]:
        nonlocal calls
        calls += 1
        raise RecursionError("a defect nobody foresaw")

    monkeypatch.setattr(batch_tasks, "remaining_rows", broken)
    batch_tasks.expand_batch.apply(args=[batch.id])
    assert calls == MAX_READ_ATTEMPTS
    stored = _ended(runtime, batch)
    assert stored.error is not None
    assert "defect" not in stored.error.message
    assert stored.total == 0
