"""Reading a submitted batch into jobs (`POST /v1/batches` answers before this runs).

One task reads up to `batch_chunks_per_task` chunks, then hands the rest to a new task, so
no task runs long and a 100,000-row file is read in steps, each resumable (see
storage.batch_intake). When the last row is read, the batch is sealed: from then on it
completes when its last job finishes.
"""

import logging
from datetime import timedelta

from celery import Task
from kombu.exceptions import KombuError
from minio.error import S3Error
from pymongo.errors import PyMongoError
from urllib3.exceptions import HTTPError as Urllib3Error

from storage.batch_intake import CHUNK_ROWS, Chunk, Enqueue, limit_chunk, remaining_rows, take_chunk
from storage.batch_rows import BatchFileError, text_lines
from storage.batches import Batch, RowError, cancel_queued
from storage.errors import ErrorCode
from storage.jobs import TaskName, task_queue, utcnow
from worker.celery_app import app
from worker.runtime import Runtime, get_runtime
from worker.settings import get_settings
from worker.tasks import backoff_s, fetch_image
from worker.webhook_tasks import complete_batch

logger = logging.getLogger(__name__)


@app.task(name=TaskName.EXPAND_BATCH.value, bind=True, max_retries=None)  # type: ignore[untyped-decorator]
def expand_batch(self: Task, batch_id: str) -> None:
    runtime = get_runtime(get_settings())
    try:
        finished = _expand(runtime, batch_id)
    except (PyMongoError, S3Error, Urllib3Error, OSError) as error:
        retry = runtime.settings.retry
        if self.request.retries >= retry.max_retries:
            # The reconciler picks an unsealed batch up again later.
            logger.error("batch %s: reading stopped: %s", batch_id, error)
            return
        delay = backoff_s(self.request.retries, retry)
        logger.warning("batch %s: %s, retry in %.1fs", batch_id, error, delay)
        raise self.retry(countdown=delay, exc=error) from error
    if not finished:
        expand_batch.apply_async(args=[batch_id])


@app.task(name=TaskName.RESUME_BATCHES.value)  # type: ignore[untyped-decorator]
def resume_batches() -> None:
    """Batches whose reading stalled (a lost task, retries exhausted): read on. A batch
    still being read is harmless to resume: chunks are counted once."""
    settings = get_settings()
    runtime = get_runtime(settings)
    before = utcnow() - timedelta(seconds=settings.reconciler.stuck_after_s)
    try:
        stalled = runtime.run(runtime.batches.stalled(before, settings.reconciler.batch_limit))
        for batch_id in stalled:
            logger.warning("batch %s: reading stalled; resuming it", batch_id)
            expand_batch.apply_async(args=[batch_id])
    except (PyMongoError, KombuError, OSError) as error:
        logger.warning("resuming batches failed: %s", error)


def _expand(runtime: Runtime, batch_id: str) -> bool:
    """Read the next chunks; True when nothing is left to read."""
    batch = runtime.run(runtime.batches.get(batch_id))
    if batch is None or batch.sealed or batch.source is None:
        return True
    source = batch.source
    rows_read = batch.rows_read
    with runtime.objects.open_chunks(source.object_key) as chunks:
        rows = remaining_rows(text_lines(chunks), source, rows_read)
        for _ in range(runtime.settings.batch_chunks_per_task):
            try:
                chunk: Chunk = [row for _, row in zip(range(CHUNK_ROWS), rows, strict=False)]
            except BatchFileError as error:
                chunk = [RowError(row=1, code=ErrorCode.INVALID_REQUEST, message=str(error))]
            chunk, limit_hit = limit_chunk(chunk, rows_read, source)
            if not chunk:
                break
            counted = runtime.run(
                take_chunk(batch, chunk, rows_read, runtime.jobs, runtime.batches, _enqueuer())
            )
            if not counted:
                # Another task read these rows first and carries on from there.
                return True
            rows_read += len(chunk)
            if limit_hit or runtime.run(runtime.batches.is_cancelled(batch_id)):
                break
        else:
            return False
    _finish(runtime, batch)
    return True


def _enqueuer() -> Enqueue:
    queue = task_queue(TaskName.FETCH_IMAGE, bulk=True).value

    async def enqueue(job_ids: list[str]) -> None:
        for job_id in job_ids:
            fetch_image.apply_async(args=[job_id], queue=queue)

    return enqueue


def _finish(runtime: Runtime, batch: Batch) -> None:
    runtime.run(runtime.batches.seal(batch.id))
    if runtime.run(runtime.batches.is_cancelled(batch.id)):
        # Cancelled while rows were being read: what was queued since is cancelled too.
        runtime.run(cancel_queued(batch.id, runtime.batches, runtime.jobs))
    complete_batch(runtime, batch.id)
    if batch.source is not None:
        try:
            runtime.objects.delete_image(batch.source.object_key)
        except (S3Error, Urllib3Error, OSError):
            logger.warning("batch %s: its rows file was not deleted", batch.id)
    logger.info("batch %s: all rows read", batch.id)
