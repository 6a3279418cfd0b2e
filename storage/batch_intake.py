"""Turning a stored batch file into jobs, a chunk at a time, safely resumable.

The gateway stores the submitted rows and answers at once; a worker reads them here. Each
chunk is inserted with job IDs derived from the batch and the row, enqueued, and then
counted on the batch with a conditional update on `rows_read`: a worker that dies mid-chunk
leaves the chunk uncounted, and the next one reads it again, inserting nothing twice.
"""

import base64
import hashlib
import itertools
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence

from storage.batch_rows import Row, RowFormat, RowLimits, parse_rows
from storage.batches import Batch, BatchRepository, BatchSource, RowError
from storage.errors import ErrorCode
from storage.jobs import Job, SourceKind
from storage.repository import JobRepository

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
    limits = RowLimits(source.max_url_length, source.max_metadata_bytes)
    rows = parse_rows(lines, RowFormat(source.row_format), limits)
    return itertools.islice(rows, skip, None)


def limit_chunk(chunk: Chunk, rows_before: int, source: BatchSource) -> tuple[Chunk, bool]:
    """The part of `chunk` within the batch's row limit, and whether the limit was hit
    (the row past it becomes an error saying why the rest was not read)."""
    room = source.row_limit - rows_before
    if len(chunk) <= room:
        return chunk, False
    dropped = chunk[room]
    line = dropped.number if isinstance(dropped, Row) else dropped.row
    return [*chunk[:room], too_many(line, source)], True


def too_many(row: int, source: BatchSource) -> RowError:
    if source.row_limit < source.max_items:
        message = (
            f"the tenant could open only {source.row_limit} more jobs when the batch was "
            "submitted; this row and the rest were not read"
        )
        return RowError(row=row, code=ErrorCode.TOO_MANY_OPEN_JOBS, message=message)
    message = f"a batch holds at most {source.max_items} rows; this row and the rest were not read"
    return RowError(row=row, code=ErrorCode.INVALID_REQUEST, message=message)


async def take_chunk(
    batch: Batch,
    chunk: Chunk,
    rows_before: int,
    jobs: JobRepository,
    batches: BatchRepository,
    enqueue: Enqueue,
) -> bool:
    """Create, enqueue and count the chunk's jobs; False if another reader counted it."""
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
    if created:
        await enqueue([job.id for job in created])
    errors = [row for row in chunk if isinstance(row, RowError)]
    return await batches.record_chunk(
        batch.id, rows_before, rows_before + len(chunk), len(created), errors
    )
