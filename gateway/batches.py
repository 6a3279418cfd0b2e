"""Creating bulk batches: the submitted rows are stored as they stream in and the batch is
answered at once; a worker then reads them into jobs on the low-priority bulk queues
(`worker.expand_batch`, storage.batch_intake)."""

import logging
from dataclasses import dataclass
from typing import BinaryIO

import anyio.to_thread

from gateway.errors import ApiError
from gateway.jobs import Submitter
from gateway.producer import TaskSender
from gateway.schemas import JobOptions
from storage.batch_repository import (
    Batch,
    BatchRepository,
    BatchSource,
    cancel_queued,
    complete_if_done,
)
from storage.batch_rows import RowFormat
from storage.errors import ErrorCode
from storage.job_repository import JobRepository
from storage.jobs import TaskName
from storage.netguard import validate_url
from storage.objects import ObjectStore
from storage.webhook_repository import WebhookRepository

logger = logging.getLogger(__name__)


@dataclass
class BatchSubmitter:
    submitter: Submitter
    jobs: JobRepository
    batches: BatchRepository
    webhooks: WebhookRepository
    tasks: TaskSender
    objects: ObjectStore

    async def create(
        self,
        options: JobOptions,
        rows: BinaryIO,
        length: int,
        row_format: RowFormat,
        tenant_id: str,
        rows_at_most: int,
    ) -> Batch:
        """Store the rows and answer: a worker reads them into jobs (`worker.expand_batch`).

        Room for `rows_at_most` jobs (at most the batch limit) is
        reserved in the tenant's open-jobs quota; a batch given less reads fewer rows."""
        settings = self.submitter.settings
        if options.callback_url is not None:
            validate_url(options.callback_url, max_length=settings.max_url_length)
        model, thresholds = await self.submitter.resolve(options)
        batch = Batch(
            tenant_id=tenant_id,
            model=model,
            thresholds=thresholds,
            mode=options.mode,
            callback_url=options.callback_url,
        )
        wanted = min(settings.max_batch_items, rows_at_most)
        async with self.submitter.quota.holding(tenant_id, wanted) as granted:
            await self._store(batch, rows, length, row_format, granted)
        return batch

    async def _store(
        self, batch: Batch, rows: BinaryIO, length: int, row_format: RowFormat, row_limit: int
    ) -> None:
        settings = self.submitter.settings
        tenant_id = batch.tenant_id
        key = await anyio.to_thread.run_sync(
            self.objects.put_batch_file, tenant_id, batch.id, rows, length
        )
        batch.source = BatchSource(
            object_key=key,
            row_format=row_format.value,
            row_limit=row_limit,
            max_items=settings.max_batch_items,
            max_url_length=settings.max_url_length,
            max_metadata_bytes=settings.max_metadata_bytes,
        )
        await self.batches.insert(batch)
        try:
            await self.tasks.send(TaskName.EXPAND_BATCH, [[batch.id]])
        except Exception as error:
            logger.exception("enqueue failed for batch %s", batch.id)
            await self.batches.delete(batch.id)
            message = "the job queue is unavailable; submit the batch again later"
            raise ApiError(503, ErrorCode.SERVICE_UNAVAILABLE, message) from error

    async def cancel(self, batch_id: str) -> None:
        await self.batches.mark_cancelled(batch_id)
        cancelled = await cancel_queued(batch_id, self.jobs)
        logger.info("batch %s: cancelled %d queued jobs", batch_id, cancelled)
        if cancelled == 0:
            await self.complete_if_done(batch_id)
            return
        # A worker emits their `job.failed` events, then completes the batch.
        try:
            await self.tasks.send(TaskName.EXPAND_BATCH, [[batch_id]])
        except Exception:
            # The reconciler emits events left pending; the batch completes with the last.
            logger.exception("batch %s: enqueue of its cancelled jobs' events failed", batch_id)

    async def complete_if_done(self, batch_id: str) -> None:
        deliveries = await complete_if_done(batch_id, self.batches, self.jobs, self.webhooks)
        if deliveries:
            await self.tasks.send(
                TaskName.DELIVER_WEBHOOK, [[d.id, d.series, 1] for d in deliveries]
            )
