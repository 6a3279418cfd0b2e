"""Bulk batches: many URL jobs submitted at once, tracked together, completed once.

A batch is `sealed` once every row has been read and its jobs recorded; it completes (one
conditional update on `{_id, sealed, completed_at: null}`) when sealed and no job of it is
left unfinished, so whichever side ends the last job (a worker, or a cancel) completes it,
and the `batch.completed` event is created by the one whose update won.

Whether any job is left unfinished is a query over the batch's jobs, whose cost grows with
the batch, so a job ending does not ask it every time: each ending adds to the batch's
`finished_marks`, and only once the marks reach `total` is the exact question asked. The
marks run ahead of the truth, never behind it, on the paths that can repeat (an event
emitted again after a crash counts twice); a count lost between a cancel and its mark is
caught by the reconciler, which checks sealed batches that have gone quiet.
"""

import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from storage.errors import ErrorCode
from storage.event_deliveries import Event, create_deliveries
from storage.job_repository import JobRepository
from storage.jobs import DEFAULT_TENANT, DetectionMode, JobError, ModelRef, Thresholds, utcnow
from storage.webhook_repository import WebhookRepository
from storage.webhooks import Delivery, EventType

Document = dict[str, Any]
# At most this many invalid rows are described on the batch; `invalid_rows` counts them all.
MAX_REPORTED_ROW_ERRORS = 1000
# A line (a CSV record, a JSONL line) and a CSV field longer than these is a row error; the
# rest of a long line is skipped as it streams by, never held.
MAX_LINE_CHARS = 64 * 1024
MAX_FIELD_CHARS = 32 * 1024
# Reading tasks that fail (or die) without counting a chunk before the batch gives up on
# the rest of its file (`batch_unreadable`); outages of MongoDB or the store do not count.
MAX_READ_ATTEMPTS = 3
CANCELLED = JobError(code=ErrorCode.CANCELLED, message="the batch was cancelled")


def new_batch_id() -> str:
    return "bat_" + secrets.token_urlsafe(16)


class RowError(BaseModel):
    row: int = Field(description="The line in the file (a CSV header is line 1), or the item's "
                     "1-based position in an inline `items` list.")  # fmt: skip
    code: ErrorCode
    message: str


@dataclass(frozen=True)
class ChunkCount:
    """What a chunk of rows adds to its batch."""

    rows_before: int
    rows_after: int
    last_line: int
    added: int
    errors: list[RowError]


class BatchSource(BaseModel):
    """The submitted rows, stored as a file until a worker has read them all."""

    object_key: str
    row_format: str  # storage.batch_rows.RowFormat
    # Rows read at most: the batch limit, or the tenant's room for open jobs at submission.
    row_limit: int
    max_items: int
    max_url_length: int
    max_metadata_bytes: int
    max_line_chars: int = MAX_LINE_CHARS
    max_field_chars: int = MAX_FIELD_CHARS


class Batch(BaseModel):
    id: str = Field(default_factory=new_batch_id)
    tenant_id: str = DEFAULT_TENANT
    model: ModelRef | None = None
    thresholds: Thresholds | None = None
    mode: DetectionMode = DetectionMode.FACES
    # Receives the signed `batch.completed` event (not each job's).
    callback_url: str | None = None
    total: int = 0
    invalid_rows: int = 0
    row_errors: list[RowError] = Field(default_factory=list)
    source: BatchSource | None = None
    # Rows (valid or not) read from the source so far; a worker resuming skips them.
    rows_read: int = 0
    # The file's line of the last row read.
    last_line: int = 0
    # Reading tasks started since a chunk was last counted (see MAX_READ_ATTEMPTS).
    read_attempts: int = 0
    # Why the batch ended before its file was read to the end (`batch_unreadable`).
    error: JobError | None = None
    # Jobs seen ending, an upper bound of those finished once every path has counted (above).
    finished_marks: int = 0
    sealed: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    cancelled_at: datetime | None = None
    completed_at: datetime | None = None


def _to_document(batch: Batch) -> Document:
    document = batch.model_dump(mode="python", exclude={"id"})
    document["_id"] = batch.id
    return document


