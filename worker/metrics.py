"""Prometheus metrics of the workers: tasks, stage latencies, job latency, webhook deliveries.

Celery's prefork pool runs tasks in child processes, so the metrics use prometheus_client's
multiprocess mode: every process writes its values into files of one directory, which the
worker's main process creates, serves on `WORKER_METRICS__PORT`, and removes at shutdown.
Every metric has labels, so no value exists before a child process records one (values
made before the fork would live in the main process only).
"""

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from threading import Thread
from typing import Any
from wsgiref.simple_server import WSGIServer

from celery import Task
from celery.signals import (
    task_failure,
    task_retry,
    task_success,
    worker_init,
    worker_process_shutdown,
    worker_shutdown,
)
from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess, values
from prometheus_client.exposition import start_http_server

from storage.errors import ErrorCode
from storage.jobs import Job
from storage.webhooks import Delivery, DeliveryStatus
from worker.settings import MetricsSettings
from worker.webhooks import AttemptResult, Decision

logger = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

TASKS = "deepfake_worker_tasks"
JOB_FAILURES = "deepfake_worker_job_failures"
STAGE_DURATION = "deepfake_worker_stage_duration_seconds"
JOB_DURATION = "deepfake_worker_job_duration_seconds"
WEBHOOK_DELIVERIES = "deepfake_worker_webhook_deliveries"
WEBHOOK_DURATION = "deepfake_worker_webhook_delivery_duration_seconds"

# Where the metric objects live; in multiprocess mode the served registry reads the files.
REGISTRY = CollectorRegistry()

