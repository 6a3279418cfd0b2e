"""Worker metrics without a worker: what each hook records, and the outcome rules."""

import os
import socket
from datetime import timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest
from celery import Task
from prometheus_client import values

from storage.errors import ErrorCode
from storage.jobs import Job, JobStatus, SourceKind, utcnow
from storage.webhooks import Delivery, DeliveryStatus, DestinationKind, EventType
from worker import metrics
from worker.settings import MetricsSettings
from worker.webhooks import AttemptResult, Decision


def _value(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def test_every_worker_metric_has_labels() -> None:
    # Values of unlabelled metrics would be created at import, in the main process only,
    # before the multiprocess directory exists.
    collectors = [
        metrics.tasks,
        metrics.job_failures,
        metrics.stage_duration,
        metrics.job_duration,
        metrics.webhook_deliveries,
        metrics.webhook_duration,
    ]
    assert all(collector._labelnames for collector in collectors)
    names = {family.name for family in metrics.REGISTRY.collect()}
    assert len(names) == len(collectors)


def test_stage_laps_are_observed_in_seconds() -> None:
    before = _value("deepfake_worker_stage_duration_seconds_sum", stage="decode")
    metrics.observe_stages({"decode": 250.0, "inference": 1000.0})
    after = _value("deepfake_worker_stage_duration_seconds_sum", stage="decode")
    assert after - before == pytest.approx(0.25)


def test_a_job_is_timed_from_creation_to_its_terminal_status_by_lane() -> None:
    created = utcnow() - timedelta(seconds=30)
    job = Job(source=SourceKind.URL, status=JobStatus.FAILED, created_at=created)
    job.timestamps[JobStatus.FAILED.value] = created + timedelta(seconds=4)
    labels = {"status": "failed", "lane": "bulk"}
    before = _value("deepfake_worker_job_duration_seconds_sum", **labels)
    metrics.job_finished(job.model_copy(update={"batch_id": "batch_1"}))
    after = _value("deepfake_worker_job_duration_seconds_sum", **labels)
    assert after - before == pytest.approx(4)


def _delivery(endpoint_id: str | None) -> Delivery:
    return Delivery(
        id="dlv_1",
        message_id="msg_1",
        event_type=EventType.JOB_SUCCEEDED,
        destination=DestinationKind.ENDPOINT if endpoint_id else DestinationKind.CALLBACK,
        endpoint_id=endpoint_id,
        url="https://example.com/hook",
        job_id="job_1",
        body="{}",
        next_attempt_at=utcnow(),
    )


@pytest.mark.parametrize(
    ("decision", "endpoint_id", "result"),
    [
        (Decision(DeliveryStatus.SUCCEEDED), "wh_1", "delivered"),
        (Decision(DeliveryStatus.PENDING, delay_s=5), "wh_1", "retrying"),
        (Decision(DeliveryStatus.FAILED), "wh_1", "failed"),
        (Decision(DeliveryStatus.FAILED, gone=True), "wh_1", "disabled"),
        # A callback URL has no endpoint to disable: its 410 is a plain failure.
        (Decision(DeliveryStatus.FAILED, gone=True), None, "failed"),
    ],
)
def test_delivery_results(decision: Decision, endpoint_id: str | None, result: str) -> None:
    assert metrics.delivery_result(_delivery(endpoint_id), decision) == result


def test_a_delivery_refused_before_sending_is_counted_but_not_timed() -> None:
    refused = AttemptResult(status_code=None, latency_ms=0.0, error="the endpoint was deleted")
    sent = AttemptResult(status_code=500, latency_ms=120.0)
    failed = Decision(DeliveryStatus.FAILED)
    count_before = _value("deepfake_worker_webhook_deliveries_total", result="failed")
    timed_before = _value(
        "deepfake_worker_webhook_delivery_duration_seconds_count", result="failed"
    )
    metrics.delivery_attempted(_delivery("wh_1"), refused, failed)
    metrics.delivery_attempted(_delivery("wh_1"), sent, failed)
    count = _value("deepfake_worker_webhook_deliveries_total", result="failed") - count_before
    timed = (
        _value("deepfake_worker_webhook_delivery_duration_seconds_count", result="failed")
        - timed_before
    )
    assert (count, timed) == (2, 1)


def _task(name: str, request_id: str) -> Task:
    return cast(Task, SimpleNamespace(name=name, request=SimpleNamespace(id=request_id)))


def test_a_task_that_failed_its_job_counts_as_failed(monkeypatch: Any) -> None:
    monkeypatch.setattr(metrics, "_counting_tasks", True)
    # Other tests run worker stages in this process: start from a clean slate.
    monkeypatch.setattr(metrics, "_failed_requests", set())
    name = "worker.fetch_image"
    failed_before = _value("deepfake_worker_tasks_total", task=name, outcome="failed")
    succeeded_before = _value("deepfake_worker_tasks_total", task=name, outcome="succeeded")

    metrics.job_failed(_task(name, "r1"), ErrorCode.UNSUPPORTED_IMAGE_FORMAT)
    metrics._task_succeeded(_task(name, "r1"))
    metrics._task_succeeded(_task(name, "r2"))

    failed = _value("deepfake_worker_tasks_total", task=name, outcome="failed") - failed_before
    succeeded = (
        _value("deepfake_worker_tasks_total", task=name, outcome="succeeded") - succeeded_before
    )
    assert (failed, succeeded) == (1, 1)
    assert not metrics._failed_requests
    code = ErrorCode.UNSUPPORTED_IMAGE_FORMAT.value
    assert _value("deepfake_worker_job_failures_total", task=name, code=code) >= 1


def test_failed_requests_are_not_kept_when_outcomes_are_not_counted(monkeypatch: Any) -> None:
    # Importing the Celery app (other tests do) turns counting on for the whole process.
    monkeypatch.setattr(metrics, "_counting_tasks", False)
    monkeypatch.setattr(metrics, "_failed_requests", set())
    metrics.job_failed(_task("worker.fetch_image", "r3"), ErrorCode.FETCH_UNAVAILABLE)
    assert not metrics._failed_requests


def test_a_busy_port_leaves_the_process_as_it_was(monkeypatch: Any) -> None:
    monkeypatch.delenv(metrics.MULTIPROC_ENV, raising=False)
    value_class = values.ValueClass
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        metrics.start_serving(MetricsSettings(port=port, host="127.0.0.1"))
    assert metrics._serving is None
    assert metrics.MULTIPROC_ENV not in os.environ
    assert values.ValueClass is value_class