class BatchRepository:
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._batches = database["batches"]

    @property
    def database(self) -> AsyncDatabase[Document]:
        return self._batches.database

    async def ensure_indexes(self) -> None:
        await self._batches.create_index([("created_at", ASCENDING)])
        await self._batches.create_index([("sealed", ASCENDING), ("updated_at", ASCENDING)])
        # The listing (storage.batch_listing): a tenant's batches, newest first.
        newest = [("created_at", ASCENDING), ("_id", ASCENDING)]
        await self._batches.create_index([("tenant_id", ASCENDING), *newest])

    async def insert(self, batch: Batch) -> None:
        await self._batches.insert_one(_to_document(batch))

    async def get(self, batch_id: str) -> Batch | None:
        document = await self._batches.find_one({"_id": batch_id})
        if document is None:
            return None
        document = dict(document)
        document["id"] = document.pop("_id")
        return Batch.model_validate(document)

    async def is_cancelled(self, batch_id: str) -> bool:
        document = await self._batches.find_one({"_id": batch_id}, {"cancelled_at": 1})
        return document is not None and document.get("cancelled_at") is not None

    async def record_chunk(self, batch_id: str, chunk: ChunkCount) -> bool:
        """Count a chunk of rows once: only if nobody has counted past `rows_before` yet and
        the batch is still there and not cancelled (a reader racing a cancel or a delete
        stops here, in the same update that would have counted its rows)."""
        update: Document = {
            "$inc": {"total": chunk.added, "invalid_rows": len(chunk.errors)},
            "$set": {
                "rows_read": chunk.rows_after,
                "last_line": chunk.last_line,
                "read_attempts": 0,
                "updated_at": utcnow(),
            },
        }
        if chunk.errors:
            described = [e.model_dump(mode="python") for e in chunk.errors]
            update["$push"] = {
                "row_errors": {"$each": described, "$slice": MAX_REPORTED_ROW_ERRORS}
            }
        outcome = await self._batches.update_one(
            {"_id": batch_id, "rows_read": chunk.rows_before, "cancelled_at": None}, update
        )
        return outcome.modified_count == 1

    async def start_reading(self, batch_id: str) -> None:
        """Count a reading task starting; counting a chunk sets the count back to zero."""
        await self._batches.update_one(
            {"_id": batch_id, "sealed": False}, {"$inc": {"read_attempts": 1}}
        )

    async def forget_attempt(self, batch_id: str) -> None:
        """A reading task failed for an outage, which does not count against the file."""
        await self._batches.update_one(
            {"_id": batch_id, "sealed": False, "read_attempts": {"$gt": 0}},
            {"$inc": {"read_attempts": -1}},
        )

    async def give_up_reading(self, batch_id: str, message: str) -> bool:
        """End the reading of an unsealed batch: the rest of its rows are one row error."""
        batch = await self.get(batch_id)
        if batch is None or batch.sealed:
            return False
        row = RowError(row=batch.last_line + 1, code=ErrorCode.BATCH_UNREADABLE, message=message)
        error = JobError(code=ErrorCode.BATCH_UNREADABLE, message=message)
        outcome = await self._batches.update_one(
            {"_id": batch_id, "sealed": False, "error": None},
            {
                "$inc": {"invalid_rows": 1},
                "$set": {"error": error.model_dump(mode="python"), "updated_at": utcnow()},
                "$push": {
                    "row_errors": {
                        "$each": [row.model_dump(mode="python")],
                        "$slice": MAX_REPORTED_ROW_ERRORS,
                    }
                },
            },
        )
        return outcome.modified_count == 1

    async def stalled(self, before: datetime, limit: int) -> list[str]:
        """Batches still being read whose reading has not moved since `before`."""
        cursor = self._batches.find(
            {"sealed": False, "updated_at": {"$lt": before}}, {"_id": 1}, limit=limit
        )
        return [str(document["_id"]) async for document in cursor]

    async def mark_finished(self, batch_id: str, jobs: int = 1) -> bool:
        """Count `jobs` more ended jobs of the batch; whether it may be complete now (sealed,
        not completed, and as many marks as jobs), which `complete_if_done` then checks.

        An update and a read by id rather than `find_one_and_update`, which the local
        MongoDB stand-in answers by scanning the collection."""
        await self._batches.update_one(
            {"_id": batch_id}, {"$inc": {"finished_marks": jobs}, "$set": {"updated_at": utcnow()}}
        )
        document = await self._batches.find_one(
            {"_id": batch_id}, {"finished_marks": 1, "total": 1, "sealed": 1, "completed_at": 1}
        )
        return (
            document is not None
            and bool(document.get("sealed"))
            and document.get("completed_at") is None
            and int(document.get("finished_marks", 0)) >= int(document.get("total", 0))
        )

    async def quiet_incomplete(self, before: datetime, limit: int) -> list[str]:
        """Sealed batches not completed whose last change is older than `before`."""
        cursor = self._batches.find(
            {"sealed": True, "completed_at": None, "updated_at": {"$lt": before}},
            {"_id": 1},
            limit=limit,
        )
        return [str(document["_id"]) async for document in cursor]

    async def delete(self, batch_id: str) -> None:
        await self._batches.delete_one({"_id": batch_id})

    async def seal(self, batch_id: str) -> None:
        await self._batches.update_one(
            {"_id": batch_id}, {"$set": {"sealed": True, "updated_at": utcnow()}}
        )

    async def mark_cancelled(self, batch_id: str) -> None:
        await self._batches.update_one(
            {"_id": batch_id, "cancelled_at": None}, {"$set": {"cancelled_at": utcnow()}}
        )

    async def complete(self, batch_id: str) -> bool:
        """True for the one caller that completes the batch."""
        now = utcnow()
        outcome = await self._batches.update_one(
            {"_id": batch_id, "sealed": True, "completed_at": None},
            {"$set": {"completed_at": now, "updated_at": now}},
        )
        return outcome.modified_count == 1


