"""Turning a stored batch file into jobs, a chunk at a time, safely resumable.

The gateway stores the submitted rows and answers at once; a worker reads them here. Each
chunk is inserted with job IDs derived from the batch and the row, counted on the batch
with a conditional update on `rows_read` (and on the batch being there, not cancelled),
and only then enqueued: a worker that dies mid-chunk leaves the chunk uncounted, and the
next one reads it again, inserting nothing twice; a reader that lost a race with a cancel
or a delete removes the jobs it inserted, which nothing had been told to run.
"""

import base64
import hashlib
import itertools
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from enum import Enum

from storage.batch_repository import Batch, BatchRepository, BatchSource, ChunkCount, RowError
from storage.batch_rows import Row, RowFormat, RowLimits, parse_rows
from storage.errors import ErrorCode
from storage.job_repository import JobRepository
from storage.jobs import Job, SourceKind

CHUNK_ROWS = 500
Chunk = Sequence[Row | RowError]
Enqueue = Callable[[list[str]], Awaitable[None]]


def batch_job_id(batch_id: str, row: int) -> str:
    """The same row of the same batch always gets the same job ID."""
    digest = hashlib.sha256(f"{batch_id}\n{row}".encode()).digest()[:16]
    return "job_" + base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def remaining_rows(
    lines: Iterable[str], source: BatchSource, skip: int
) -> Iterator[Row | RowError]:
    """The rows after the first `skip` (valid or not), as parsed from the file."""
    limits = RowLimits(
        source.max_url_length,
        source.max_metadata_bytes,
        source.max_line_chars,
        source.max_field_chars,
    )
    rows = parse_rows(lines, RowFormat(source.row_format), limits)
    return itertools.islice(rows, skip, None)


def limit_chunk(chunk: Chunk, rows_before: int, source: BatchSource) -> tuple[Chunk, bool]:
    """The part of `chunk` within the batch's row limit, and whether the limit was hit
    (the row past it becomes an error saying why the rest was not read)."""
    room = source.row_limit - rows_before
    if len(chunk) <= room:
        return chunk, False
    return [*chunk[:room], too_many(line_of(chunk[room]), source)], True


def line_of(row: Row | RowError) -> int:
    return row.number if isinstance(row, Row) else row.row


def too_many(row: int, source: BatchSource) -> RowError:
    if source.row_limit < source.max_items:
        message = (
            f"the tenant could open only {source.row_limit} more jobs when the batch was "
            "submitted; this row and the rest were not read"
        )
        return RowError(row=row, code=ErrorCode.TOO_MANY_OPEN_JOBS, message=message)
    message = f"a batch holds at most {source.max_items} rows; this row and the rest were not read"
    return RowError(row=row, code=ErrorCode.INVALID_REQUEST, message=message)


class Taken(Enum):
    COUNTED = "counted"
    # Another reader counted these rows first and carries on from there.
    BY_ANOTHER = "by_another"
    # The batch was cancelled or deleted: reading stops, the chunk's jobs were removed.
    STOPPED = "stopped"


async def take_chunk(
    batch: Batch,
    chunk: Chunk,
    rows_before: int,
    jobs: JobRepository,
    batches: BatchRepository,
    enqueue: Enqueue,
) -> Taken:
    """Create, count and enqueue the chunk's jobs."""
    created = [
        Job(
            id=batch_job_id(batch.id, row.number),
            tenant_id=batch.tenant_id,
            source=SourceKind.URL,
            image_url=row.image_url,
            metadata=row.metadata,
            model=batch.model,
            thresholds=batch.thresholds,
            mode=batch.mode,
            batch_id=batch.id,
            external_id=row.external_id,
        )
        for row in chunk
        if isinstance(row, Row)
    ]
    await jobs.insert_new(created)
    count = ChunkCount(
        rows_before=rows_before,
        rows_after=rows_before + len(chunk),
        last_line=line_of(chunk[-1]) if chunk else 0,
        added=len(created),
        errors=[row for row in chunk if isinstance(row, RowError)],
    )
    job_ids = [job.id for job in created]
    if await batches.record_chunk(batch.id, count):
        if job_ids:
            await enqueue(job_ids)
        return Taken.COUNTED
    current = await batches.get(batch.id)
    if current is not None and current.rows_read != rows_before:
        return Taken.BY_ANOTHER
    # Gone, or cancelled before these rows were counted: nobody was told to run these jobs
    # (a reader enqueues only what it counted), so they go.
    await jobs.delete_ids(job_ids)
    return Taken.STOPPED
