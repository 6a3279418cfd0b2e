"""Jobs by status, as the gateway's metrics count them, against a real MongoDB-protocol server."""

import pytest

from devstack.servers import MongoServer
from storage.errors import ErrorCode
from storage.job_repository import JobRepository, create_mongo_client
from storage.jobs import Job, JobError, JobStatus, SourceKind
from storage.settings import MongoSettings

pytestmark = pytest.mark.integration


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_every_status_is_counted_and_absent_ones_are_zero(mongo_server: MongoServer) -> None:
    client = create_mongo_client(MongoSettings(url=mongo_server.url))
    await client.drop_database("test_job_counts")
    jobs = JobRepository(client["test_job_counts"])
    try:
        await jobs.ensure_indexes()
        assert await jobs.count_by_status() == {status.value: 0 for status in JobStatus}
        created = [Job(source=SourceKind.URL, image_url="https://example.com/a") for _ in range(4)]
        for job in created:
            await jobs.insert(job)
        await jobs.start_fetching(created[0].id)
        await jobs.fail(created[1].id, JobError(code=ErrorCode.FETCH_UNAVAILABLE, message="down"))
        assert await jobs.count_by_status(max_time_ms=500) == {
            "queued": 2,
            "fetching": 1,
            "inferring": 0,
            "succeeded": 0,
            "failed": 1,
        }
    finally:
        await client.close()
