"""Celery tasks. Each takes a job ID, reloads the job and is safe to run twice.

Failures are sorted in one place (`_run_stage`, `_handle_failure`): permanent ones fail the
job at once with their code, transient ones retry with exponential backoff up to a bound and
then fail the job with their code, and anything else (a defect, an input no check foresaw)
fails it `internal_error`, the traceback in the logs only. A task that a lost worker gave
back is counted on the job; past `max_lost_deliveries` the job fails `worker_lost`.
"""

import logging
from collections.abc import Callable

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from kombu.exceptions import KombuError
from minio.error import S3Error
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError
from urllib3.exceptions import HTTPError as Urllib3Error

from storage.errors import ErrorCode, PermanentError, ServiceError, TransientError
from storage.imageformat import BY_NAME
from storage.jobs import ImageRef, Job, JobError, JobStatus, TaskName, utcnow
from storage.webhooks import EventType
from worker import metrics
from worker.celery_app import app
from worker.fetch import fetch_url
from worker.imaging import check_image
from worker.job_ends import announce_end
from worker.reuse import reused_result
from worker.runtime import Runtime, get_runtime
from worker.scoring import Timer, score_image
from worker.settings import RetrySettings, Settings, get_settings
from worker.webhook_tasks import emit_job_event, event_endpoints

logger = logging.getLogger(__name__)


def backoff_s(retries: int, settings: RetrySettings) -> float:
    return float(min(settings.backoff_max_s, settings.backoff_base_s * 2**retries))


def _runtime() -> Runtime:
    return get_runtime(get_settings())


def _handle_failure(task: Task, runtime: Runtime, job_id: str, error: Exception) -> None:
    """Fail the job, or schedule a retry; raises `Retry` in the second case."""
    if not isinstance(error, ServiceError):
        # Our stores (MongoDB, object store) being unreachable is transient too. What they
        # said names internal hosts: it goes to the logs, not to the job.
        logger.warning("job %s: storage unavailable: %s", job_id, error)
        error = TransientError(ErrorCode.INTERNAL_ERROR, "a service the job needs was unavailable")
    retry = runtime.settings.retry
    if error.transient and task.request.retries < retry.max_retries:
        delay = backoff_s(task.request.retries, retry)
        logger.warning("job %s: %s, retry in %.1fs", job_id, error.message, delay)
        raise task.retry(countdown=delay, exc=error)
    logger.info("job %s failed: %s %s", job_id, error.code, error.message)
    metrics.job_failed(task, error.code)
    fail_job(runtime, job_id, error)


def fail_job(runtime: Runtime, job_id: str, error: ServiceError) -> None:
    """Fail the job with the error's code, unless it ended already; then announce it and
    emit its event."""
    if runtime.run(runtime.jobs.fail(job_id, JobError(code=error.code, message=error.message))):
        announce_end(runtime, job_id)
        emit_job_event(runtime, job_id)


def _too_slow(code: ErrorCode, runtime: Runtime) -> TransientError:
    limit = runtime.settings.task_time_limit_s
    return TransientError(code, f"the task took longer than {limit:g}s")


def _load(runtime: Runtime, job_id: str) -> Job | None:
    job = runtime.run(runtime.jobs.get(job_id))
    if job is None:
        logger.warning("job %s does not exist; message dropped", job_id)
    return job


def _run_stage(
    task: Task, job_id: str, stage: Callable[[Runtime, str], None], slow_code: ErrorCode
) -> None:
    """Run one stage of a job, sorting whatever it raises into retry or failure."""
    runtime = _runtime()
    try:
        if _redelivered(task) and not _count_redelivery(task, runtime, job_id):
            return
        stage(runtime, job_id)
    except SoftTimeLimitExceeded:
        _handle_failure(task, runtime, job_id, _too_slow(slow_code, runtime))
    except (ServiceError, *OUTAGES) as error:
        _handle_failure(task, runtime, job_id, error)
    except Exception:
        # Whatever else a stage raises ends the job; a retry would only meet it again.
        logger.exception("job %s: unexpected error in %s", job_id, task.name)
        _handle_failure(task, runtime, job_id, INTERNAL)


# Our stores and the broker unreachable: transient, like a ServiceError that says so.
OUTAGES = (PyMongoError, S3Error, Urllib3Error, KombuError, RedisError, OSError)
INTERNAL = PermanentError(
    ErrorCode.INTERNAL_ERROR, "the job could not be processed because of an internal error"
)


def _redelivered(task: Task) -> bool:
    """Whether the broker gave this message back: a worker died (or shut down) with it."""
    delivery_info = task.request.delivery_info or {}
    return bool(delivery_info.get("redelivered"))


def _count_redelivery(task: Task, runtime: Runtime, job_id: str) -> bool:
    """Count a redelivery on the job; False when the job must not run again (it failed
    `worker_lost` here, or it is gone or ended)."""
    return redelivery_allowed(runtime, job_id, task)


