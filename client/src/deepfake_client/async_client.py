"""The asynchronous client: the methods of `DetectionClient`, awaited.

async with AsyncDetectionClient("http://127.0.0.1:8080", api_key="dfk_...") as api:
    job = await api.wait((await api.submit_file("face.jpg")).id)
"""

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Unpack

from deepfake_client import routes
from deepfake_client.async_reviews import AsyncReviewMethods
from deepfake_client.calls import BatchFilters, BatchOptions, FileSource, JobFilters, JobOptions
from deepfake_client.models import (
    Batch,
    BatchPage,
    BatchResult,
    CallbackSecret,
    Delivery,
    DeliveryDetail,
    Job,
    JobPage,
    Model,
    Webhook,
    WebhookWithSecret,
)
from deepfake_client.polling import LONG_POLL_S, BatchFollow, JobWait
from deepfake_client.routes import BatchItem


class AsyncDetectionClient(AsyncReviewMethods):
    """`AsyncDetectionClient(base_url, api_key=..., timeout_s=30, retries=RetryPolicy())`.

    The reviewer methods come from `AsyncReviewMethods`."""

    # Jobs

    async def submit_url(
        self, image_url: str, *, idempotency_key: str | None = None, **options: Unpack[JobOptions]
    ) -> Job:
        return await self.send(routes.submit_url(image_url, idempotency_key, options))

    async def submit_file(
        self,
        file: FileSource,
        *,
        filename: str | None = None,
        idempotency_key: str | None = None,
        **options: Unpack[JobOptions],
    ) -> Job:
        """`file`: a path or the image's bytes."""
        return await self.send(routes.submit_file(file, filename, idempotency_key, options))

    async def get_job(self, job_id: str, *, wait_s: float = 0.0) -> Job:
        """The job; with `wait_s`, the server may hold the answer until the job ends."""
        return await self.send(routes.get_job(job_id, wait_s))

    async def wait(
        self, job_id: str, *, timeout_s: float = 300.0, long_poll_s: float = LONG_POLL_S
    ) -> Job:
        """The job once it succeeded or failed: long-polled, or polled with backoff from a
        server that does not hold answers. `JobTimeout` after `timeout_s`."""
        waiting = JobWait(job_id, timeout_s, long_poll_s)
        while True:
            hold_s, started = waiting.hold_s(), time.monotonic()
            job = await self.get_job(job_id, wait_s=hold_s)
            delay = waiting.after(job, hold_s, time.monotonic() - started)
            if delay is None:
                return job
            await asyncio.sleep(delay)

    async def delete_job(self, job_id: str) -> None:
        """The job, its result, its deliveries and its image, deleted for good."""
        await self.send(routes.delete_job(job_id))

    async def list_jobs(
        self, *, limit: int = 50, cursor: str | None = None, **filters: Unpack[JobFilters]
    ) -> JobPage:
        """One page, newest first; `next_cursor` asks for the next."""
        return await self.send(routes.list_jobs(limit, cursor, filters))

    async def iter_jobs(
        self, *, page_size: int = 100, **filters: Unpack[JobFilters]
    ) -> AsyncIterator[Job]:
        """Every job the filters select, newest first, a page at a time."""
        cursor: str | None = None
        while True:
            page = await self.list_jobs(limit=page_size, cursor=cursor, **filters)
            for item in page.items:
                yield item
            if (cursor := page.next_cursor) is None:
                return

    async def get_job_image(self, job_id: str, *, face: int | None = None) -> bytes:
        """The stored image the job was judged on, or a PNG of one face (`face` index)."""
        return await self.send(routes.get_job_image(job_id, face))

    async def list_models(self) -> list[Model]:
        return await self.send(routes.list_models())

    # Batches

    async def submit_batch(
        self,
        items: Sequence[BatchItem | Mapping[str, Any]],
        *,
        idempotency_key: str | None = None,
        **options: Unpack[BatchOptions],
    ) -> Batch:
        """Items `{"image_url", "external_id"?, "metadata"?}` as one batch."""
        return await self.send(routes.submit_batch(items, idempotency_key, options))

    async def submit_batch_file(
        self,
        file: FileSource,
        *,
        filename: str | None = None,
        idempotency_key: str | None = None,
        **options: Unpack[BatchOptions],
    ) -> Batch:
        """A CSV (`image_url`, `external_id`, `metadata` columns) or JSONL file, streamed."""
        return await self.send(routes.submit_batch_file(file, filename, idempotency_key, options))

    async def get_batch(self, batch_id: str) -> Batch:
        return await self.send(routes.get_batch(batch_id))

    async def list_batches(
        self, *, limit: int = 20, cursor: str | None = None, **filters: Unpack[BatchFilters]
    ) -> BatchPage:
        return await self.send(routes.list_batches(limit, cursor, filters))

    async def iter_batches(
        self, *, page_size: int = 100, **filters: Unpack[BatchFilters]
    ) -> AsyncIterator[Batch]:
        cursor: str | None = None
        while True:
            page = await self.list_batches(limit=page_size, cursor=cursor, **filters)
            for item in page.items:
                yield item
            if (cursor := page.next_cursor) is None:
                return

    async def cancel_batch(self, batch_id: str) -> Batch:
        """Queued jobs fail with `cancelled`; running ones finish."""
        return await self.send(routes.cancel_batch(batch_id))

    async def delete_batch(self, batch_id: str) -> None:
        await self.send(routes.delete_batch(batch_id))

    async def follow_batch(
        self,
        batch_id: str,
        *,
        interval_s: float = 1.0,
        max_interval_s: float = 10.0,
        timeout_s: float | None = None,
    ) -> AsyncIterator[Batch]:
        """The batch as it progresses, the last one completed (`JobTimeout` after
        `timeout_s`)."""
        following = BatchFollow(batch_id, interval_s, max_interval_s, timeout_s)
        while True:
            batch = await self.get_batch(batch_id)
            yield batch
            delay = following.after(batch)
            if delay is None:
                return
            await asyncio.sleep(delay)

    async def wait_batch(self, batch_id: str, *, timeout_s: float | None = None) -> Batch:
        async for batch in self.follow_batch(batch_id, timeout_s=timeout_s):
            if batch.done:
                return batch
        raise AssertionError("following ends with the batch completed")

    async def iter_batch_results(self, batch_id: str) -> AsyncIterator[BatchResult]:
        """Every job of the batch, streamed as the server reads them (unfinished ones too)."""
        async for line in self.stream_lines(routes.batch_results(batch_id)):
            yield BatchResult.model_validate_json(line)

    # Webhooks

    async def create_webhook(
        self, url: str, event_types: Sequence[str], *, description: str | None = None
    ) -> WebhookWithSecret:
        """Register an endpoint; the answer holds its `whsec_` secret, shown only here."""
        return await self.send(routes.create_webhook(url, event_types, description))

    async def list_webhooks(self) -> list[Webhook]:
        return await self.send(routes.list_webhooks())

    async def get_webhook(self, webhook_id: str) -> Webhook:
        return await self.send(routes.get_webhook(webhook_id))

    async def delete_webhook(self, webhook_id: str) -> None:
        await self.send(routes.delete_webhook(webhook_id))

    async def enable_webhook(self, webhook_id: str) -> Webhook:
        """Take an endpoint disabled after failing (or a 410) back into use."""
        return await self.send(routes.enable_webhook(webhook_id))

    async def rotate_webhook_secret(self, webhook_id: str) -> WebhookWithSecret:
        """A new secret; the old one also signs during the server's grace period."""
        return await self.send(routes.rotate_webhook_secret(webhook_id))

    async def get_callback_secret(self) -> CallbackSecret:
        """The secret that signs deliveries to this tenant's `callback_url`s."""
        return await self.send(routes.get_callback_secret())

    async def rotate_callback_secret(self) -> CallbackSecret:
        return await self.send(routes.rotate_callback_secret())

    async def list_deliveries(
        self,
        *,
        endpoint_id: str | None = None,
        job_id: str | None = None,
        status: str | None = None,
        limit: int = 50,
    ) -> list[Delivery]:
        """Most recent first."""
        return await self.send(routes.list_deliveries(endpoint_id, job_id, status, limit))

    async def get_delivery(self, delivery_id: str) -> DeliveryDetail:
        return await self.send(routes.get_delivery(delivery_id))

    async def redeliver(self, delivery_id: str) -> Delivery:
        """Send a finished delivery again, as a new series of attempts."""
        return await self.send(routes.redeliver(delivery_id))
