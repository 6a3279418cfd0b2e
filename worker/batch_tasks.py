"""Reading a submitted batch into jobs (`POST /v1/batches` answers before this runs), and
wrapping up a cancelled one.

One task reads up to `batch_chunks_per_task` chunks, then hands the rest to a new task, so
no task runs long and a 100,000-row file is read in steps, each resumable (see
storage.batch_intake). When the last row is read, the batch is sealed: from then on it
completes when its last job finishes.

A reading task that fails for anything but an outage of MongoDB or the object store, or
dies, counts against the batch; after `MAX_READ_ATTEMPTS` without a chunk counted, the rest
of the file becomes one `batch_unreadable` row error and the batch is sealed: the jobs
already created run, and `batch.completed` is sent when they end.

For a cancelled batch the same task emits the `job.failed` events of the jobs the cancel
failed, in bounded steps, then completes the batch; the reconciler's lost-event pass
emits whatever a lost task left pending.
"""

import contextlib
import logging
from datetime import timedelta

from celery import Task
from kombu.exceptions import KombuError
from minio.error import S3Error
from pymongo.errors import ConnectionFailure, PyMongoError
from redis.exceptions import RedisError
from urllib3.exceptions import HTTPError as Urllib3Error

from storage.batch_intake import (
    CHUNK_ROWS,
    Chunk,
    Enqueue,
    Taken,
    limit_chunk,
    remaining_rows,
    take_chunk,
)
from storage.batch_repository import MAX_READ_ATTEMPTS, Batch, cancel_queued
from storage.batch_rows import text_lines
from storage.errors import ErrorCode
from storage.jobs import TaskName, task_queue, utcnow
from storage.webhooks import EventType
from worker.celery_app import app
from worker.job_ends import announce_end
from worker.micro_batch_tasks import fetch_images
from worker.runtime import Runtime, get_runtime
from worker.settings import get_settings
from worker.tasks import backoff_s
from worker.webhook_tasks import complete_batch, emit_job_event

logger = logging.getLogger(__name__)

# Events of cancelled jobs emitted per task: a 100,000-row cancel is many short tasks.
EVENTS_PER_TASK = 500
_UNREADABLE = "the rest of the file could not be read; its rows were not read"


def is_outage(error: BaseException) -> bool:
    """A failure of a store that may pass, which says nothing about the batch's file."""
    if isinstance(error, S3Error):
        return error.code not in ("NoSuchKey", "NoSuchBucket", "AccessDenied")
    return isinstance(error, (ConnectionFailure, Urllib3Error, KombuError, RedisError, OSError))


@app.task(name=TaskName.EXPAND_BATCH.value, bind=True, max_retries=None)  # type: ignore[untyped-decorator]
def expand_batch(self: Task, batch_id: str) -> None:
    runtime = get_runtime(get_settings())
    retry = runtime.settings.retry
    try:
        finished = _expand(runtime, batch_id)
    except Exception as error:
        if is_outage(error):
            logger.warning("batch %s: reading interrupted: %s", batch_id, error)
            _forget_attempt(runtime, batch_id)
        else:
            logger.exception("batch %s: reading failed", batch_id)
            if _attempts(runtime, batch_id) >= MAX_READ_ATTEMPTS:
                if not _give_up(runtime, batch_id):
                    expand_batch.apply_async(args=[batch_id])
                return
        if self.request.retries >= retry.max_retries:
            logger.error("batch %s: reading stopped; the reconciler resumes it", batch_id)
            return
        raise self.retry(countdown=backoff_s(self.request.retries, retry), exc=error) from error
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
    """Read the next chunks, or wrap up a cancel; True when nothing is left to do."""
    batch = runtime.run(runtime.batches.get(batch_id))
    if batch is None:
        return True
    if batch.sealed or batch.source is None:
        return batch.cancelled_at is None or emit_cancelled(runtime, batch)
    if batch.read_attempts >= MAX_READ_ATTEMPTS:
        # The tasks before this one failed or died reading the same rows.
        logger.error("batch %s: %d reading tasks failed; giving up", batch_id, batch.read_attempts)
        return _give_up(runtime, batch_id)
    if batch.cancelled_at is not None:
        return _finish(runtime, batch)  # rows not read yet when it was cancelled are not read
    runtime.run(runtime.batches.start_reading(batch_id))
    source = batch.source
    rows_read = batch.rows_read
    with runtime.objects.open_chunks(source.object_key) as chunks:
        lines = text_lines(chunks, source.max_line_chars)
        rows = remaining_rows(lines, source, rows_read)
        for _ in range(runtime.settings.batch_chunks_per_task):
            chunk: Chunk = [row for _, row in zip(range(CHUNK_ROWS), rows, strict=False)]
            chunk, limit_hit = limit_chunk(chunk, rows_read, source)
            if not chunk:
                break
            taken = runtime.run(
                take_chunk(batch, chunk, rows_read, runtime.jobs, runtime.batches, _enqueuer())
            )
            if taken is Taken.BY_ANOTHER:
                return True  # that reader carries on from there
            if taken is Taken.STOPPED:
                break  # cancelled (finished below) or deleted
            rows_read += len(chunk)
            if limit_hit or runtime.run(runtime.batches.is_cancelled(batch_id)):
                break
        else:
            return False
    return _finish(runtime, batch)


