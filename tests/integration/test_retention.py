"""Deleting for good, against real MongoDB-protocol and S3 servers."""

import io
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from storage.errors import ErrorCode, PermanentError
from storage.job_repository import JobRepository, create_mongo_client
from storage.jobs import ImageRef, Job, SourceKind, utcnow
from storage.objects import ObjectStore
from storage.retention import Purger
from storage.settings import MongoSettings, ObjectStoreSettings
from storage.webhooks import Delivery, DestinationKind, EventType

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def objects(s3_server: Any) -> ObjectStore:
    store = ObjectStore(ObjectStoreSettings(endpoint=s3_server.endpoint, bucket="retention"))
    store.ensure_bucket()
    return store


@pytest.fixture
async def stores(
    mongo_server: Any, objects: ObjectStore
) -> AsyncIterator[tuple[JobRepository, Purger, AsyncDatabase[dict[str, Any]]]]:
    client: AsyncMongoClient[dict[str, Any]] = create_mongo_client(
        MongoSettings(url=mongo_server.url)
    )
    database = client[f"retention_{uuid.uuid4().hex[:8]}"]
    jobs = JobRepository(database)
    await jobs.ensure_indexes()

    async def delete_objects(keys: list[str]) -> None:
        objects.delete_images(keys)

    yield jobs, Purger(database, delete_objects), database
    await client.close()


def _gone(objects: ObjectStore, image: ImageRef) -> bool:
    try:
        objects.get_image(image)
    except PermanentError as error:
        return error.code is ErrorCode.IMAGE_MISSING
    return False


async def _job(jobs: JobRepository, image: ImageRef | None, tenant: str, **fields: Any) -> Job:
    job = Job(tenant_id=tenant, source=SourceKind.UPLOAD, image=image, **fields)
    await jobs.insert(job)
    return job


async def test_a_shared_image_goes_with_its_last_job(
    stores: tuple[JobRepository, Purger, Any], objects: ObjectStore
) -> None:
    jobs, purger, database = stores
    image = objects.put_image(uuid.uuid4().bytes, "image/jpeg", "acme")
    first, second = [await _job(jobs, image, "acme") for _ in range(2)]
    deliveries = database["webhook_deliveries"]
    await deliveries.insert_one(
        Delivery(
            id="dlv_1",
            message_id="msg_1",
            event_type=EventType.JOB_SUCCEEDED,
            destination=DestinationKind.CALLBACK,
            url="https://example.com/",
            job_id=first.id,
            body="{}",
        ).model_dump(mode="python")
        | {"_id": "dlv_1"}
    )
    assert not await purger.delete_job("globex", first.id)  # another tenant's: untouched
    assert await purger.delete_job("acme", first.id)
    assert await jobs.get(first.id) is None
    assert await deliveries.count_documents({"job_id": first.id}) == 0
    assert not _gone(objects, image)  # the second job still uses it
    assert await purger.delete_job("acme", second.id)
    assert _gone(objects, image)
    assert not await purger.delete_job("acme", second.id)


async def test_deleting_a_batch_takes_its_jobs_and_images(
    stores: tuple[JobRepository, Purger, Any], objects: ObjectStore
) -> None:
    jobs, purger, database = stores
    batches = database["batches"]
    await batches.insert_one({"_id": "bat_1", "tenant_id": "acme", "cancelled_at": None})
    images = [objects.put_image(uuid.uuid4().bytes, "image/png", "acme") for _ in range(3)]
    for image in images:
        await _job(jobs, image, "acme", batch_id="bat_1")
    kept = await _job(jobs, images[0], "acme")  # outside the batch, same bytes
    assert await purger.delete_batch("globex", "bat_1") is None
    counts = await purger.delete_batch("acme", "bat_1")
    assert counts is not None
    assert (counts.jobs, counts.images, counts.batches) == (3, 2, 1)
    assert await batches.count_documents({"_id": "bat_1"}) == 0
    assert [_gone(objects, image) for image in images] == [False, True, True]
    assert await jobs.get(kept.id) is not None


async def test_expiry_drops_images_first_then_results(
    stores: tuple[JobRepository, Purger, Any], objects: ObjectStore
) -> None:
    jobs, purger, _ = stores
    now = utcnow()
    old_image = objects.put_image(uuid.uuid4().bytes, "image/jpeg", "acme")
    older = objects.put_image(uuid.uuid4().bytes, "image/jpeg", "acme")
    recent = await _job(jobs, objects.put_image(b"new", "image/jpeg", "acme"), "acme")
    ten_days = await _job(jobs, old_image, "acme", created_at=now - timedelta(days=10))
    forty_days = await _job(jobs, older, "acme", created_at=now - timedelta(days=40))

    counts = await purger.purge_expired(
        results_after=timedelta(days=30), images_after=timedelta(days=7), limit=100
    )
    assert (counts.jobs, counts.images) == (1, 2)
    assert await jobs.get(forty_days.id) is None
    kept = await jobs.get(ten_days.id)
    assert kept is not None
    assert kept.image is None  # the result stays, the image is gone
    assert _gone(objects, old_image)
    assert _gone(objects, older)
    still = await jobs.get(recent.id)
    assert still is not None
    assert still.image is not None
    assert not _gone(objects, still.image)


def _rows_file(objects: ObjectStore, tenant: str, batch_id: str) -> ImageRef:
    content = b"image_url\nhttps://e.com/a.jpg\n"
    key = objects.put_batch_file(tenant, batch_id, io.BytesIO(content), len(content))
    return ImageRef(sha256="-", object_key=key, size_bytes=len(content))


async def test_deleting_a_batch_still_being_read_takes_its_rows_file(
    stores: tuple[JobRepository, Purger, Any], objects: ObjectStore
) -> None:
    _, purger, database = stores
    rows = _rows_file(objects, "acme", "bat_2")
    source = {"object_key": rows.object_key}
    await database["batches"].insert_one(
        {"_id": "bat_2", "tenant_id": "acme", "cancelled_at": None, "source": source}
    )
    assert await purger.delete_batch("acme", "bat_2") is not None
    assert _gone(objects, rows)


async def test_expired_batches_take_their_rows_files(
    stores: tuple[JobRepository, Purger, Any], objects: ObjectStore
) -> None:
    _, purger, database = stores
    now = utcnow()
    old, new = _rows_file(objects, "acme", "bat_old"), _rows_file(objects, "acme", "bat_new")
    for batch_id, rows, created_at in (
        ("bat_old", old, now - timedelta(days=40)),
        ("bat_new", new, now),
        ("bat_inline", None, now - timedelta(days=40)),
    ):
        source = None if rows is None else {"object_key": rows.object_key}
        await database["batches"].insert_one(
            {"_id": batch_id, "tenant_id": "acme", "created_at": created_at, "source": source}
        )
    counts = await purger.purge_expired(
        results_after=timedelta(days=30), images_after=None, limit=100
    )
    assert counts.batches == 2
    assert _gone(objects, old)
    assert not _gone(objects, new)
