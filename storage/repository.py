"""Jobs in MongoDB through PyMongo's async API.

Every status change is one conditional `update_one` on `{_id, status in allowed sources}`:
whoever loses a race (a redelivered task, a second worker) sees `modified_count == 0` and
backs off, so a job can never get a second result or move backwards.
"""

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

    async def ping(self) -> None:
        await self._jobs.database.command("ping")

    async def insert(self, job: Job) -> None:
        if not job.timestamps:
            job.timestamps[job.status.value] = job.created_at
        await self._jobs.insert_one(_to_document(job))

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
