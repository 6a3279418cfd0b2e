"""How a worker stage ends whatever happens, run in this process against the real servers:
an unexpected exception, a task given back by lost workers, a job lost behind a backlog."""

from datetime import timedelta
from typing import Any

import pytest
from celery import Task

from storage.errors import ErrorCode
from storage.jobs import Job, JobStatus, Queue, SourceKind, TaskName, utcnow
from tests.integration.conftest import BOUND
from worker import tasks
from worker.celery_app import app
from worker.reconciler import reconcile, requeue_stuck_jobs
from worker.runtime import Runtime

pytestmark = pytest.mark.integration


URL = "https://images.example.com/a.jpg"


def _queued_job(runtime: Runtime, **fields: Any) -> Job:
    job = Job(source=SourceKind.URL, image_url=URL, **fields)
    runtime.run(runtime.jobs.insert(job))
    return job


def _stored(runtime: Runtime, job_id: str) -> Job:
    job = runtime.run(runtime.jobs.get(job_id))
    assert job is not None
    return job


def _run_fetch(*, redelivered: bool, job_id: str) -> None:
    """The fetch stage as the worker runs it for one message."""
    task: Task = tasks.fetch_image
    task.push_request(retries=0, delivery_info={"redelivered": redelivered})
    try:
        tasks._run_stage(task, job_id, tasks._fetch, ErrorCode.FETCH_UNAVAILABLE)
    finally:
        task.pop_request()


def test_an_unexpected_exception_fails_the_job_with_internal_error(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_fetch(*_: object) -> None:
        raise IndexError("index 7 is out of bounds for axis 0 with size 0")

    monkeypatch.setattr(tasks, "fetch_url", broken_fetch)
    job = _queued_job(runtime)

    _run_fetch(redelivered=False, job_id=job.id)

    stored = _stored(runtime, job.id)
    assert stored.status is JobStatus.FAILED
    assert stored.error is not None
    assert stored.error.code is ErrorCode.INTERNAL_ERROR
    # The traceback is for the logs; the job says nothing of the code that failed.
    assert "index" not in stored.error.message


def test_a_task_given_back_past_the_bound_fails_worker_lost(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[str] = []

    def dying_fetch(url: str, *_: object) -> None:
        runs.append(url)
        raise SystemExit  # stands for the process dying: nothing after it runs

    monkeypatch.setattr(tasks, "fetch_url", dying_fetch)
    job = _queued_job(runtime)
    with pytest.raises(SystemExit):
        _run_fetch(redelivered=False, job_id=job.id)
    for _ in range(BOUND):
        with pytest.raises(SystemExit):
            _run_fetch(redelivered=True, job_id=job.id)
    assert _stored(runtime, job.id).lost_deliveries == BOUND

    _run_fetch(redelivered=True, job_id=job.id)

    stored = _stored(runtime, job.id)
    assert len(runs) == BOUND + 1
    assert stored.status is JobStatus.FAILED
    assert stored.error is not None
    assert stored.error.code is ErrorCode.WORKER_LOST


def test_a_redelivered_task_of_an_ended_job_does_nothing(runtime: Runtime) -> None:
    job = _queued_job(runtime, status=JobStatus.SUCCEEDED)

    _run_fetch(redelivered=True, job_id=job.id)

    assert _stored(runtime, job.id).status is JobStatus.SUCCEEDED


def _waiting(queue: Queue) -> list[bytes]:
    with app.connection_for_read() as connection:
        client = connection.default_channel.client
        return list(client.lrange(queue.value, 0, -1))


def _stuck_job(runtime: Runtime, age_s: float, **fields: Any) -> Job:
    job = Job(source=SourceKind.URL, image_url=URL, batch_id="batch_x", **fields)
    job.created_at = job.updated_at = utcnow() - timedelta(seconds=age_s)
    runtime.run(runtime.jobs.insert(job))
    return job


def test_a_backlog_hides_a_lost_job_only_until_the_longer_deadline(runtime: Runtime) -> None:
    settings = runtime.settings.reconciler
    with app.connection_for_write() as connection:
        connection.default_channel.client.delete(Queue.FETCH_BULK.value)
    app.send_task(TaskName.FETCH_IMAGE.value, args=["job_backlog"], queue=Queue.FETCH_BULK.value)
    recent = _stuck_job(runtime, settings.stuck_after_s + 60)
    old = _stuck_job(runtime, settings.stuck_under_backlog_after_s + 60)
    worn_out = _stuck_job(runtime, settings.stuck_under_backlog_after_s + 60, lost_deliveries=BOUND)

    requeued = requeue_stuck_jobs(reconcile, runtime)

    assert requeued == 1
    waiting = b"".join(_waiting(Queue.FETCH_BULK))
    assert old.id.encode() in waiting
    assert recent.id.encode() not in waiting
    # Re-sent for waiting long behind a backlog, not because a worker lost it: not counted.
    assert _stored(runtime, old.id).lost_deliveries == 0
    assert _stored(runtime, recent.id).lost_deliveries == 0
    failed = _stored(runtime, worn_out.id)
    assert failed.status is JobStatus.FAILED
    assert failed.error is not None
    assert failed.error.code is ErrorCode.WORKER_LOST
