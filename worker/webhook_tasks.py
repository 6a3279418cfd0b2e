"""Webhook events: created once when a job ends, delivered by `worker.deliver_webhook`.

`emit_job_event` runs only after the job's conditional transition to a terminal state
actually happened, and each delivery's id derives from (event, destination), so a task
that runs twice neither creates nor enqueues a second delivery.
"""

import json
import logging
from datetime import timedelta

from celery import Task
from pymongo.errors import PyMongoError

from storage.batches import complete_if_done
from storage.job_view import JobOut
from storage.jobs import Job, TaskName, utcnow
from storage.signing import sign
from storage.webhooks import (
    JOB_EVENTS,
    Attempt,
    Delivery,
    DeliveryStatus,
    DestinationKind,
    EventType,
    WebhookEndpoint,
    delivery_id,
    event_message_id,
)
from worker import metrics
from worker.celery_app import app
from worker.runtime import Runtime, get_runtime
from worker.settings import get_settings
from worker.webhooks import AttemptResult, Decision, decide, post_webhook

logger = logging.getLogger(__name__)

_STORE_RETRIES = 5


def emit_job_event(
    runtime: Runtime, job_id: str, endpoints: list[WebhookEndpoint] | None = None
) -> None:
    """Create and enqueue one delivery per destination of the job's terminal event, and
    complete the job's batch if it was the last one; then clear the job's `event_pending`.
    `endpoints`: the subscribed endpoints already looked up (`event_endpoints`), if any.

    Never raises: the job's outcome is already recorded and must not be retried over a
    lost event. Whatever a crash or an outage leaves undone, the reconciler redoes: an
    event still pending is emitted again (creating a delivery twice is a no-op), a delivery
    never enqueued is enqueued.
    """
    try:
        created = runtime.run(_emit(runtime, job_id, endpoints))
    except Exception:
        logger.exception("job %s: its event could not be emitted; it stays pending", job_id)
        return
    try:
        enqueue_deliveries(created)
    except Exception:
        logger.exception("job %s: a delivery could not be enqueued", job_id)


def enqueue_deliveries(deliveries: list[Delivery]) -> None:
    """Send the first attempt of each new delivery."""
    for delivery in deliveries:
        deliver_webhook.apply_async(args=[delivery.id, delivery.series, 1])


def complete_batch(runtime: Runtime, batch_id: str) -> None:
    """Complete the batch if nothing of it is left to run, and send its event."""
    enqueue_deliveries(
        runtime.run(complete_if_done(batch_id, runtime.batches, runtime.jobs, runtime.webhooks))
    )


async def event_endpoints(
    runtime: Runtime, job: Job, event_type: EventType
) -> list[WebhookEndpoint] | None:
    """The tenant's endpoints subscribed to the `event_type` event `job` is about to end
    with; None when nothing at all receives it (no endpoint, no callback URL, no batch,
    which counts its ends). Asked before the terminal update, so that a job nobody listens
    to ends without an event to emit (an endpoint registered in between is treated as
    registered after the job ended)."""
    endpoints = await runtime.webhooks.endpoints_for(event_type, job.tenant_id)
    if endpoints or job.callback_url is not None or job.batch_id is not None:
        return endpoints
    return None


async def _emit(
    runtime: Runtime, job_id: str, endpoints: list[WebhookEndpoint] | None
) -> list[Delivery]:
    job = await runtime.jobs.get(job_id)
    if job is None or not job.status.terminal:
        return []
    created = await _create_deliveries(runtime, job, endpoints)
    # Counted before the event is marked emitted: a crash in between counts it twice, which
    # costs one exact check, never a batch left incomplete.
    if job.batch_id is not None and await runtime.batches.mark_finished(job.batch_id):
        created += await complete_if_done(
            job.batch_id, runtime.batches, runtime.jobs, runtime.webhooks
        )
    await runtime.jobs.mark_event_emitted(job_id)
    return created


