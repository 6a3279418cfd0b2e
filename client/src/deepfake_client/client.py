"""The synchronous client: one method per route, plus waiting, following and paging.

with DetectionClient("http://127.0.0.1:8080", api_key="dfk_...") as api:
    job = api.wait(api.submit_file("face.jpg").id)
    print(job.result.verdict if job.result else job.error)
"""

import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Unpack

from deepfake_client import routes
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
from deepfake_client.reviews import ReviewMethods
from deepfake_client.routes import BatchItem


class DetectionClient(ReviewMethods):
    """`DetectionClient(base_url, api_key=..., timeout_s=30, retries=RetryPolicy())`.

    Submissions carry an `Idempotency-Key` (a fresh one unless given), so a retried
    submission never creates a second job or batch. The reviewer methods (reviews, the
    labelled set, explanations) come from `ReviewMethods`."""

    # Jobs

    def submit_url(
        self, image_url: str, *, idempotency_key: str | None = None, **options: Unpack[JobOptions]
    ) -> Job:
        return self.send(routes.submit_url(image_url, idempotency_key, options))

    def submit_file(
        self,
        file: FileSource,
        *,
        filename: str | None = None,
        idempotency_key: str | None = None,
        **options: Unpack[JobOptions],
    ) -> Job:
        """`file`: a path or the image's bytes."""
        return self.send(routes.submit_file(file, filename, idempotency_key, options))

    def get_job(self, job_id: str, *, wait_s: float = 0.0) -> Job:
        """The job; with `wait_s`, the server may hold the answer until the job ends."""
        return self.send(routes.get_job(job_id, wait_s))

    def wait(
        self, job_id: str, *, timeout_s: float = 300.0, long_poll_s: float = LONG_POLL_S
    ) -> Job:
        """The job once it succeeded or failed: long-polled, or polled with backoff from a
        server that does not hold answers. `JobTimeout` after `timeout_s`."""
        waiting = JobWait(job_id, timeout_s, long_poll_s)
        while True:
            hold_s, started = waiting.hold_s(), time.monotonic()
            job = self.get_job(job_id, wait_s=hold_s)
            delay = waiting.after(job, hold_s, time.monotonic() - started)
            if delay is None:
                return job
            time.sleep(delay)

    def delete_job(self, job_id: str) -> None:
        """The job, its result, its deliveries and its image, deleted for good."""
        self.send(routes.delete_job(job_id))

    def list_jobs(
        self, *, limit: int = 50, cursor: str | None = None, **filters: Unpack[JobFilters]
    ) -> JobPage:
        """One page, newest first; `next_cursor` asks for the next."""
        return self.send(routes.list_jobs(limit, cursor, filters))

    def iter_jobs(self, *, page_size: int = 100, **filters: Unpack[JobFilters]) -> Iterator[Job]:
        """Every job the filters select, newest first, a page at a time."""
        cursor: str | None = None
        while True:
            page = self.list_jobs(limit=page_size, cursor=cursor, **filters)
            yield from page.items
            if (cursor := page.next_cursor) is None:
                return

    def get_job_image(self, job_id: str, *, face: int | None = None) -> bytes:
        """The stored image the job was judged on, or a PNG of one face (`face` index)."""
        return self.send(routes.get_job_image(job_id, face))

    def list_models(self) -> list[Model]:
        return self.send(routes.list_models())

    # Batches

    def submit_batch(
        self,
        items: Sequence[BatchItem | Mapping[str, Any]],
        *,
        idempotency_key: str | None = None,
        **options: Unpack[BatchOptions],
    ) -> Batch:
        """Items `{"image_url", "external_id"?, "metadata"?}` as one batch."""
        return self.send(routes.submit_batch(items, idempotency_key, options))

    def submit_batch_file(
        self,
        file: FileSource,
        *,
        filename: str | None = None,
        idempotency_key: str | None = None,
        **options: Unpack[BatchOptions],
    ) -> Batch:
        """A CSV (`image_url`, `external_id`, `metadata` columns) or JSONL file, streamed."""
        return self.send(routes.submit_batch_file(file, filename, idempotency_key, options))

    def get_batch(self, batch_id: str) -> Batch:
        return self.send(routes.get_batch(batch_id))

    def list_batches(
        self, *, limit: int = 20, cursor: str | None = None, **filters: Unpack[BatchFilters]
    ) -> BatchPage:
        return self.send(routes.list_batches(limit, cursor, filters))

    def iter_batches(
        self, *, page_size: int = 100, **filters: Unpack[BatchFilters]
    ) -> Iterator[Batch]:
        cursor: str | None = None
        while True:
            page = self.list_batches(limit=page_size, cursor=cursor, **filters)
            yield from page.items
            if (cursor := page.next_cursor) is None:
                return

    def cancel_batch(self, batch_id: str) -> Batch:
        """Queued jobs fail with `cancelled`; running ones finish."""
        return self.send(routes.cancel_batch(batch_id))

    def delete_batch(self, batch_id: str) -> None:
        self.send(routes.delete_batch(batch_id))

    def follow_batch(
        self,
        batch_id: str,
        *,
        interval_s: float = 1.0,
        max_interval_s: float = 10.0,
        timeout_s: float | None = None,
    ) -> Iterator[Batch]:
        """The batch as it progresses, the last one completed (`JobTimeout` after
        `timeout_s`)."""
        following = BatchFollow(batch_id, interval_s, max_interval_s, timeout_s)
        while True:
            batch = self.get_batch(batch_id)
            yield batch
            delay = following.after(batch)
            if delay is None:
                return
            time.sleep(delay)

    def wait_batch(self, batch_id: str, *, timeout_s: float | None = None) -> Batch:
        *_, completed = self.follow_batch(batch_id, timeout_s=timeout_s)
        return completed

    def iter_batch_results(self, batch_id: str) -> Iterator[BatchResult]:
        """Every job of the batch, streamed as the server reads them (unfinished ones too)."""
        for line in self.stream_lines(routes.batch_results(batch_id)):
            yield BatchResult.model_validate_json(line)

    # Webhooks

    def create_webhook(
        self, url: str, event_types: Sequence[str], *, description: str | None = None
    ) -> WebhookWithSecret:
        """Register an endpoint; the answer holds its `whsec_` secret, shown only here."""
        return self.send(routes.create_webhook(url, event_types, description))

    def list_webhooks(self) -> list[Webhook]:
        return self.send(routes.list_webhooks())

    def get_webhook(self, webhook_id: str) -> Webhook:
        return self.send(routes.get_webhook(webhook_id))

    def delete_webhook(self, webhook_id: str) -> None:
        self.send(routes.delete_webhook(webhook_id))

    def enable_webhook(self, webhook_id: str) -> Webhook:
        """Take an endpoint disabled after failing (or a 410) back into use."""
        return self.send(routes.enable_webhook(webhook_id))

    def rotate_webhook_secret(self, webhook_id: str) -> WebhookWithSecret:
        """A new secret; the old one also signs during the server's grace period."""
        return self.send(routes.rotate_webhook_secret(webhook_id))

    def get_callback_secret(self) -> CallbackSecret:
        """The secret that signs deliveries to this tenant's `callback_url`s."""
        return self.send(routes.get_callback_secret())

    def rotate_callback_secret(self) -> CallbackSecret:
        return self.send(routes.rotate_callback_secret())

    def list_deliveries(
        self,
        *,
        endpoint_id: str | None = None,
        job_id: str | None = None,
        status: str | None = None,
        limit: int = 50,
    ) -> list[Delivery]:
        """Most recent first."""
        return self.send(routes.list_deliveries(endpoint_id, job_id, status, limit))

    def get_delivery(self, delivery_id: str) -> DeliveryDetail:
        return self.send(routes.get_delivery(delivery_id))

    def redeliver(self, delivery_id: str) -> Delivery:
        """Send a finished delivery again, as a new series of attempts."""
        return self.send(routes.redeliver(delivery_id))
