"""The job repository against a real MongoDB-protocol server."""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from storage.errors import ErrorCode
from storage.job_repository import JobRepository, Success, create_mongo_client
from storage.jobs import ImageRef, Job, JobError, JobResult, JobStatus, SourceKind, Verdict
from storage.settings import MongoSettings

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def jobs(mongo_server: Any) -> AsyncIterator[JobRepository]:
    client: AsyncMongoClient[dict[str, Any]] = create_mongo_client(
        MongoSettings(url=mongo_server.url)
    )
    repository = JobRepository(client["test_repository"])
    await repository.ensure_indexes()
    yield repository
    await client.close()


def _result() -> JobResult:
    return JobResult(fake_probability=0.9, verdict=Verdict.FAKE, model_name="m", model_version="1")


def _image() -> ImageRef:
    return ImageRef(sha256="ab" * 32, object_key="images/ab/x", size_bytes=3)


async def test_a_job_round_trips(jobs: JobRepository) -> None:
    job = Job(source=SourceKind.URL, image_url="https://example.com/a.jpg", metadata={"k": [1]})
    await jobs.insert(job)
    loaded = await jobs.get(job.id)
    assert loaded is not None
    assert loaded.image_url == job.image_url
    assert loaded.metadata == {"k": [1]}
    assert loaded.status is JobStatus.QUEUED
    assert JobStatus.QUEUED.value in loaded.timestamps
    assert await jobs.get("job_missing") is None


async def test_the_happy_path_records_every_stage(jobs: JobRepository) -> None:
    job = Job(source=SourceKind.URL, image_url="https://example.com/a.jpg")
    await jobs.insert(job)
    assert await jobs.start_fetching(job.id)
    assert await jobs.start_inferring(job.id, _image(), {"durations_ms.fetch": 1.5})
    assert await jobs.succeed(job.id, _result())
    loaded = await jobs.get(job.id)
    assert loaded is not None
    assert loaded.status is JobStatus.SUCCEEDED
    assert loaded.result == _result()
    assert loaded.image == _image()
    assert loaded.durations_ms == {"fetch": 1.5}
    assert set(loaded.timestamps) == {"queued", "fetching", "inferring", "succeeded"}


async def test_a_second_result_is_refused(jobs: JobRepository) -> None:
    job = Job(source=SourceKind.UPLOAD, image=_image())
    await jobs.insert(job)
    assert await jobs.start_inferring(job.id)
    assert await jobs.succeed(job.id, _result())
    other = _result().model_copy(update={"fake_probability": 0.1})
    assert not await jobs.succeed(job.id, other)
    assert not await jobs.fail(job.id, JobError(code=ErrorCode.INFERENCE_FAILED, message="x"))
    assert not await jobs.start_fetching(job.id)
    loaded = await jobs.get(job.id)
    assert loaded is not None
    assert loaded.result == _result()
    assert loaded.error is None


async def test_a_redelivered_stage_may_re_enter_but_never_skip(jobs: JobRepository) -> None:
    job = Job(source=SourceKind.URL, image_url="https://example.com/a.jpg")
    await jobs.insert(job)
    assert await jobs.start_fetching(job.id)
    assert await jobs.start_fetching(job.id)  # redelivery re-enters
    assert await jobs.fail(job.id, JobError(code=ErrorCode.IMAGE_NOT_FOUND, message="404"))
    assert not await jobs.start_inferring(job.id)
    loaded = await jobs.get(job.id)
    assert loaded is not None
    assert loaded.status is JobStatus.FAILED
    assert loaded.error is not None
    assert loaded.error.code is ErrorCode.IMAGE_NOT_FOUND


async def test_open_jobs_are_counted_per_tenant(jobs: JobRepository) -> None:
    tenant = "open-count"
    queued = [Job(tenant_id=tenant, source=SourceKind.URL, image_url="https://e.com/a.jpg")]
    queued += [Job(tenant_id=tenant, source=SourceKind.URL, image_url="https://e.com/b.jpg")]
    await jobs.insert_many([*queued, Job(tenant_id="elsewhere", source=SourceKind.UPLOAD)])
    assert await jobs.count_open(tenant) == 2
    assert await jobs.start_fetching(queued[0].id)
    assert await jobs.count_open(tenant) == 2
    assert await jobs.fail(queued[0].id, JobError(code=ErrorCode.CANCELLED, message="x"))
    assert await jobs.count_open(tenant) == 1


async def test_a_micro_batch_ends_its_jobs_in_one_write_and_loses_races(
    jobs: JobRepository,
) -> None:
    queued, fetching, failed = (
        Job(source=SourceKind.URL, image_url="https://example.com/a.jpg") for _ in range(3)
    )
    for job in (queued, fetching, failed):
        await jobs.insert(job)
    assert await jobs.start_fetching(fetching.id)
    assert await jobs.fail(failed.id, JobError(code=ErrorCode.CANCELLED, message="x"))
    outcomes = [
        Success(job.id, _result(), {"durations_ms.decode": 1.5}, event_pending=False)
        for job in (queued, fetching, failed)
    ]
    outcomes.append(Success("job_gone", _result(), {}, event_pending=False))

    ended = await jobs.succeed_many(outcomes)

    # Queued and fetching jobs end in one write; a job that ended first keeps its end.
    assert ended == {queued.id, fetching.id}
    for job in (queued, fetching):
        loaded = await jobs.get(job.id)
        assert loaded is not None
        assert loaded.status is JobStatus.SUCCEEDED
        assert loaded.result == _result()
        assert loaded.durations_ms == {"decode": 1.5}
        assert not loaded.event_pending
    loaded = await jobs.get(failed.id)
    assert loaded is not None
    assert loaded.status is JobStatus.FAILED
    assert await jobs.succeed_many([]) == set()
    found = await jobs.get_many([queued.id, "job_gone"])
    assert list(found) == [queued.id]
    assert found[queued.id].metadata == {}  # not read: no stage needs it
