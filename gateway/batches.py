"""Creating bulk batches: rows arrive in chunks, each chunk becomes jobs with one
`insert_many` and is enqueued on the low-priority bulk queue before the next is read."""

import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from gateway.batch_rows import Row
from gateway.errors import ApiError
from gateway.jobs import Submitter
from gateway.producer import TaskSender
from gateway.schemas import JobOptions
from storage.batches import Batch, BatchRepository, RowError, complete_if_done
from storage.errors import ErrorCode
from storage.jobs import Job, JobError, SourceKind, TaskName
from storage.netguard import validate_url
from storage.repository import JobRepository
from storage.webhook_repository import WebhookRepository

logger = logging.getLogger(__name__)

Chunk = Sequence[Row | RowError]
_CANCELLED = JobError(code=ErrorCode.CANCELLED, message="the batch was cancelled")


@dataclass
class BatchSubmitter:
    submitter: Submitter
    jobs: JobRepository
    batches: BatchRepository
    webhooks: WebhookRepository
    tasks: TaskSender

    async def create(self, options: JobOptions, chunks: AsyncIterator[Chunk]) -> Batch:
        settings = self.submitter.settings
        if options.callback_url is not None:
            validate_url(options.callback_url, max_length=settings.max_url_length)
        model, thresholds = await self.submitter.resolve(options)
        batch = Batch(
            model=model, thresholds=thresholds, mode=options.mode, callback_url=options.callback_url
        )
        # The first chunk is read before anything is stored: an unreadable file stores nothing.
        chunk: Chunk | None = await anext(chunks, None)
        await self.batches.insert(batch)
        read = 0
        while chunk:
            room = settings.max_batch_items - read
            if len(chunk) > room:
                dropped = chunk[room]
                line = dropped.number if isinstance(dropped, Row) else dropped.row
                chunk = [*chunk[:room], _too_many(line, settings.max_batch_items)]
            read += len(chunk)
            await self._add(batch, chunk)
            if read >= settings.max_batch_items or await self._cancelled(batch.id):
                break
            chunk = await anext(chunks, None)
        await self.batches.seal(batch.id)
        if await self._cancelled(batch.id):
            # Cancelled while rows were still arriving: what was queued since is cancelled too.
            await self.jobs.fail_queued_of_batch(batch.id, _CANCELLED)
        await self.complete_if_done(batch.id)
        stored = await self.batches.get(batch.id)
        assert stored is not None
        return stored

    async def cancel(self, batch_id: str) -> None:
        await self.batches.mark_cancelled(batch_id)
        cancelled = await self.jobs.fail_queued_of_batch(batch_id, _CANCELLED)
        logger.info("batch %s: cancelled %d queued jobs", batch_id, cancelled)
        await self.complete_if_done(batch_id)

    async def _cancelled(self, batch_id: str) -> bool:
        return await self.batches.is_cancelled(batch_id)

    async def complete_if_done(self, batch_id: str) -> None:
        deliveries = await complete_if_done(batch_id, self.batches, self.jobs, self.webhooks)
        if deliveries:
            await self.tasks.send(
                TaskName.DELIVER_WEBHOOK, [[d.id, d.series, 1] for d in deliveries]
            )

    async def _add(self, batch: Batch, chunk: Chunk) -> None:
        errors = [row for row in chunk if isinstance(row, RowError)]
        jobs = [
            Job(
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
        await self.jobs.insert_many(jobs)
        await self.batches.record_rows(batch.id, len(jobs), errors)
        try:
            await self.tasks.send(TaskName.FETCH_IMAGE, [[job.id] for job in jobs], bulk=True)
        except Exception as error:
            # Recorded but nobody will run them: close the batch rather than leave it queued.
            logger.exception("enqueue failed for batch %s", batch.id)
            message = "the job queue is unavailable; submit the remaining rows again later"
            failure = JobError(code=ErrorCode.SERVICE_UNAVAILABLE, message=message)
            await self.jobs.fail_queued_of_batch(batch.id, failure)
            await self.batches.seal(batch.id)
            await self.complete_if_done(batch.id)
            raise ApiError(503, ErrorCode.SERVICE_UNAVAILABLE, message) from error


def _too_many(row: int, limit: int) -> RowError:
    message = f"a batch holds at most {limit} rows; this row and the rest were not read"
    return RowError(row=row, code=ErrorCode.INVALID_REQUEST, message=message)
