"""The public shapes of `/v1/batches`."""

from datetime import datetime
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from gateway.schemas import JobOptions
from storage.batch_repository import Batch, RowError
from storage.jobs import JobError, JobStatus


def batch_path(batch_id: str) -> str:
    return f"/v1/batches/{batch_id}"


class BatchItemIn(BaseModel):
    """Checked row by row (bad items become row errors), so loosely typed here."""

    model_config = ConfigDict(extra="forbid")

    image_url: Any = None
    external_id: Any = None
    metadata: Any = None


class BatchCreate(JobOptions):
    # Per-item metadata only: a batch-wide one would be copied into every job.
    metadata: dict[str, Any] = Field(default_factory=dict, exclude=True)
    items: list[BatchItemIn] = Field(min_length=1)


@lru_cache
def batch_create_model(max_items: int) -> type[BatchCreate]:
    """`BatchCreate` with at most `max_items` items: validation stops at the first item past
    it, so an oversized list is never built whole."""

    class LimitedBatchCreate(BatchCreate):
        items: list[BatchItemIn] = Field(min_length=1, max_length=max_items)

    LimitedBatchCreate.__name__ = BatchCreate.__name__
    return LimitedBatchCreate


class BatchOut(BaseModel):
    id: str
    reading: bool = Field(
        description="Rows are still being read into jobs: `total` and the counts still grow."
    )
    rows_read: int = Field(description="Rows read so far, valid or not.")
    total: int = Field(description="Jobs created (valid rows).")
    invalid_rows: int
    row_errors: list[RowError] = Field(description="The first 1000 invalid rows.")
    counts: dict[JobStatus, int] = Field(description="Jobs per status.")
    progress: float = Field(ge=0.0, le=1.0, description="Share of the jobs that are finished.")
    error: JobError | None = Field(
        default=None,
        description="Why reading the rows stopped early (`batch_unreadable`); the jobs "
        "created before still run and the batch completes.",
    )
    cancelled_at: datetime | None
    completed_at: datetime | None
    created_at: datetime
    results: str = Field(description="Where the results stream from (`?format=jsonl|csv`).")

    @classmethod
    def from_batch(cls, batch: Batch, counts: dict[str, int]) -> "BatchOut":
        finished = sum(n for status, n in counts.items() if JobStatus(status).terminal)
        return cls(
            id=batch.id,
            reading=not batch.sealed,
            rows_read=batch.rows_read,
            total=batch.total,
            invalid_rows=batch.invalid_rows,
            row_errors=batch.row_errors,
            counts={JobStatus(status): n for status, n in counts.items()},
            progress=finished / batch.total if batch.total else float(batch.sealed),
            error=batch.error,
            cancelled_at=batch.cancelled_at,
            completed_at=batch.completed_at,
            created_at=batch.created_at,
            results=f"{batch_path(batch.id)}/results",
        )
