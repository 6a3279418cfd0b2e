"""Webhook events: created once when a job ends, delivered by `worker.deliver_webhook`.

`emit_job_event` runs only after the job's conditional transition to a terminal state
actually happened, and each delivery's id derives from (event, destination), so a task
that runs twice neither creates nor enqueues a second delivery.
"""

import json
import logging
from collections.abc import Callable

from celery import Task
from pymongo.errors import PyMongoError

from storage.batch_repository import complete_if_done
from storage.event_deliveries import Event, create_deliveries
from storage.job_view import JobOut
from storage.jobs import Job, TaskName, utcnow
from storage.webhooks import (
    JOB_EVENTS,
    Delivery,
    EventType,
    WebhookEndpoint,
)
from worker import metrics, webhook_delivery
from worker.celery_app import app
from worker.runtime import Runtime, get_runtime
from worker.settings import get_settings

logger = logging.getLogger(__name__)

_STORE_RETRIES = 5


def emit_job_event(
    runtime: Runtime, job_id: str, endpoints: list[WebhookEndpoint] | None = None
) -> bool:
    """Create and enqueue one delivery per destination of the job's terminal event, and
    complete the job's batch if it was the last one; then clear the job's `event_pending`.
    `endpoints`: the subscribed endpoints already looked up (`event_endpoints`), if any.

    Never raises: the job's outcome is already recorded and must not be retried over a
    lost event. Whatever a crash or an outage leaves undone, the reconciler redoes: an
    event still pending is emitted again (creating a delivery twice is a no-op), a delivery
    never enqueued is enqueued. False when the event stays pending.
    """
    return _emit_and_enqueue(runtime, [job_id], lambda _: endpoints)


def emit_job_events(
    runtime: Runtime, job_ids: list[str], endpoints: dict[str, list[WebhookEndpoint] | None]
) -> bool:
    """`emit_job_event` for many jobs that just ended (a micro-batch's): one read of the
    jobs, one count per batch, one update marking the events emitted. `endpoints`: each
    tenant's subscribed endpoints, where already looked up. Never raises."""
    if not job_ids:
        return True
    return _emit_and_enqueue(runtime, job_ids, lambda job: endpoints.get(job.tenant_id))


EndpointsOf = Callable[[Job], list[WebhookEndpoint] | None]


def _emit_and_enqueue(runtime: Runtime, job_ids: list[str], endpoints_of: EndpointsOf) -> bool:
    try:
        created = runtime.run(_emit(runtime, job_ids, endpoints_of))
    except Exception:
        logger.exception("jobs %s: their events could not be emitted; they stay pending", job_ids)
        return False
    try:
        enqueue_deliveries(created)
    except Exception:
        logger.exception("jobs %s: a delivery could not be enqueued", job_ids)
    return True


async def _emit(runtime: Runtime, job_ids: list[str], endpoints_of: EndpointsOf) -> list[Delivery]:
    loaded = await runtime.jobs.get_many(job_ids, whole=True)
    ended = [job for job in loaded.values() if job.status.terminal]
    created: list[Delivery] = []
    finished: dict[str, int] = {}
    for job in ended:
        created += await _create_deliveries(runtime, job, endpoints_of(job))
        if job.batch_id is not None:
            finished[job.batch_id] = finished.get(job.batch_id, 0) + 1
    # Counted before the events are marked emitted: a crash in between counts them twice,
    # which costs one exact check, never a batch left incomplete.
    for batch_id, count in finished.items():
        if await runtime.batches.mark_finished(batch_id, count):
            created += await complete_if_done(
                batch_id, runtime.batches, runtime.jobs, runtime.webhooks
            )
    if ended:
        await runtime.jobs.mark_events_emitted([job.id for job in ended])
    return created


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


async def _create_deliveries(
    runtime: Runtime, job: Job, endpoints: list[WebhookEndpoint] | None
) -> list[Delivery]:
    event_type = JOB_EVENTS.get(job.status)
    if event_type is None:
        return []
    if endpoints is None:
        endpoints = await runtime.webhooks.endpoints_for(event_type, job.tenant_id)
    metrics.job_finished(job)  # a rare second emission (after a crash) records it twice
    payload = {
        "type": event_type.value,
        "timestamp": job.updated_at.isoformat(),
        "data": JobOut.from_job(job).model_dump(mode="json"),
    }
    event = Event(
        event_type=event_type,
        subject_id=job.id,
        tenant_id=job.tenant_id,
        body=json.dumps(payload, separators=(",", ":")),
        job_id=job.id,
    )
    return await create_deliveries(runtime.webhooks, event, endpoints, job.callback_url)


# Celery's decorator is untyped (see the mypy override for worker.tasks).
@app.task(  # type: ignore[untyped-decorator]
    name=TaskName.DELIVER_WEBHOOK.value, bind=True, max_retries=_STORE_RETRIES
)
def deliver_webhook(self: Task, delivery_id: str, series: int, number: int) -> None:
    """Attempt `number` of `series`; enqueues what follows: the next attempt when it is due
    soon (a later one, or one over its tenant's cap, waits in MongoDB for
    `sweep_deliveries`), and any event the attempt caused."""
    runtime = get_runtime(get_settings())
    try:
        followup = webhook_delivery.attempt(runtime, delivery_id, series, number)
    except PyMongoError as error:
        raise self.retry(countdown=2**self.request.retries, exc=error) from error
    if followup.number is not None:
        deliver_webhook.apply_async(
            args=[delivery_id, series, followup.number], countdown=followup.countdown_s
        )
    enqueue_deliveries(followup.created)


@app.task(name=TaskName.SWEEP_DELIVERIES.value)  # type: ignore[untyped-decorator]
def sweep_deliveries() -> None:
    """Enqueue the held deliveries that are due (sent by beat every
    `WebhookSettings.sweep_interval_s`)."""
    count = enqueue_due_deliveries(get_runtime(get_settings()))
    if count:
        logger.info("sweep: %d due deliveries enqueued", count)


def enqueue_due_deliveries(runtime: Runtime) -> int:
    """At most `sweep_limit` due held deliveries, each released by a conditional update
    first: of two sweeps (or a sweep and the reconciler), one enqueues it."""
    due = runtime.run(runtime.webhooks.due_held(utcnow(), runtime.settings.webhook.sweep_limit))
    enqueued = 0
    for delivery in due:
        if runtime.run(runtime.webhooks.release(delivery)):
            deliver_webhook.apply_async(args=[delivery.id, delivery.series, delivery.claimed + 1])
            enqueued += 1
    return enqueued
