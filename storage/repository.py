"""Jobs in MongoDB through PyMongo's async API.

Every status change is one conditional `update_one` on `{_id, status in allowed sources}`:
whoever loses a race (a redelivered task, a second worker) sees `modified_count == 0` and
backs off, so a job can never get a second result or move backwards.
"""

from collections.abc import AsyncIterator, Sequence
from typing import Any

from pymongo import ASCENDING, AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from storage.jobs import (
    ImageRef,
    Job,
    JobError,
    JobResult,
    JobStatus,
    allowed_sources,
    utcnow,
)
from storage.settings import MongoSettings

Document = dict[str, Any]


def create_mongo_client(settings: MongoSettings) -> AsyncMongoClient[Document]:
    return AsyncMongoClient(
        settings.url.get_secret_value(),
        tz_aware=True,
        serverSelectionTimeoutMS=settings.timeout_ms,
        connectTimeoutMS=settings.timeout_ms,
    )


def _to_document(job: Job) -> Document:
    document = job.model_dump(mode="python", exclude={"id"})
    document["_id"] = job.id
    return document


def _from_document(document: Document) -> Job:
    document = dict(document)
    document["id"] = document.pop("_id")
    return Job.model_validate(document)


class JobRepository:
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._jobs = database["jobs"]

    async def ensure_indexes(self) -> None:
        await self._jobs.create_index([("status", ASCENDING), ("updated_at", ASCENDING)])
        await self._jobs.create_index([("created_at", ASCENDING)])
        await self._jobs.create_index([("batch_id", ASCENDING), ("status", ASCENDING)])

    async def ping(self) -> None:
        await self._jobs.database.command("ping")

    async def insert(self, job: Job) -> None:
        if not job.timestamps:
            job.timestamps[job.status.value] = job.created_at
        await self._jobs.insert_one(_to_document(job))

    async def insert_many(self, jobs: Sequence[Job]) -> None:
        for job in jobs:
            if not job.timestamps:
                job.timestamps[job.status.value] = job.created_at
        if jobs:
            await self._jobs.insert_many([_to_document(job) for job in jobs], ordered=False)

    async def count_batch_by_status(self, batch_id: str) -> dict[str, int]:
        counts = {status.value: 0 for status in JobStatus}
        pipeline: list[Document] = [
            {"$match": {"batch_id": batch_id}},
            {"$group": {"_id": "$status", "count": {"$sum": 1}}},
        ]
        async for row in await self._jobs.aggregate(pipeline):
            counts[str(row["_id"])] = int(row["count"])
        return counts

    async def batch_unfinished(self, batch_id: str) -> bool:
        """Whether any job of the batch is not yet terminal."""
        unfinished = [s.value for s in JobStatus if not s.terminal]
        found = await self._jobs.find_one(
            {"batch_id": batch_id, "status": {"$in": unfinished}}, {"_id": 1}
        )
        return found is not None

    async def fail_queued_of_batch(self, batch_id: str, error: JobError) -> int:
        """Fail every job of the batch still queued; the workers skip terminal jobs."""
        now = utcnow()
        failed = JobStatus.FAILED.value
        outcome = await self._jobs.update_many(
            {"batch_id": batch_id, "status": JobStatus.QUEUED.value},
            {
                "$set": {
                    "status": failed,
                    "updated_at": now,
                    f"timestamps.{failed}": now,
                    "error": error.model_dump(mode="python"),
                }
            },
        )
        return outcome.modified_count

    async def batch_jobs(self, batch_id: str, fields: Sequence[str]) -> AsyncIterator[Document]:
        """The batch's jobs as raw documents with only `fields`, streamed from a cursor."""
        cursor = self._jobs.find({"batch_id": batch_id}, dict.fromkeys(fields, 1), batch_size=500)
        async for document in cursor:
            yield document

    async def get(self, job_id: str) -> Job | None:
        document = await self._jobs.find_one({"_id": job_id})
        return None if document is None else _from_document(document)

    async def transition(
        self, job_id: str, target: JobStatus, fields: Document | None = None
    ) -> bool:
        """Move the job to `target` if its current status allows it; False if not."""
        now = utcnow()
        update: Document = {
            "status": target.value,
            "updated_at": now,
            f"timestamps.{target.value}": now,
            **(fields or {}),
        }
        outcome = await self._jobs.update_one(
            {"_id": job_id, "status": {"$in": [s.value for s in allowed_sources(target)]}},
            {"$set": update},
        )
        return outcome.modified_count == 1

    async def start_fetching(self, job_id: str) -> bool:
        return await self.transition(job_id, JobStatus.FETCHING)

    async def start_inferring(
        self, job_id: str, image: ImageRef | None = None, fields: Document | None = None
    ) -> bool:
        update = dict(fields or {})
        if image is not None:
            update["image"] = image.model_dump()
        return await self.transition(job_id, JobStatus.INFERRING, update)

    async def succeed(self, job_id: str, result: JobResult, fields: Document | None = None) -> bool:
        update = {"result": result.model_dump(mode="python"), **(fields or {})}
        return await self.transition(job_id, JobStatus.SUCCEEDED, update)

    async def fail(self, job_id: str, error: JobError) -> bool:
        return await self.transition(
            job_id, JobStatus.FAILED, {"error": error.model_dump(mode="python")}
        )
