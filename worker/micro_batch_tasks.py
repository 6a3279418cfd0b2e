"""Micro-batches: one task run judges up to `micro_batch.size` jobs together.

The jobs are read in one query; their images fetched (URL jobs) or loaded (uploads) in
parallel threads; decoded; every face search sent to the face detector in one request and
every input of a model to it in one request; every result written in one bulk write; and
their ends announced in one Redis round trip. Messages are acknowledged after the writes.

Whatever is unusual leaves the micro-batch for the one-job tasks of worker.tasks, which sort
it as they always have: a job whose judging hit a transient error is retried alone, with
backoff; a job whose micro-batch was given back by a lost worker (its process died) runs
alone from then on, counted as a lost delivery, so a poison image takes its neighbours down
at most once and is itself failed `worker_lost` after the usual bound.
"""

import logging
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from celery_batches import SimpleRequest

from storage.errors import ServiceError, TransientError
from storage.job_repository import Success
from storage.jobs import Job, JobResult, JobStatus, TaskName, utcnow
from storage.webhooks import EventType, WebhookEndpoint
from worker import metrics
from worker.celery_app import app
from worker.endpoint_cache import endpoint_cache
from worker.job_ends import announce_ends
from worker.micro_batch import MicroBatches
from worker.micro_batch_exits import (
    hand_on,
    job_id_of,
    redelivered,
    retry_alone,
    send_alone,
    slow_code,
    unavailable,
)
from worker.reuse import reused_result
from worker.runtime import Runtime, get_runtime
from worker.scoring import Entry, Timer, score_images
from worker.settings import get_settings
from worker.tasks import INTERNAL, OUTAGES, ended_now, fail_job, fetch_and_store
from worker.webhook_tasks import emit_job_events

logger = logging.getLogger(__name__)
_SETTINGS = get_settings().micro_batch


@app.task(
    name=TaskName.FETCH_IMAGES.value,
    base=MicroBatches,
    flush_every=_SETTINGS.size,
    bulk_flush_every=_SETTINGS.bulk_size,
    flush_interval=_SETTINGS.flush_ms / 1000,
)
def fetch_images(requests: list[SimpleRequest]) -> list[str]:
    """URL jobs: fetched, stored and judged in the same run."""
    return run_micro_batch(requests, app.tasks[TaskName.FETCH_IMAGES.value], TaskName.FETCH_IMAGE)


@app.task(
    name=TaskName.JUDGE_IMAGES.value,
    base=MicroBatches,
    flush_every=_SETTINGS.size,
    bulk_flush_every=_SETTINGS.bulk_size,
    flush_interval=_SETTINGS.flush_ms / 1000,
)
def judge_images(requests: list[SimpleRequest]) -> list[str]:
    """Uploads: their stored images loaded and judged."""
    return run_micro_batch(requests, app.tasks[TaskName.JUDGE_IMAGES.value], TaskName.RUN_INFERENCE)


@dataclass
class _Job:
    request: SimpleRequest
    job: Job
    started: datetime = field(default_factory=utcnow)
    durations_ms: dict[str, float] = field(default_factory=dict)
    entry: Entry | None = None
    image: dict[str, object] | None = None
    outcome: JobResult | BaseException | None = None


def run_micro_batch(requests: list[SimpleRequest], task: Task, alone: TaskName) -> list[str]:
    """Judge the requests' jobs; the IDs of the requests to give back to the broker (ones
    that could be neither finished nor handed on, in an outage)."""
    runtime = get_runtime(get_settings())
    logger.debug("micro-batch of %d jobs", len(requests))
    given_back: list[str] = []
    fresh: dict[str, SimpleRequest] = {}
    for request in requests:
        job_id = job_id_of(request)
        if job_id is None:
            logger.warning("message %s names no job; dropped", request.id)
        elif redelivered(request):
            # Its micro-batch was lost with its worker: from now on it runs alone.
            if not hand_on(runtime, task, alone, request, job_id):
                given_back.append(request.id)
        else:
            fresh[job_id] = request
    if not fresh:
        return given_back
    try:
        _run_fresh(runtime, task, alone, fresh, given_back)
    except Exception:
        # A defect of the micro-batch itself: its jobs run alone, where whatever they
        # meet is sorted as for any job (a job this run already ended is left as it is).
        logger.exception("micro-batch of %d jobs failed; they run alone", len(fresh))
        for job_id, request in fresh.items():
            if not send_alone(task, alone, request, job_id, countdown=None, retries=0):
                given_back.append(request.id)
    return given_back


