"""Listing a tenant's batches, newest first, with each one's jobs counted by status."""

from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from storage.batch_repository import Batch
from storage.job_listing import newest_first
from storage.job_repository import JobRepository

Document = dict[str, Any]


async def list_batches(
    database: AsyncDatabase[Document],
    tenant_id: str,
    *,
    limit: int,
    cursor: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> tuple[list[tuple[Batch, dict[str, int]]], str | None]:
    """A page of the tenant's batches and their jobs per status (one aggregation for the
    page); raises storage.job_listing.CursorError for a cursor this service did not make."""
    query: Document = {"tenant_id": tenant_id}
    created: Document = {}
    if created_after is not None:
        created["$gte"] = created_after
    if created_before is not None:
        created["$lt"] = created_before
    if created:
        query["created_at"] = created
    page, next_cursor = await newest_first(database["batches"], query, limit=limit, cursor=cursor)
    ids = [str(document["_id"]) for document in page]
    counts = await JobRepository(database).count_batches_by_status(ids)
    batches = [_batch(document) for document in page]
    return [(batch, counts[batch.id]) for batch in batches], next_cursor


def _batch(document: Document) -> Batch:
    fields = dict(document)
    fields["id"] = fields.pop("_id")
    return Batch.model_validate(fields)
