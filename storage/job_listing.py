"""Listing a tenant's jobs, newest first, a page at a time.

The order is (`created_at`, `_id`) descending, and a cursor names the last job of a page:
the next page starts strictly after it, so jobs created meanwhile (newer, hence before
it) never shift a page or repeat a job. Every filter has an index that starts with the
tenant and ends with `created_at` (`ensure_listing_indexes`), so a page costs MongoDB a
range scan of the index, whatever the tenant's size.
"""

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection

from storage.jobs import Job, JobStatus, Verdict
from storage.review_labels import ReviewLabel

Document = dict[str, Any]

# The filters that each have an index of their own: (tenant, field, created_at, _id), the
# likely most selective first: a page filtered on several walks the index of the first.
INDEXED_FIELDS = (
    "external_id",
    "batch_id",
    "model.name",
    "review.label",
    "result.verdict",
    "status",
)
_NEWEST = [("created_at", ASCENDING), ("_id", ASCENDING)]


class CursorError(ValueError):
    """A cursor this service did not make."""


@dataclass(frozen=True)
class JobFilter:
    status: JobStatus | None = None
    verdict: Verdict | None = None
    model: str | None = None
    batch_id: str | None = None
    external_id: str | None = None
    # One `metadata` key and the text value it must have.
    metadata: tuple[str, str] | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    # True: jobs a reviewer labelled; False: jobs none did.
    reviewed: bool | None = None

    def index(self) -> list[tuple[str, int]]:
        """The index that serves a page in its order: the tenant's, or that of the first
        indexed field the filter names (the others are checked on the documents it finds).
        MongoDB's planner finds it itself (it prefers a plan that needs no sort for a
        limited query); not hinted, as the local stand-in scans a hinted index whole."""
        named = [field for field in INDEXED_FIELDS if field in self.query("")]
        prefix = [("tenant_id", ASCENDING)] + [(field, ASCENDING) for field in named[:1]]
        return prefix + _NEWEST

    def query(self, tenant_id: str) -> Document:
        query: Document = {"tenant_id": tenant_id}
        exact = {
            "status": None if self.status is None else self.status.value,
            "result.verdict": None if self.verdict is None else self.verdict.value,
            "model.name": self.model,
            "batch_id": self.batch_id,
            "external_id": self.external_id,
        }
        query.update({field: value for field, value in exact.items() if value is not None})
        if self.metadata is not None:
            key, value = self.metadata
            query[f"metadata.{key}"] = value
        if self.reviewed is not None:
            labels = [label.value for label in ReviewLabel]
            query["review.label"] = {"$in": labels} if self.reviewed else None
        created: Document = {}
        if self.created_after is not None:
            created["$gte"] = self.created_after
        if self.created_before is not None:
            created["$lt"] = self.created_before
        if created:
            query["created_at"] = created
        return query


def encode_cursor(created_at: datetime, item_id: str) -> str:
    moment = created_at.astimezone(UTC).isoformat()
    return base64.urlsafe_b64encode(f"{moment}|{item_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, item_id = raw.split("|", 1)
        created = datetime.fromisoformat(moment)
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise CursorError("the cursor is not one this service made") from error
    if created.tzinfo is None or not item_id:
        raise CursorError("the cursor is not one this service made")
    return created, item_id


async def newest_first(
    collection: AsyncCollection[Document],
    query: Document,
    *,
    limit: int,
    cursor: str | None = None,
    projection: Document | None = None,
) -> tuple[list[Document], str | None]:
    """One page of the documents `query` matches, newest first by (`created_at`, `_id`),
    and the cursor of the next (None on the last page). Raises CursorError for a cursor
    this service did not make."""
    if cursor is not None:
        created, item_id = decode_cursor(cursor)
        after = {
            "$or": [
                {"created_at": {"$lt": created}},
                {"created_at": created, "_id": {"$lt": item_id}},
            ]
        }
        query = {"$and": [query, after]}
    order = [("created_at", DESCENDING), ("_id", DESCENDING)]
    found = collection.find(query, projection).sort(order).limit(limit + 1)
    page = [document async for document in found]
    if len(page) <= limit:
        return page, None
    page = page[:limit]
    return page, encode_cursor(page[-1]["created_at"], str(page[-1]["_id"]))


async def list_jobs(
    jobs: AsyncCollection[Document],
    tenant_id: str,
    job_filter: JobFilter,
    *,
    limit: int,
    cursor: str | None = None,
) -> tuple[list[Job], str | None]:
    """One page of the tenant's jobs, newest first (`newest_first`)."""
    query = job_filter.query(tenant_id)
    page, next_cursor = await newest_first(jobs, query, limit=limit, cursor=cursor)
    return [_job(document) for document in page], next_cursor


def _job(document: Document) -> Job:
    fields = dict(document)
    fields["id"] = fields.pop("_id")
    return Job.model_validate(fields)


async def ensure_listing_indexes(jobs: AsyncCollection[Document]) -> None:
    # Ascending: MongoDB walks them backwards for the newest-first sort, as fast. (The local
    # stand-in drops a range's boundary on a descending index.)
    await jobs.create_index([("tenant_id", ASCENDING), *_NEWEST])
    for field in INDEXED_FIELDS:
        await jobs.create_index([("tenant_id", ASCENDING), (field, ASCENDING), *_NEWEST])


async def listing_plan(
    jobs: AsyncCollection[Document], tenant_id: str, job_filter: JobFilter
) -> tuple[str | None, bool]:
    """The index the server picks for a first page of `job_filter`, and whether it sorts in
    memory after it (MongoDB does not when the filter's equalities are the index's prefix;
    the local stand-in always does)."""
    explained = await jobs.database.command(
        "explain",
        {
            "find": jobs.name,
            "filter": job_filter.query(tenant_id),
            "sort": {"created_at": -1, "_id": -1},
            "limit": 51,
        },
    )
    stage: Document | None = explained["queryPlanner"]["winningPlan"]
    index, sorts = None, False
    while stage is not None:
        sorts = sorts or stage.get("stage") == "SORT"
        index = stage.get("indexName", index)
        stage = stage.get("inputStage")
    return index, sorts