tasks = Counter(
    TASKS,
    "Task runs by task name and outcome: succeeded, failed (the job failed, or the task "
    "raised), retried.",
    ["task", "outcome"],
    registry=REGISTRY,
)
job_failures = Counter(
    JOB_FAILURES, "Jobs failed by a task, by error code.", ["task", "code"], registry=REGISTRY
)
stage_duration = Histogram(
    STAGE_DURATION,
    "Time spent in each stage of a job: fetch, load, decode, face_detection, inference.",
    ["stage"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
job_duration = Histogram(
    JOB_DURATION,
    "Time from a job's creation to its end, by final status and lane (interactive or bulk).",
    ["status", "lane"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
    registry=REGISTRY,
)
webhook_deliveries = Counter(
    WEBHOOK_DELIVERIES,
    "Webhook attempts by result: delivered, retrying, failed (for good), disabled (410 Gone "
    "from a registered endpoint, which is then disabled).",
    ["result"],
    registry=REGISTRY,
)
webhook_duration = Histogram(
    WEBHOOK_DURATION,
    "Time a webhook attempt that was sent took, by result.",
    ["result"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30),
    registry=REGISTRY,
)


# Hooks called by the tasks.


def observe_stages(durations_ms: dict[str, float]) -> None:
    """A stage timer's laps (`worker.scoring.Timer.durations_ms`)."""
    for stage, milliseconds in durations_ms.items():
        stage_duration.labels(stage).observe(milliseconds / 1000)


def job_failed(task: Task, code: ErrorCode) -> None:
    """The task failed its job: the task itself ends normally, and counts as failed."""
    job_failures.labels(task.name, code.value).inc()
    if getattr(task, "counts_jobs", False):
        tasks.labels(task.name, "failed").inc()
        return
    if _counting_tasks:
        _failed_requests.add(str(task.request.id))


def jobs_judged(task: Task, count: int) -> None:
    """A micro-batch ended `count` jobs with a result: counted per job, not per run."""
    if count:
        tasks.labels(task.name, "succeeded").inc(count)


def job_finished(job: Job) -> None:
    """A job reached its terminal status (called once, where its event is emitted)."""
    ended = job.timestamps.get(job.status.value, job.updated_at)
    lane = "interactive" if job.batch_id is None else "bulk"
    seconds = max((ended - job.created_at).total_seconds(), 0.0)
    job_duration.labels(job.status.value, lane).observe(seconds)


def delivery_result(delivery: Delivery, decision: Decision) -> str:
    if decision.status is DeliveryStatus.SUCCEEDED:
        return "delivered"
    if decision.status is DeliveryStatus.PENDING:
        return "retrying"
    return "disabled" if decision.gone and delivery.endpoint_id is not None else "failed"


def delivery_attempted(delivery: Delivery, result: AttemptResult, decision: Decision) -> None:
    outcome = delivery_result(delivery, decision)
    webhook_deliveries.labels(outcome).inc()
    # Attempts refused before sending (no secret, endpoint gone) took no time worth timing.
    if result.latency_ms > 0:
        webhook_duration.labels(outcome).observe(result.latency_ms / 1000)


# Task outcomes, from Celery's signals; `job_failed` turns a "success" into a failure.

_counting_tasks = False
_failed_requests: set[str] = set()


def _task_succeeded(sender: Task, **_: Any) -> None:
    if getattr(sender, "counts_jobs", False):
        return  # a micro-batch counts its jobs itself (jobs_judged, job_failed)
    request_id = str(sender.request.id)
    failed = request_id in _failed_requests
    _failed_requests.discard(request_id)
    tasks.labels(sender.name, "failed" if failed else "succeeded").inc()


def _task_retried(request: Any, **_: Any) -> None:
    _failed_requests.discard(str(request.id))
    tasks.labels(str(request.task), "retried").inc()


def _task_failed(sender: Task, task_id: str, **_: Any) -> None:
    _failed_requests.discard(str(task_id))
    tasks.labels(sender.name, "failed").inc()


# The main process: the shared directory and the HTTP server.


@dataclass
class _Serving:
    directory: Path
    owned: bool
    server: WSGIServer
    thread: Thread


_serving: _Serving | None = None


def _open_directory() -> tuple[Path, bool]:
    """The multiprocess directory: the operator's (emptied), else a new temporary one."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        # Files of an earlier run would be added to this one's counts.
        for stale in directory.glob("*.db"):
            stale.unlink()
        return directory, False
    return Path(tempfile.mkdtemp(prefix="deepfake-worker-metrics-")), True


def start_serving(settings: MetricsSettings) -> None:
    """Before the pool forks: serve `/metrics`, then have every process write to files."""
    global _serving
    if settings.port == 0 or _serving is not None:
        return
    directory, owned = _open_directory()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    try:
        server, thread = start_http_server(settings.port, settings.host, registry)
    except OSError as error:
        # Not fatal: the worker runs on, its values kept in each process and never served.
        logger.error(
            "worker metrics not served on %s:%d: %s (WORKER_METRICS__PORT=0 turns them off)",
            settings.host,
            settings.port,
            error,
        )
        if owned:
            shutil.rmtree(directory, ignore_errors=True)
        return
    os.environ[MULTIPROC_ENV] = str(directory)
    # prometheus_client chose where values live when first imported (the task modules
    # import this module before any signal): choose again, now that the directory is set.
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    _serving = _Serving(directory, owned, server, thread)
    logger.info("worker metrics on http://%s:%d/metrics", settings.host, settings.port)


def stop_serving() -> None:
    global _serving
    if _serving is None:
        return
    _serving.server.shutdown()
    _serving.server.server_close()
    if _serving.owned:
        shutil.rmtree(_serving.directory, ignore_errors=True)
    _serving = None


def _process_exited(pid: int | None = None, **_: Any) -> None:
    # Removes only live-gauge files: counters of a dead process must go on counting.
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid or os.getpid())  # type: ignore[no-untyped-call]


def connect_signals(settings: MetricsSettings) -> None:
    """Serve from the worker's main process and count every task's outcome."""
    global _counting_tasks
    if settings.port == 0:
        return
    _counting_tasks = True
    worker_init.connect(lambda **_: start_serving(settings), weak=False)
    worker_shutdown.connect(lambda **_: stop_serving(), weak=False)
    worker_process_shutdown.connect(_process_exited, weak=False)
    task_success.connect(_task_succeeded, weak=False)
    task_retry.connect(_task_retried, weak=False)
    task_failure.connect(_task_failed, weak=False)
