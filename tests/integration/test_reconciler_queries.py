"""The reconciler's queries and claims against a real MongoDB-protocol server."""

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from storage.batch_repository import Batch, BatchRepository
from storage.job_repository import JobRepository, create_mongo_client
from storage.jobs import Job, JobResult, JobStatus, SourceKind, Verdict, utcnow
from storage.settings import MongoSettings
from storage.webhook_repository import WebhookRepository
from storage.webhooks import Delivery, DestinationKind, EventType

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

LIMIT = 1000


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def database(mongo_server: Any) -> AsyncIterator[Any]:
    client: AsyncMongoClient[dict[str, Any]] = create_mongo_client(
        MongoSettings(url=mongo_server.url)
    )
    # A database per test: the queries look at every document of a collection.
    yield client[f"test_reconciler_{uuid.uuid4().hex[:12]}"]
    await client.close()


@pytest.fixture
async def jobs(database: Any) -> JobRepository:
    repository = JobRepository(database)
    await repository.ensure_indexes()
    return repository


@pytest.fixture
async def webhooks(database: Any) -> WebhookRepository:
    repository = WebhookRepository(database)
    await repository.ensure_indexes()
    return repository


def _job(age_s: float, status: JobStatus = JobStatus.QUEUED) -> Job:
    at = utcnow() - timedelta(seconds=age_s)
    job = Job(source=SourceKind.URL, image_url="https://example.com/a.jpg", status=status)
    job.created_at = job.updated_at = at
    return job


def _result() -> JobResult:
    return JobResult(fake_probability=0.9, verdict=Verdict.FAKE, model_name="m", model_version="1")


async def test_only_jobs_untouched_past_the_deadline_are_stuck(jobs: JobRepository) -> None:
    old, recent = _job(120), _job(1)
    await jobs.insert_many([old, recent])
    before = utcnow() - timedelta(seconds=60)
    stuck = await jobs.stuck(JobStatus.QUEUED, before, LIMIT)
    assert [job.id for job in stuck] == [old.id]
    assert await jobs.stuck(JobStatus.FETCHING, before, LIMIT) == []


async def test_one_claim_wins_and_takes_the_job_off_the_stuck_list(jobs: JobRepository) -> None:
    job = _job(120)
    await jobs.insert(job)
    before = utcnow() - timedelta(seconds=60)
    (stuck,) = await jobs.stuck(JobStatus.QUEUED, before, LIMIT)
    assert await jobs.touch(stuck)
    assert not await jobs.touch(stuck)  # a second pass read the same document
    assert await jobs.stuck(JobStatus.QUEUED, before, LIMIT) == []


async def test_a_claim_loses_to_a_transition(jobs: JobRepository) -> None:
    job = _job(120)
    await jobs.insert(job)
    (stuck,) = await jobs.stuck(JobStatus.QUEUED, utcnow(), LIMIT)
    assert await jobs.start_fetching(job.id)
    assert not await jobs.touch(stuck)


async def test_a_terminal_job_keeps_its_event_pending_until_it_is_emitted(
    jobs: JobRepository,
) -> None:
    job = _job(0, JobStatus.INFERRING)
    await jobs.insert(job)
    assert await jobs.succeed(job.id, _result())
    assert await jobs.unemitted(utcnow() - timedelta(seconds=60), LIMIT) == []
    assert await jobs.unemitted(utcnow() + timedelta(seconds=1), LIMIT) == [job.id]
    await jobs.mark_event_emitted(job.id)
    assert await jobs.unemitted(utcnow() + timedelta(seconds=1), LIMIT) == []
    emitted = await jobs.get(job.id)
    assert emitted is not None
    assert emitted.event_emitted_at is not None
    assert not emitted.event_pending


async def test_an_overdue_untouched_delivery_is_stalled_until_claimed(
    webhooks: WebhookRepository,
) -> None:
    long_ago = utcnow() - timedelta(seconds=600)
    delivery = Delivery(
        id=f"dlv_{uuid.uuid4().hex}",
        message_id="msg_x",
        event_type=EventType.JOB_SUCCEEDED,
        destination=DestinationKind.CALLBACK,
        url="https://example.com/hook",
        body="{}",
        next_attempt_at=long_ago,
        created_at=long_ago,
        updated_at=long_ago,
    )
    assert await webhooks.create_delivery(delivery)
    before = utcnow() - timedelta(seconds=60)
    (stalled,) = await webhooks.stalled(before, LIMIT)
    assert stalled.id == delivery.id
    assert await webhooks.touch(stalled)
    assert not await webhooks.touch(stalled)
    assert await webhooks.stalled(before, LIMIT) == []
    # A task that claims its attempt touches it too: not stalled while it is being sent.
    assert await webhooks.claim_attempt(delivery.id, 1, 1) is not None
    assert await webhooks.stalled(before, LIMIT) == []


@pytest.fixture
async def batches(database: Any) -> BatchRepository:
    repository = BatchRepository(database)
    await repository.ensure_indexes()
    return repository


async def test_finished_marks_signal_a_possible_completion_only_once_sealed_and_full(
    batches: BatchRepository,
) -> None:
    batch = Batch(total=3)
    await batches.insert(batch)
    assert await batches.mark_finished(batch.id, 3) is False  # not sealed yet
    await batches.seal(batch.id)
    assert await batches.mark_finished(batch.id) is True  # ahead of the truth: still a signal
    assert await batches.complete(batch.id) is True
    assert await batches.mark_finished(batch.id) is False  # completed


async def test_a_batch_short_of_marks_is_found_once_it_goes_quiet(
    batches: BatchRepository,
) -> None:
    long_ago = utcnow() - timedelta(seconds=120)
    quiet, busy, done, reading = (
        Batch(total=5, sealed=sealed, updated_at=long_ago) for sealed in (True, True, True, False)
    )
    for batch in (quiet, busy, done, reading):
        await batches.insert(batch)
    await batches.complete(done.id)
    await batches.mark_finished(busy.id)  # a job of it just ended
    before = utcnow() - timedelta(seconds=60)
    assert await batches.quiet_incomplete(before, LIMIT) == [quiet.id]
