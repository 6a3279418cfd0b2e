"""How a job leaves its micro-batch for the one-job tasks (worker.tasks): to be retried
alone after a transient error, or to run alone after its micro-batch was lost with its
worker (counted as a lost delivery first)."""

import logging

from celery import Task
from celery_batches import SimpleRequest

from storage.errors import ErrorCode, ServiceError, TransientError
from storage.jobs import TaskName, task_queue
from worker.micro_batch import BULK_QUEUES
from worker.runtime import Runtime
from worker.settings import get_settings
from worker.tasks import OUTAGES, backoff_s, redelivery_allowed

logger = logging.getLogger(__name__)


def retry_alone(
    task: Task, alone: TaskName, request: SimpleRequest, job_id: str, error: ServiceError
) -> bool:
    """Send the job to its one-job task after the first retry's backoff."""
    delay = backoff_s(0, get_settings().retry)
    logger.warning("job %s: %s, retry in %.1fs", job_id, error.message, delay)
    return send_alone(task, alone, request, job_id, countdown=delay, retries=1)


def hand_on(
    runtime: Runtime,
    task: Task,
    alone: TaskName,
    request: SimpleRequest,
    job_id: str,
) -> bool:
    """A redelivered job: count it, then send it to run alone (unless past the bound)."""
    try:
        if not redelivery_allowed(runtime, job_id, task):
            return True
    except OUTAGES as error:
        logger.warning("job %s: redelivery not counted: %s", job_id, error)
        return False
    return send_alone(task, alone, request, job_id, countdown=None, retries=0)


def send_alone(
    task: Task,
    alone: TaskName,
    request: SimpleRequest,
    job_id: str,
    *,
    countdown: float | None,
    retries: int,
) -> bool:
    queue = task_queue(alone, bulk=is_bulk(request)).value
    try:
        task.app.send_task(
            alone.value, args=[job_id], queue=queue, countdown=countdown, retries=retries
        )
    except OUTAGES as error:
        logger.warning("job %s: could not be sent on: %s", job_id, error)
        return False
    return True


def job_id_of(request: SimpleRequest) -> str | None:
    args = request.args or ()
    return args[0] if args and isinstance(args[0], str) else None


def redelivered(request: SimpleRequest) -> bool:
    return bool((request.delivery_info or {}).get("redelivered"))


def is_bulk(request: SimpleRequest) -> bool:
    return (request.delivery_info or {}).get("routing_key") in BULK_QUEUES


def unavailable() -> TransientError:
    return TransientError(ErrorCode.INTERNAL_ERROR, "a service the job needs was unavailable")


def slow_code(alone: TaskName) -> ErrorCode:
    if alone is TaskName.FETCH_IMAGE:
        return ErrorCode.FETCH_UNAVAILABLE
    return ErrorCode.INFERENCE_UNAVAILABLE