def _enqueuer() -> Enqueue:
    queue = task_queue(TaskName.FETCH_IMAGES, bulk=True).value

    async def enqueue(job_ids: list[str]) -> None:
        for job_id in job_ids:
            fetch_images.apply_async(args=[job_id], queue=queue)

    return enqueue


def _finish(runtime: Runtime, batch: Batch) -> bool:
    """Seal the batch (gone: nothing to do); True when nothing is left to do."""
    if runtime.run(runtime.batches.get(batch.id)) is None:
        _delete_rows_file(runtime, batch)
        return True
    runtime.run(runtime.batches.seal(batch.id))
    _delete_rows_file(runtime, batch)
    logger.info("batch %s: reading ended", batch.id)
    if runtime.run(runtime.batches.is_cancelled(batch.id)):
        # Cancelled while rows were being read: what was queued since is cancelled too.
        runtime.run(cancel_queued(batch.id, runtime.jobs))
        return emit_cancelled(runtime, batch)
    complete_batch(runtime, batch.id)
    return True


def emit_cancelled(runtime: Runtime, batch: Batch) -> bool:
    """Emit the `job.failed` events of up to EVENTS_PER_TASK jobs the cancel failed (each
    counted on the batch's finished marks as it is emitted); once none is left, complete
    the batch if nothing else of it runs. True when none is left."""
    job_ids = runtime.run(
        runtime.jobs.pending_failures_of_batch(batch.id, ErrorCode.CANCELLED.value, EVENTS_PER_TASK)
    )
    endpoints = None
    if job_ids:
        endpoints = runtime.run(
            runtime.webhooks.endpoints_for(EventType.JOB_FAILED, batch.tenant_id)
        )
    emitted = 0
    for job_id in job_ids:
        announce_end(runtime, job_id)
        emitted += emit_job_event(runtime, job_id, endpoints)
    if len(job_ids) == EVENTS_PER_TASK and emitted:
        return False
    if len(job_ids) == EVENTS_PER_TASK:
        # None could be emitted (a store failing): the reconciler's lost-event pass emits
        # them later, instead of this task coming straight back to the same jobs.
        logger.warning("batch %s: cancelled jobs' events left to the reconciler", batch.id)
        return True
    complete_batch(runtime, batch.id)
    return True


def _delete_rows_file(runtime: Runtime, batch: Batch) -> None:
    if batch.source is None:
        return
    try:
        runtime.objects.delete_image(batch.source.object_key)
    except (S3Error, Urllib3Error, OSError):
        # Deleted again with the batch, by retention or a delete.
        logger.warning("batch %s: its rows file was not deleted", batch.id)


def _attempts(runtime: Runtime, batch_id: str) -> int:
    try:
        batch = runtime.run(runtime.batches.get(batch_id))
    except PyMongoError:
        return 0
    return 0 if batch is None else batch.read_attempts


def _forget_attempt(runtime: Runtime, batch_id: str) -> None:
    # MongoDB down: the attempt was not counted either.
    with contextlib.suppress(PyMongoError):
        runtime.run(runtime.batches.forget_attempt(batch_id))


def _give_up(runtime: Runtime, batch_id: str) -> bool:
    """End the batch's reading with `batch_unreadable`; True when nothing is left to do."""
    try:
        runtime.run(runtime.batches.give_up_reading(batch_id, _UNREADABLE))
        batch = runtime.run(runtime.batches.get(batch_id))
        return batch is None or _finish(runtime, batch)
    except Exception:
        # The next resume pass starts again from the attempts count.
        logger.exception("batch %s: ending its reading failed", batch_id)
    return True