async def _create_deliveries(
    runtime: Runtime, job: Job, endpoints: list[WebhookEndpoint] | None
) -> list[Delivery]:
    event_type = JOB_EVENTS.get(job.status)
    if event_type is None:
        return []
    if endpoints is None:
        endpoints = await runtime.webhooks.endpoints_for(event_type, job.tenant_id)
    metrics.job_finished(job)  # a rare second emission (after a crash) records it twice
    message_id = event_message_id(job.id, event_type)
    payload = {
        "type": event_type.value,
        "timestamp": job.updated_at.isoformat(),
        "data": JobOut.from_job(job).model_dump(mode="json"),
    }
    body = json.dumps(payload, separators=(",", ":"))
    destinations: list[tuple[DestinationKind, str | None, str]] = [
        (DestinationKind.ENDPOINT, endpoint.id, endpoint.url) for endpoint in endpoints
    ]
    if job.callback_url is not None:
        destinations.append((DestinationKind.CALLBACK, None, job.callback_url))
    created = []
    for kind, endpoint_id, url in destinations:
        delivery = Delivery(
            id=delivery_id(message_id, f"{kind.value}:{endpoint_id or url}"),
            message_id=message_id,
            event_type=event_type,
            destination=kind,
            endpoint_id=endpoint_id,
            url=url,
            job_id=job.id,
            tenant_id=job.tenant_id,
            body=body,
            next_attempt_at=utcnow(),
        )
        if await runtime.webhooks.create_delivery(delivery):
            created.append(delivery)
    return created


# Celery's decorator is untyped (see the mypy override for worker.tasks).
@app.task(  # type: ignore[untyped-decorator]
    name=TaskName.DELIVER_WEBHOOK.value, bind=True, max_retries=_STORE_RETRIES
)
def deliver_webhook(self: Task, delivery_id: str, series: int, number: int) -> None:
    """Attempt `number` of `series`; schedules the next attempt itself when one is due."""
    runtime = get_runtime(get_settings())
    try:
        delay_s = _deliver(runtime, delivery_id, series, number)
    except PyMongoError as error:
        raise self.retry(countdown=2**self.request.retries, exc=error) from error
    if delay_s is not None:
        deliver_webhook.apply_async(args=[delivery_id, series, number + 1], countdown=delay_s)


def _deliver(runtime: Runtime, delivery_id: str, series: int, number: int) -> float | None:
    delivery = runtime.run(runtime.webhooks.claim_attempt(delivery_id, series, number))
    if delivery is None:  # a duplicate message, a stale series, or already finished
        return None
    now = utcnow()
    secrets, refusal = runtime.run(_signing_secrets(runtime, delivery))
    if refusal is not None:
        result = AttemptResult(status_code=None, latency_ms=0.0, error=refusal)
        decision = Decision(DeliveryStatus.FAILED)
    else:
        timestamp = int(now.timestamp())
        body = delivery.body.encode()
        headers = {
            "Content-Type": "application/json",
            "webhook-id": delivery.message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secrets, delivery.message_id, timestamp, body),
        }
        result = post_webhook(delivery.url, headers, body, runtime.settings.webhook)
        decision = decide(result, number, runtime.settings.webhook, now=now)
    attempt = Attempt(
        series=series,
        number=number,
        at=now,
        status_code=result.status_code,
        latency_ms=round(result.latency_ms, 1),
        error=result.error,
    )
    next_at = None if decision.delay_s is None else now + timedelta(seconds=decision.delay_s)
    runtime.run(runtime.webhooks.record_attempt(delivery.id, attempt, decision.status, next_at))
    metrics.delivery_attempted(delivery, result, decision)
    logger.info(
        "delivery %s attempt %d.%d: %s -> %s",
        delivery.id,
        series,
        number,
        result.status_code or result.error,
        decision.status,
    )
    if decision.gone and delivery.endpoint_id is not None:
        reason = f"the endpoint answered 410 Gone at {now.isoformat()}"
        runtime.run(runtime.webhooks.disable_endpoint(delivery.endpoint_id, reason))
    return decision.delay_s if decision.status is DeliveryStatus.PENDING else None


async def _signing_secrets(runtime: Runtime, delivery: Delivery) -> tuple[list[str], str | None]:
    """The secrets to sign with, or why the delivery cannot be sent."""
    if delivery.destination is DestinationKind.CALLBACK:
        secret = runtime.settings.webhook.callback_secret
        if secret is None:
            return [], "no callback secret is configured (WORKER_WEBHOOK__CALLBACK_SECRET)"
        return [secret.get_secret_value()], None
    endpoint = None
    if delivery.endpoint_id is not None:
        endpoint = await runtime.webhooks.get_endpoint(delivery.endpoint_id)
    if endpoint is None:
        return [], "the endpoint was deleted"
    if endpoint.disabled:
        return [], "the endpoint is disabled"
    return endpoint.signing_secrets(utcnow()), None