def batch_completed_body(batch: Batch, counts: dict[str, int]) -> str:
    payload = {
        "type": EventType.BATCH_COMPLETED.value,
        "timestamp": (batch.completed_at or utcnow()).isoformat(),
        "data": {
            "id": batch.id,
            "total": batch.total,
            "invalid_rows": batch.invalid_rows,
            "counts": counts,
            "cancelled": batch.cancelled_at is not None,
            "error": None if batch.error is None else batch.error.code.value,
            "completed_at": None if batch.completed_at is None else batch.completed_at.isoformat(),
        },
    }
    return json.dumps(payload, separators=(",", ":"))


async def batch_completed_deliveries(
    batch: Batch, counts: dict[str, int], webhooks: WebhookRepository
) -> list[Delivery]:
    """Create one delivery per destination of the batch's `batch.completed` event."""
    event_type = EventType.BATCH_COMPLETED
    event = Event(
        event_type=event_type,
        subject_id=batch.id,
        tenant_id=batch.tenant_id,
        body=batch_completed_body(batch, counts),
        batch_id=batch.id,
    )
    endpoints = await webhooks.endpoints_for(event_type, batch.tenant_id)
    return await create_deliveries(webhooks, event, endpoints, batch.callback_url)


async def cancel_queued(batch_id: str, jobs: JobRepository) -> int:
    """Fail the batch's queued jobs with `cancelled`, their `job.failed` events pending; how
    many. Each is counted on the batch's finished marks when its event is emitted (by
    `worker.expand_batch`, or the reconciler's lost-event pass), like any job ending."""
    return await jobs.cancel_queued_of_batch(batch_id, CANCELLED)


async def complete_if_done(
    batch_id: str, batches: BatchRepository, jobs: JobRepository, webhooks: WebhookRepository
) -> list[Delivery]:
    """Complete the batch if it is sealed and nothing of it is left to run; the deliveries of
    its `batch.completed` event for the caller to enqueue, empty unless this call completed it."""
    if await jobs.batch_unfinished(batch_id) or not await batches.complete(batch_id):
        return []
    batch = await batches.get(batch_id)
    if batch is None:
        return []
    return await batch_completed_deliveries(
        batch, await jobs.count_batch_by_status(batch_id), webhooks
    )
