"""Jobs in MongoDB through PyMongo's async API.

Every status change is one conditional `update_one` on `{_id, status in allowed sources}`:
whoever loses a race (a redelivered task, a second worker) sees `modified_count == 0` and
backs off, so a job can never get a second result or move backwards.
"""

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, AsyncMongoClient, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from storage.job_listing import JobFilter, ensure_listing_indexes, list_jobs
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
# Jobs with the same bytes looked at for one whose result can be reused.
_REUSE_CANDIDATES = 50


@dataclass(frozen=True)
class Success:
    """One job's result for `JobRepository.succeed_many`. `fields`: more to set (stage
    durations, the image a fetch stored, when the job started)."""

    job_id: str
    result: JobResult
    fields: Document
    # False: nothing receives this job's event, so none is emitted.
    event_pending: bool


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
        await self._jobs.create_index([("tenant_id", ASCENDING), ("status", ASCENDING)])
        await self._jobs.create_index([("tenant_id", ASCENDING), ("image.sha256", ASCENDING)])
        await self._jobs.create_index([("event_pending", ASCENDING), ("updated_at", ASCENDING)])
        await ensure_listing_indexes(self._jobs)

    async def page(
        self, tenant_id: str, job_filter: JobFilter, *, limit: int, cursor: str | None = None
    ) -> tuple[list[Job], str | None]:
        """A page of the tenant's jobs, newest first (storage.job_listing)."""
        return await list_jobs(self._jobs, tenant_id, job_filter, limit=limit, cursor=cursor)

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

    async def insert_new(self, jobs: Sequence[Job]) -> None:
        """Insert what is not there yet: a chunk inserted again after a crash adds nothing."""
        try:
            await self.insert_many(jobs)
        except BulkWriteError as error:
            others = [e for e in error.details.get("writeErrors", []) if e.get("code") != 11000]
            if others:
                raise

    async def count_batch_by_status(self, batch_id: str) -> dict[str, int]:
        return (await self.count_batches_by_status([batch_id]))[batch_id]

    async def count_batches_by_status(self, batch_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Each batch's jobs per status (every status present, zero or not), in one query."""
        counts = {batch_id: {status.value: 0 for status in JobStatus} for batch_id in batch_ids}
        if not batch_ids:
            return counts
        group = {"batch": "$batch_id", "status": "$status"}
        pipeline: list[Document] = [
            {"$match": {"batch_id": {"$in": list(batch_ids)}}},
            {"$group": {"_id": group, "count": {"$sum": 1}}},
        ]
        async for row in await self._jobs.aggregate(pipeline):
            counts[str(row["_id"]["batch"])][str(row["_id"]["status"])] = int(row["count"])
        return counts

    async def count_by_status(self, max_time_ms: int = 1000) -> dict[str, int]:
        """Jobs in each status, every status present; for metrics, so bounded in time."""
        counts = {status.value: 0 for status in JobStatus}
        pipeline: list[Document] = [
            # A bound on `status` alone lets the planner answer from the (status, updated_at)
            # index without reading a single document.
            {"$match": {"status": {"$in": list(counts)}}},
            {"$group": {"_id": "$status", "count": {"$sum": 1}}},
        ]
        async for row in await self._jobs.aggregate(pipeline, maxTimeMS=max_time_ms):
            counts[str(row["_id"])] = int(row["count"])
        return counts

    async def batch_unfinished(self, batch_id: str) -> bool:
        """Whether any job of the batch is not yet terminal."""
        unfinished = [s.value for s in JobStatus if not s.terminal]
        found = await self._jobs.find_one(
            {"batch_id": batch_id, "status": {"$in": unfinished}}, {"_id": 1}
        )
        return found is not None

    async def batch_jobs(self, batch_id: str, fields: Sequence[str]) -> AsyncIterator[Document]:
        """The batch's jobs as raw documents with only `fields`, streamed from a cursor."""
        cursor = self._jobs.find({"batch_id": batch_id}, dict.fromkeys(fields, 1), batch_size=500)
        async for document in cursor:
            yield document

    async def find_reusable(
        self, job: Job, *, model_name: str, model_version: str, face_detector: str | None
    ) -> Job | None:
        """An earlier succeeded job of the tenant whose result `job` can reuse."""
        if job.image is None:
            return None
        # Only the indexed fields go to the server (a wider query is not answered from the
        # index by every server); the few jobs with these bytes are checked here.
        cursor = self._jobs.find(
            {"tenant_id": job.tenant_id, "image.sha256": job.image.sha256},
            limit=_REUSE_CANDIDATES,
        )
        async for document in cursor:
            result = document.get("result") or {}
            if (
                document["_id"] != job.id
                and document.get("status") == JobStatus.SUCCEEDED.value
                and document.get("mode") == job.mode.value
                and result.get("model_name") == model_name
                and result.get("model_version") == model_version
                and result.get("face_detector") == face_detector
            ):
                return _from_document(document)
        return None

    async def count_open(self, tenant_id: str) -> int:
        """The tenant's jobs not yet finished."""
        unfinished = [s.value for s in JobStatus if not s.terminal]
        return await self._jobs.count_documents(
            {"tenant_id": tenant_id, "status": {"$in": unfinished}}
        )

    async def get(self, job_id: str) -> Job | None:
        document = await self._jobs.find_one({"_id": job_id})
        return None if document is None else _from_document(document)

    async def get_many(self, job_ids: Sequence[str], *, whole: bool = False) -> dict[str, Job]:
        """The jobs that exist among `job_ids`, in one query; unless `whole`, without their
        metadata (which no stage reads) or any earlier result."""
        projection = None if whole else {"metadata": 0, "result": 0, "error": 0}
        cursor = self._jobs.find({"_id": {"$in": list(job_ids)}}, projection)
        return {str(d["_id"]): _from_document(d) async for d in cursor}

    async def succeed_many(self, outcomes: Sequence[Success]) -> set[str]:
        """Record many results in one bulk write, each conditional as `transition` is; the
        IDs of the jobs this call ended (a job another run ended first is not among them)."""
        if not outcomes:
            return set()
        now = utcnow()
        sources = [s.value for s in allowed_sources(JobStatus.SUCCEEDED)]
        succeeded = JobStatus.SUCCEEDED.value
        operations = []
        for outcome in outcomes:
            # `fields` first: the stages' timestamps are recorded before the end's.
            update: Document = {
                **outcome.fields,
                "status": succeeded,
                "updated_at": now,
                f"timestamps.{succeeded}": now,
                "result": outcome.result.model_dump(mode="python"),
                "event_pending": outcome.event_pending,
            }
            operations.append(
                UpdateOne({"_id": outcome.job_id, "status": {"$in": sources}}, {"$set": update})
            )
        written = await self._jobs.bulk_write(operations, ordered=False)
        ids = [outcome.job_id for outcome in outcomes]
        if written.modified_count == len(ids):
            return set(ids)
        # Some lost a race: the ones this write ended carry its exact time.
        cursor = self._jobs.find({"_id": {"$in": ids}, f"timestamps.{succeeded}": now}, {"_id": 1})
        return {str(document["_id"]) async for document in cursor}

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

    async def succeed(
        self,
        job_id: str,
        result: JobResult,
        fields: Document | None = None,
        *,
        event_pending: bool = True,
    ) -> bool:
        """`event_pending` False: nothing receives this job's event, so none is emitted."""
        update = {
            "result": result.model_dump(mode="python"),
            "event_pending": event_pending,
            **(fields or {}),
        }
        return await self.transition(job_id, JobStatus.SUCCEEDED, update)

    async def fail(self, job_id: str, error: JobError) -> bool:
        return await self.transition(
            job_id,
            JobStatus.FAILED,
            {"error": error.model_dump(mode="python"), "event_pending": True},
        )

    # The reconciler's queries: bounded, and each served by an index of `ensure_indexes`.

    async def stuck(self, status: JobStatus, before: datetime, limit: int) -> list[Job]:
        """Jobs in non-terminal `status` untouched since `before`, oldest first."""
        cursor = (
            self._jobs.find({"status": status.value, "updated_at": {"$lt": before}})
            .sort("updated_at", ASCENDING)
            .limit(limit)
        )
        return [_from_document(document) async for document in cursor]

    async def touch(self, job: Job, *, lost: bool = True) -> bool:
        """Bump `updated_at` if the job is as read; the one caller that wins re-enqueues it.
        `lost`: its message is known lost (its queue is drained), which counts as a lost
        delivery; a job re-sent only because it waited long behind a backlog is not."""
        update: dict[str, Any] = {"$set": {"updated_at": utcnow()}}
        if lost:
            update["$inc"] = {"lost_deliveries": 1}
        outcome = await self._jobs.update_one(
            {"_id": job.id, "status": job.status.value, "updated_at": job.updated_at}, update
        )
        return outcome.modified_count == 1

    async def count_lost_delivery(self, job_id: str, bound: int) -> bool:
        """Count one redelivery of the job's task; False once `bound` redeliveries were
        counted (or the job is gone or ended): it must not run again."""
        outcome = await self._jobs.update_one(
            {
                "_id": job_id,
                "status": {"$in": [s.value for s in JobStatus if not s.terminal]},
                # `$not` matches documents written before the field existed.
                "lost_deliveries": {"$not": {"$gte": bound}},
            },
            {"$inc": {"lost_deliveries": 1}},
        )
        return outcome.modified_count == 1

    async def unemitted(self, before: datetime, limit: int) -> list[str]:
        """Terminal jobs whose event is still pending since `before`."""
        cursor = self._jobs.find(
            {"event_pending": True, "updated_at": {"$lt": before}}, {"_id": 1}
        ).limit(limit)
        return [str(document["_id"]) async for document in cursor]

    async def mark_event_emitted(self, job_id: str) -> None:
        await self.mark_events_emitted([job_id])

    async def mark_events_emitted(self, job_ids: Sequence[str]) -> None:
        await self._jobs.update_many(
            {"_id": {"$in": list(job_ids)}, "event_pending": True},
            {"$set": {"event_pending": False, "event_emitted_at": utcnow()}},
        )

    # Batch reading and cancelling (storage.batch_intake, storage.batch_repository).

    async def cancel_queued_of_batch(self, batch_id: str, error: JobError) -> int:
        """Fail every job of the batch still queued, its `job.failed` event pending."""
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
                    "event_pending": True,
                }
            },
        )
        return outcome.modified_count

    async def pending_failures_of_batch(self, batch_id: str, code: str, limit: int) -> list[str]:
        """Failed jobs of the batch with error `code` whose event is still pending."""
        cursor = self._jobs.find(
            {
                "batch_id": batch_id,
                "status": JobStatus.FAILED.value,
                "error.code": code,
                "event_pending": True,
            },
            {"_id": 1},
            limit=limit,
        )
        return [str(document["_id"]) async for document in cursor]

    async def delete_ids(self, job_ids: Sequence[str]) -> int:
        """Delete these jobs (a batch chunk that was never counted nor enqueued)."""
        if not job_ids:
            return 0
        outcome = await self._jobs.delete_many({"_id": {"$in": list(job_ids)}})
        return outcome.deleted_count
