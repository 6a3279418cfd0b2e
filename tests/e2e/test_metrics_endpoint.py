"""Prometheus metrics through the real stack: jobs move the gateway's and a worker's series."""

import re
import time
from collections.abc import Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from devstack.process import ServiceProcess
from devstack.servers import TritonServer
from storage.jobs import JobStatus, Queue
from tests.dashboard import load_dashboard, queried_metrics
from tests.e2e.jobs import ImageServer, submit_upload, wait_for_job
from tests.e2e.receiver import Receiver

pytestmark = pytest.mark.e2e

Samples = list[tuple[str, dict[str, str], float]]


def _parse(text: str) -> Samples:
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def _value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    return sum(
        value
        for sample_name, sample_labels, value in samples
        if sample_name == name and labels.items() <= sample_labels.items()
    )


def _scrape_worker(worker: ServiceProcess) -> Samples:
    port = worker.env["WORKER_METRICS__PORT"]
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert response.status_code == 200
    return _parse(response.text)


def _wait_for(scrape: Callable[[], Samples], moved: Callable[[Samples], bool]) -> Samples:
    # A task's outcome is counted just after the job's own write: poll briefly.
    deadline = time.monotonic() + 10
    while not moved(samples := scrape()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return samples


def _submit(api: httpx.Client, body: dict[str, str]) -> str:
    response = api.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


def test_the_gateway_counts_requests_by_route_template_and_reads_the_stores(
    api: httpx.Client, gateway: str, gateway_internal: str, image_server: ImageServer
) -> None:
    job_id = _submit(api, {"image_url": image_server.url("real/real00240.jpg")})
    # Prometheus carries no API key, and scrapes the internal port.
    before = _parse(httpx.get(f"{gateway_internal}/metrics").text)
    assert wait_for_job(api, job_id)["status"] == "succeeded"

    response = httpx.get(f"{gateway_internal}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = _parse(response.text)
    polled = {"method": "GET", "route": "/v1/jobs/{job_id}", "status": "200"}
    assert _value(after, "deepfake_gateway_http_requests_total", **polled) > _value(
        before, "deepfake_gateway_http_requests_total", **polled
    )
    posted = {"method": "POST", "route": "/v1/jobs", "status": "202"}
    assert _value(after, "deepfake_gateway_http_request_duration_seconds_count", **posted) >= 1
    # Raw paths never become labels.
    assert not any(job_id in labels.get("route", "") for _, labels, _ in after)

    assert _value(after, "deepfake_gateway_scrape_source_up", source="mongodb") == 1
    assert _value(after, "deepfake_gateway_scrape_source_up", source="redis") == 1
    statuses = {labels["status"] for name, labels, _ in after if name == "deepfake_jobs"}
    assert statuses == {status.value for status in JobStatus}
    assert _value(after, "deepfake_jobs") >= 1
    queues = {labels["queue"] for name, labels, _ in after if name == "deepfake_queue_messages"}
    assert queues == {queue.value for queue in Queue}

    assert "/metrics" not in api.get("/openapi.json").json()["paths"]
    # Not on the API port: job counts and queue depths are not the public's to read.
    assert httpx.get(f"{gateway}/metrics").status_code == 404


def test_a_worker_counts_tasks_stages_jobs_and_deliveries(
    api: httpx.Client, worker: ServiceProcess, image_server: ImageServer, receiver: Receiver
) -> None:
    before = _scrape_worker(worker)
    hook = receiver.new_path(200)
    succeeded = _submit(
        api,
        {"image_url": image_server.url("df/df00204.jpg"), "callback_url": receiver.url(hook)},
    )
    failed = _submit(api, {"image_url": image_server.url("not-an-image.jpg")})
    # An upload runs in a `worker.judge_images` micro-batch, which loads the stored image; a
    # URL job in a `worker.fetch_images` one, judged from the bytes it fetched. Both count
    # their outcomes per job.
    uploaded = submit_upload(api, (image_server.root / "df" / "df00204.jpg").read_bytes())
    assert wait_for_job(api, succeeded)["status"] == "succeeded"
    assert wait_for_job(api, failed)["status"] == "failed"
    assert wait_for_job(api, uploaded)["status"] == "succeeded"
    receiver.wait_for(hook, succeeded)

    def delta(samples: Samples, name: str, **labels: str) -> float:
        return _value(samples, name, **labels) - _value(before, name, **labels)

    inferred = {"task": "worker.judge_images", "outcome": "succeeded"}
    fetch_failed = {"task": "worker.fetch_images", "outcome": "failed"}
    delivered = {"result": "delivered"}

    def moved(samples: Samples) -> bool:
        return (
            delta(samples, "deepfake_worker_tasks_total", **inferred) >= 1
            and delta(samples, "deepfake_worker_tasks_total", **fetch_failed) >= 1
            and delta(samples, "deepfake_worker_webhook_deliveries_total", **delivered) >= 1
        )

    after = _wait_for(lambda: _scrape_worker(worker), moved)
    assert moved(after), "the worker's task and delivery counters did not move"
    assert delta(after, "deepfake_worker_job_failures_total", code="unsupported_image_format") >= 1
    for stage in ("fetch", "load", "decode", "face_detection", "inference"):
        count = delta(after, "deepfake_worker_stage_duration_seconds_count", stage=stage)
        assert count >= 1, stage
    for status in ("succeeded", "failed"):
        count = delta(after, "deepfake_worker_job_duration_seconds_count", status=status)
        assert count >= 1, status
    assert delta(after, "deepfake_worker_webhook_delivery_duration_seconds_count", **delivered) >= 1


def test_the_dashboard_queries_only_metrics_triton_exports(
    api: httpx.Client, triton_server: TritonServer, image_server: ImageServer
) -> None:
    # After a job, so that the per-model series exist.
    job_id = _submit(api, {"image_url": image_server.url("real/real00772.jpg")})
    assert wait_for_job(api, job_id)["status"] == "succeeded"
    text = httpx.get(triton_server.metrics_url).text
    # Sample names as written (the parser would add `_total` to Triton's counters).
    exported = {re.split(r"[{ ]", line)[0] for line in text.splitlines() if line[:1].isalpha()}
    queried = queried_metrics(load_dashboard(), "nv_")
    assert queried <= exported, queried - exported