def _run_fresh(
    runtime: Runtime,
    task: Task,
    alone: TaskName,
    fresh: dict[str, SimpleRequest],
    given_back: list[str],
) -> None:
    try:
        jobs = runtime.run(runtime.jobs.get_many(list(fresh)))
    except OUTAGES as error:
        logger.warning("micro-batch: the jobs could not be read: %s", error)
        for job_id, request in fresh.items():
            if not retry_alone(task, alone, request, job_id, unavailable()):
                given_back.append(request.id)
        return
    work = [
        _Job(request, job)
        for job_id, request in fresh.items()
        if (job := jobs.get(job_id)) is not None and not job.status.terminal
    ]
    try:
        _judge_all(runtime, work)
    except SoftTimeLimitExceeded:
        limit = runtime.settings.task_time_limit_s
        too_slow = TransientError(slow_code(alone), f"the task took longer than {limit:g}s")
        for item in work:
            if item.outcome is None or isinstance(item.outcome, JobResult):
                item.outcome = too_slow
    _record(runtime, task, alone, work, given_back)


def _judge_all(runtime: Runtime, work: list[_Job]) -> None:
    """Every job's outcome: a result, or what stopped it."""
    settings = runtime.settings
    # Stored images are looked up for an earlier identical one before they are loaded.
    waiting = [item for item in work if item.job.image is None or not _reused(runtime, item)]
    contents = _contents(runtime, waiting, settings.micro_batch.fetch_wait_s)
    entries: list[Entry] = []
    for item, content in zip(waiting, contents, strict=True):
        if isinstance(content, BaseException):
            item.outcome = content
        elif item.image is None or not _reused(runtime, item):  # fetched: now its bytes are known
            item.entry = Entry(item.job, content, Timer())
            entries.append(item.entry)
    outcomes = score_images(entries, runtime.detector, settings)
    for entry, outcome in zip(entries, outcomes, strict=True):
        entry.outcome = outcome
    for item in work:
        if item.entry is not None:
            item.outcome = item.entry.outcome


def _reused(runtime: Runtime, item: _Job) -> bool:
    """Whether the job got its outcome from an earlier identical image (or the lookup's
    failure as its outcome)."""
    try:
        reused = reused_result(runtime, item.job)
    except (ServiceError, *OUTAGES) as error:
        item.outcome = error
        return True
    if reused is None:
        return False
    item.outcome = reused
    return True


class _Late(Exception):
    """A download still running when the micro-batch went on without it."""


def _contents(runtime: Runtime, waiting: list[_Job], wait_s: float) -> list[bytes | BaseException]:
    """Every job's image bytes, fetched or loaded in parallel threads. A job whose download
    is not done within `wait_s` is left behind (`_Late`) and runs alone: one tenant's slow
    server never holds up the other jobs of the micro-batch, nor a pool's threads."""
    if len(waiting) == 1:
        return [_content(runtime, waiting[0])]
    pool = ThreadPoolExecutor(len(waiting), thread_name_prefix="micro-batch-io")
    futures = [pool.submit(_content, runtime, item) for item in waiting]
    done, _ = wait(futures, timeout=wait_s)
    # Threads still downloading finish on their own (their own timeouts bound them).
    pool.shutdown(wait=False)
    return [future.result() if future in done else _Late() for future in futures]


def _content(runtime: Runtime, item: _Job) -> bytes | BaseException:
    """The job's image bytes (fetched and stored first, for a URL job not yet fetched).
    Runs in a thread: no MongoDB here (the runtime's event loop is not thread-safe)."""
    try:
        job = item.job
        item.started = utcnow()
        timer = Timer()
        if job.image is not None:
            content = runtime.objects.get_image(job.image)
            timer.lap("load")
            item.durations_ms.update(timer.durations_ms)
            return content
        if job.image_url is None:
            return INTERNAL
        content, stored = fetch_and_store(runtime, job.image_url, job.tenant_id, timer)
        item.job = job.model_copy(update={"image": stored})
        item.image = stored.model_dump()
        item.durations_ms.update(timer.durations_ms)
        return content
    except SoftTimeLimitExceeded:
        raise
    except Exception as error:  # sorted with every other outcome
        return error