def redelivery_allowed(runtime: Runtime, job_id: str, task: Task) -> bool:
    """Count one redelivery of the job's task; past the bound, fail the job `worker_lost`
    (counted against `task`). False when the job must not run again."""
    bound = runtime.settings.max_lost_deliveries
    if runtime.run(runtime.jobs.count_lost_delivery(job_id, bound)):
        return True
    job = _load(runtime, job_id)
    if job is not None and not job.status.terminal:
        logger.error("job %s: its task was given back %d times; failing it", job_id, bound)
        error = lost_worker_error(bound)
        metrics.job_failed(task, error.code)
        fail_job(runtime, job_id, error)
    return False


def lost_worker_error(bound: int) -> PermanentError:
    message = (
        f"the worker processing this job was lost {bound} times (it ran out of memory or crashed)"
    )
    return PermanentError(ErrorCode.WORKER_LOST, message)


@app.task(name=TaskName.FETCH_IMAGE.value, bind=True, max_retries=None)
def fetch_image(self: Task, job_id: str) -> None:
    _run_stage(self, job_id, _fetch, ErrorCode.FETCH_UNAVAILABLE)


def _fetch(runtime: Runtime, job_id: str) -> None:
    """Fetch and store the image, then judge it in the same task: a URL job is one task,
    and the bytes just fetched are judged without reading them back."""
    job = _load(runtime, job_id)
    if job is None or job.status.terminal:
        return
    if job.status is JobStatus.INFERRING:
        # A previous run stored the image but died before the job was judged.
        _judge_in_fetch(runtime, job)
        return
    if not runtime.run(runtime.jobs.start_fetching(job_id)):
        return
    if job.image_url is None:
        raise PermanentError(ErrorCode.INVALID_REQUEST, "the job has no image URL")
    timer = Timer()
    content, image = fetch_and_store(runtime, job.image_url, job.tenant_id, timer)
    metrics.observe_stages(timer.durations_ms)
    fields = {"durations_ms.fetch": timer.durations_ms["fetch"]}
    if runtime.run(runtime.jobs.start_inferring(job_id, image, fields)):
        stored = job.model_copy(update={"status": JobStatus.INFERRING, "image": image})
        _judge_in_fetch(runtime, stored, content)


def fetch_and_store(
    runtime: Runtime, url: str, tenant_id: str, timer: Timer
) -> tuple[bytes, ImageRef]:
    """Download the image (SSRF-safe), check its format and size from its header, and
    store it under its hash; laps `fetch` and `store` on `timer`."""
    fetched = fetch_url(url, runtime.settings.fetch)
    timer.lap("fetch")
    format_name, _, _ = check_image(fetched.content, runtime.settings.image)
    image = runtime.objects.put_image(fetched.content, BY_NAME[format_name].media_type, tenant_id)
    timer.lap("store")
    return fetched.content, image


def ended_now(job: Job) -> Job:
    """The job as it is once its success was written (for `metrics.job_finished`)."""
    stamps = {**job.timestamps, JobStatus.SUCCEEDED.value: utcnow()}
    return job.model_copy(update={"status": JobStatus.SUCCEEDED, "timestamps": stamps})


def _judge_in_fetch(runtime: Runtime, job: Job, content: bytes | None = None) -> None:
    try:
        _judge(runtime, job, content)
    except SoftTimeLimitExceeded as error:
        # Too slow while judging, not while fetching: the code says which.
        raise _too_slow(ErrorCode.INFERENCE_UNAVAILABLE, runtime) from error


@app.task(name=TaskName.RUN_INFERENCE.value, bind=True, max_retries=None)
def run_inference(self: Task, job_id: str) -> None:
    _run_stage(self, job_id, _infer, ErrorCode.INFERENCE_UNAVAILABLE)


def _infer(runtime: Runtime, job_id: str) -> None:
    job = _load(runtime, job_id)
    if job is None or job.status.terminal:
        return
    if job.status is JobStatus.QUEUED and not runtime.run(runtime.jobs.start_inferring(job_id)):
        return
    if job.status is JobStatus.FETCHING or job.image is None:
        logger.warning("job %s is not ready for inference (%s)", job_id, job.status)
        return
    _judge(runtime, job)


def _judge(runtime: Runtime, job: Job, content: bytes | None = None) -> None:
    """Score the job's stored image (`content`: its bytes, when at hand) and record the
    result; emits the job's event when something receives it."""
    assert job.image is not None
    settings: Settings = runtime.settings
    job_id = job.id
    timer = Timer()
    result = reused_result(runtime, job)
    if result is None:
        if content is None:
            content = runtime.objects.get_image(job.image)
            timer.lap("load")
        result = score_image(content, job, runtime.detector, settings, timer)
    metrics.observe_stages(timer.durations_ms)
    durations = {f"durations_ms.{stage}": ms for stage, ms in timer.durations_ms.items()}
    endpoints = runtime.run(event_endpoints(runtime, job, EventType.JOB_SUCCEEDED))
    wanted = endpoints is not None
    # Conditional: a second run of this task for the same job writes nothing and emits nothing.
    if not runtime.run(runtime.jobs.succeed(job_id, result, durations, event_pending=wanted)):
        return
    announce_end(runtime, job_id)
    if wanted:
        emit_job_event(runtime, job_id, endpoints)
    else:
        metrics.job_finished(ended_now(job))
