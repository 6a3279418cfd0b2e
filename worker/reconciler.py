"""Periodic passes (sent by Celery beat) that recover what a crash or an outage lost.

Tasks are acknowledged late and are idempotent, but a message can still vanish: a worker
killed with tasks reserved, a broker restarted without its data, an enqueue that failed
after the job was recorded. MongoDB is the source of truth, so each pass looks there for
work that should be moving and is not:

- jobs queued or running, untouched past a deadline, whose queue is drained, or past a
  longer deadline whatever the queue holds: enqueued again (a job still waiting behind a
  backlog is not lost; one still running is harmless to enqueue twice, since every
  transition is conditional); each time counts as a lost delivery, and a job past the
  bound fails `worker_lost` instead;
- terminal jobs whose event is still pending: emitted again;
- pending webhook deliveries whose next attempt is overdue: their attempt enqueued again;
- sealed batches not completed and untouched past a deadline: completed if nothing of them
  is left to run (a batch's finished marks can fall short after a crash mid-cancel);
- models that Triton reports ready but that fail a probe request: reloaded.

Each pass handles at most `batch_limit` documents of each kind through indexed queries,
and claims each document with a conditional update first, so two passes never both act.
"""

import logging
from collections.abc import Callable
from datetime import timedelta

from celery import Task
from kombu.exceptions import KombuError
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from storage.errors import ServiceError
from storage.jobs import Job, JobStatus, TaskName, task_queue, utcnow
from worker import metrics
from worker.celery_app import app
from worker.runtime import Runtime, get_runtime
from worker.settings import get_settings
from worker.tasks import fail_job, lost_worker_error
from worker.webhook_tasks import complete_batch, deliver_webhook, emit_job_event

logger = logging.getLogger(__name__)

_UNFINISHED = (JobStatus.QUEUED, JobStatus.FETCHING, JobStatus.INFERRING)
# What a pass may meet while a store is down; the next pass tries again.
_OUTAGES = (PyMongoError, KombuError, RedisError, OSError)


def next_task(job: Job) -> TaskName:
    """The task that moves a job on from where it stands."""
    if job.status is JobStatus.INFERRING or job.image is not None:
        return TaskName.RUN_INFERENCE
    return TaskName.FETCH_IMAGE


def _queue_sizes(task_: Task) -> dict[str, int]:
    """Messages waiting in each job queue (Redis list lengths, priorities included)."""
    names = {
        task_queue(task, bulk=bulk).value
        for task in (TaskName.FETCH_IMAGE, TaskName.RUN_INFERENCE)
        for bulk in (False, True)
    }
    with task_.app.connection_for_read() as connection:
        channel = connection.default_channel
        return {name: int(channel.queue_declare(queue=name).message_count) for name in names}


def requeue_stuck_jobs(task_: Task, runtime: Runtime) -> int:
    settings = runtime.settings.reconciler
    now = utcnow()
    before = now - timedelta(seconds=settings.stuck_after_s)
    long_before = now - timedelta(seconds=settings.stuck_under_backlog_after_s)
    bound = runtime.settings.max_lost_deliveries
    sizes: dict[str, int] | None = None
    requeued = 0
    for status in _UNFINISHED:
        for job in runtime.run(runtime.jobs.stuck(status, before, settings.batch_limit)):
            task = next_task(job)
            queue = task_queue(task, bulk=job.batch_id is not None).value
            sizes = sizes if sizes is not None else _queue_sizes(task_)
            behind_backlog = sizes[queue] > 0
            if behind_backlog and job.updated_at >= long_before:
                continue  # its message may be in that backlog: look again once it drains
            if job.lost_deliveries >= bound:
                _fail_lost(task_, runtime, job, bound)
            elif runtime.run(runtime.jobs.touch(job, lost=not behind_backlog)):
                task_.app.send_task(task.value, args=[job.id], queue=queue)
                requeued += 1
    return requeued


def _fail_lost(task_: Task, runtime: Runtime, job: Job, bound: int) -> None:
    error = lost_worker_error(bound)
    logger.error("job %s: lost %d times; failing it", job.id, bound)
    metrics.job_failed(task_, error.code)
    fail_job(runtime, job.id, error)


def emit_lost_events(runtime: Runtime) -> int:
    settings = runtime.settings.reconciler
    before = utcnow() - timedelta(seconds=settings.event_after_s)
    job_ids = runtime.run(runtime.jobs.unemitted(before, settings.batch_limit))
    for job_id in job_ids:
        emit_job_event(runtime, job_id)
    return len(job_ids)


def requeue_stalled_deliveries(runtime: Runtime) -> int:
    settings = runtime.settings.reconciler
    before = utcnow() - timedelta(seconds=settings.delivery_after_s)
    requeued = 0
    for delivery in runtime.run(runtime.webhooks.stalled(before, settings.batch_limit)):
        if runtime.run(runtime.webhooks.touch(delivery)):
            deliver_webhook.apply_async(args=[delivery.id, delivery.series, delivery.claimed + 1])
            requeued += 1
    return requeued


def complete_quiet_batches(runtime: Runtime) -> int:
    settings = runtime.settings.reconciler
    before = utcnow() - timedelta(seconds=settings.stuck_after_s)
    batch_ids = runtime.run(runtime.batches.quiet_incomplete(before, settings.batch_limit))
    for batch_id in batch_ids:
        complete_batch(runtime, batch_id)
    return len(batch_ids)


# Celery's decorator is untyped (see the mypy override for worker.tasks).
@app.task(name=TaskName.RECONCILE.value, bind=True)  # type: ignore[untyped-decorator]
def reconcile(self: Task) -> None:
    runtime = get_runtime(get_settings())
    passes: dict[str, Callable[[], int]] = {
        "stuck jobs requeued": lambda: requeue_stuck_jobs(self, runtime),
        "lost events emitted": lambda: emit_lost_events(runtime),
        "stalled deliveries requeued": lambda: requeue_stalled_deliveries(runtime),
        "quiet batches checked": lambda: complete_quiet_batches(runtime),
    }
    for name, run_pass in passes.items():
        try:
            count = run_pass()
        except _OUTAGES as error:
            logger.warning("reconciler: %s pass skipped: %s", name, error)
            continue
        if count:
            logger.warning("reconciler: %s: %d", name, count)


@app.task(name=TaskName.CHECK_MODELS.value)  # type: ignore[untyped-decorator]
def check_models() -> None:
    """Probe every ready model; reload one that fails while reported ready."""
    detector = get_runtime(get_settings()).detector
    try:
        names = detector.ready_models()
        for name in names:
            failure = detector.probe(name)
            if failure is None:
                continue
            logger.error("model %s is ready but fails requests (%s); reloading it", name, failure)
            detector.reload(name)
            logger.warning("model %s reloaded", name)
    except ServiceError as error:
        # Triton itself unreachable or slow: nothing a reload would fix.
        logger.warning("model check skipped: %s", error.message)