def _record(
    runtime: Runtime, task: Task, alone: TaskName, work: list[_Job], given_back: list[str]
) -> None:
    """Write the results in one bulk write; fail, retry or hand on the rest."""
    successes = [item for item in work if isinstance(item.outcome, JobResult)]
    endpoints = _endpoints(runtime, [item.job for item in successes])
    writes = [_success(item, endpoints) for item in successes]
    try:
        ended = runtime.run(runtime.jobs.succeed_many(writes)) if writes else set()
    except OUTAGES as error:
        logger.warning("micro-batch: results could not be written: %s", error)
        for item in successes:
            item.outcome = unavailable()
        ended = set()
    announce_ends(runtime, sorted(ended))
    with_events = []
    for item, write in zip(successes, writes, strict=True):
        if item.job.id not in ended:
            continue
        if write.event_pending:
            with_events.append(item.job.id)
        else:
            metrics.job_finished(ended_now(item.job))
    emit_job_events(runtime, with_events, endpoints)
    metrics.jobs_judged(task, len(ended))
    for item in work:
        outcome = item.outcome
        if isinstance(outcome, JobResult) or outcome is None:
            continue
        if not _settle(runtime, task, alone, item, outcome):
            given_back.append(item.request.id)


def _settle(
    runtime: Runtime, task: Task, alone: TaskName, item: _Job, error: BaseException
) -> bool:
    """Fail the job, or retry it alone; False when neither could be done."""
    job_id = item.job.id
    if isinstance(error, _Late):
        logger.info("job %s: its download is slow; it runs alone", job_id)
        return send_alone(task, alone, item.request, job_id, countdown=None, retries=0)
    if isinstance(error, OUTAGES) and not isinstance(error, ServiceError):
        logger.warning("job %s: storage unavailable: %s", job_id, error)
        error = unavailable()
    elif not isinstance(error, ServiceError):
        logger.error("job %s: unexpected error in %s", job_id, task.name, exc_info=error)
        error = INTERNAL
    if error.transient:
        return retry_alone(task, alone, item.request, job_id, error)
    try:
        metrics.job_failed(task, error.code)
        fail_job(runtime, job_id, error)
    except OUTAGES as outage:
        logger.warning("job %s: its failure could not be recorded: %s", job_id, outage)
        return False
    return True


def _endpoints(runtime: Runtime, jobs: list[Job]) -> dict[str, list[WebhookEndpoint] | None]:
    """Each tenant's endpoints for `job.succeeded`, looked up once per micro-batch (and
    kept while the tenant's endpoints do not change); None where the lookup failed (the
    event is then kept pending and looked up again)."""
    found: dict[str, list[WebhookEndpoint] | None] = {}
    for tenant_id in {job.tenant_id for job in jobs}:
        try:
            found[tenant_id] = endpoint_cache.endpoints(runtime, EventType.JOB_SUCCEEDED, tenant_id)
        except OUTAGES as error:
            logger.warning("tenant %s: webhook endpoints not read: %s", tenant_id, error)
            found[tenant_id] = None
    return found


def _success(item: _Job, endpoints: dict[str, list[WebhookEndpoint] | None]) -> Success:
    job = item.job
    assert isinstance(item.outcome, JobResult)
    durations = dict(item.durations_ms)
    if item.entry is not None:
        durations.update(item.entry.timer.durations_ms)
    metrics.observe_stages(durations)
    fields: dict[str, object] = {f"durations_ms.{name}": ms for name, ms in durations.items()}
    if item.image is not None:
        fields["image"] = item.image
        fields[f"timestamps.{JobStatus.FETCHING.value}"] = item.started
    # When judging started, as the one-job tasks record it (the status itself is not written).
    fields[f"timestamps.{JobStatus.INFERRING.value}"] = item.started
    tenant_endpoints = endpoints.get(job.tenant_id)
    wanted = tenant_endpoints is None or bool(tenant_endpoints)
    wanted = wanted or job.callback_url is not None or job.batch_id is not None
    return Success(job.id, item.outcome, fields, event_pending=wanted)
