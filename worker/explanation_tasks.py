"""The `explain_job` task: an explanation ID in, the explanation ready or failed out.

Failures are sorted as a job's are (worker.tasks): permanent ones fail the explanation at
once with their code; transient ones (Triton, MongoDB or the object store unavailable, the
time limit) retry with backoff up to `retry.max_retries`, then fail it with their code;
anything else fails it `internal_error`. A task a lost worker gave back is counted on the
explanation, and past `max_lost_deliveries` it fails `worker_lost`. What cannot even be
written (MongoDB down for good) leaves it pending, and a pending one is failed
`worker_lost` when read past its bound (storage.explanation_repository): every explanation ends.
"""

import logging

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded

from storage.errors import ErrorCode, ServiceError, TransientError
from storage.explanation_repository import ExplanationRepository
from storage.jobs import JobError, TaskName
from worker.celery_app import app
from worker.explanations import explain
from worker.runtime import Runtime, get_runtime
from worker.settings import get_settings
from worker.tasks import INTERNAL, OUTAGES, backoff_s

logger = logging.getLogger(__name__)


def repository_of(runtime: Runtime) -> ExplanationRepository:
    return ExplanationRepository(runtime.mongo[runtime.settings.mongo.database])


@app.task(name=TaskName.EXPLAIN_JOB.value, bind=True, max_retries=None)  # type: ignore[untyped-decorator]
def explain_job(self: Task, explanation_id: str) -> None:
    run_explanation(self, explanation_id)


def run_explanation(task: Task, explanation_id: str) -> None:
    """Run one delivery of the task, sorting whatever it raises into retry or failure."""
    runtime = get_runtime(get_settings())
    repository = repository_of(runtime)
    try:
        if _redelivered(task) and not _count_redelivery(runtime, repository, explanation_id):
            return
        explain(runtime, repository, explanation_id)
    except SoftTimeLimitExceeded:
        limit = runtime.settings.task_time_limit_s
        too_slow = TransientError(
            ErrorCode.INFERENCE_UNAVAILABLE, f"the explanation took longer than {limit:g}s"
        )
        _handle_failure(task, runtime, repository, explanation_id, too_slow)
    except (ServiceError, *OUTAGES) as error:
        _handle_failure(task, runtime, repository, explanation_id, error)
    except Exception:
        logger.exception("explanation %s: unexpected error", explanation_id)
        _handle_failure(task, runtime, repository, explanation_id, INTERNAL)


def _redelivered(task: Task) -> bool:
    return bool((task.request.delivery_info or {}).get("redelivered"))


def _count_redelivery(
    runtime: Runtime, repository: ExplanationRepository, explanation_id: str
) -> bool:
    """Count a redelivery; past the bound, fail it `worker_lost`. False: do not run."""
    bound = runtime.settings.max_lost_deliveries
    if runtime.run(repository.count_lost_delivery(explanation_id, bound)):
        return True
    message = f"the worker computing this explanation was lost {bound} times"
    runtime.run(
        repository.fail(explanation_id, JobError(code=ErrorCode.WORKER_LOST, message=message))
    )
    return False


def _handle_failure(
    task: Task,
    runtime: Runtime,
    repository: ExplanationRepository,
    explanation_id: str,
    error: Exception,
) -> None:
    """Fail the explanation, or schedule a retry (raises `Retry` then)."""
    if not isinstance(error, ServiceError):
        logger.warning("explanation %s: storage unavailable: %s", explanation_id, error)
        error = TransientError(ErrorCode.INTERNAL_ERROR, "a service it needs was unavailable")
    retry = runtime.settings.retry
    if error.transient and task.request.retries < retry.max_retries:
        delay = backoff_s(task.request.retries, retry)
        logger.warning("explanation %s: %s, retry in %.1fs", explanation_id, error.message, delay)
        raise task.retry(countdown=delay, exc=error)
    logger.info("explanation %s failed: %s %s", explanation_id, error.code, error.message)
    failure = JobError(code=error.code, message=error.message)
    runtime.run(repository.fail(explanation_id, failure))
