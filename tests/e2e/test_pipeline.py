"""Properties of the pipeline as a whole: batching, repeated tasks, Triton outages."""

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from celery import Celery

from devstack.process import ServiceProcess, wait_until
from storage.jobs import TASK_QUEUES, TaskName
from tests.e2e.jobs import submit_upload, wait_for_job

pytestmark = pytest.mark.e2e

MODEL = "deepfake_detector"


def _model_stats(triton_server: Any) -> tuple[int, int]:
    response = httpx.get(f"{triton_server.http_url}/v2/models/{MODEL}/stats", timeout=5)
    stats = response.json()["model_stats"][0]
    return int(stats["inference_count"]), int(stats["execution_count"])


def test_concurrent_jobs_are_batched_by_triton(
    api: httpx.Client, samples_dir: Path, triton_server: Any
) -> None:
    crops = sorted(samples_dir.glob("*/*.jpg"))
    contents = [crops[i % len(crops)].read_bytes() for i in range(64)]
    inferences_before, executions_before = _model_stats(triton_server)
    with ThreadPoolExecutor(max_workers=16) as pool:
        job_ids = list(pool.map(lambda content: submit_upload(api, content), contents))
        jobs = list(pool.map(lambda job_id: wait_for_job(api, job_id, 120), job_ids))
    assert all(job["status"] == "succeeded" for job in jobs)
    inferences_after, executions_after = _model_stats(triton_server)
    inferences = inferences_after - inferences_before
    executions = executions_after - executions_before
    assert inferences == 64
    # Dynamic batching: several requests ran in one model execution.
    assert executions < inferences, (inferences, executions)


def test_running_a_task_again_changes_nothing(
    api: httpx.Client, samples_dir: Path, redis_server: Any, worker: ServiceProcess
) -> None:
    job_id = submit_upload(api, (samples_dir / "df/df00204.jpg").read_bytes())
    first = wait_for_job(api, job_id)
    producer = Celery(broker=redis_server.url)
    sent = [
        producer.send_task(task.value, args=[job_id], queue=TASK_QUEUES[task].value).id
        for task in (TaskName.RUN_INFERENCE, TaskName.FETCH_IMAGE, TaskName.RUN_INFERENCE)
    ]
    wait_until(
        lambda: all(f"{task_id}] succeeded" in worker.log_since_start() for task_id in sent), 30
    )
    again = api.get(f"/v1/jobs/{job_id}").json()
    assert again == first


def test_triton_down_retries_then_fails_with_its_own_code(
    api: httpx.Client, samples_dir: Path, triton_server: Any, worker: ServiceProcess
) -> None:
    crop = (samples_dir / "real/real00240.jpg").read_bytes()
    triton_server.stop()
    try:
        started = time.monotonic()
        job_id = submit_upload(api, crop)
        job = wait_for_job(api, job_id, 60)
        assert job["status"] == "failed"
        assert job["error"]["code"] == "inference_unavailable"
        assert time.monotonic() - started > 1.0  # backoff 0.3 + 0.6 + 1 s between retries
        assert worker.log_since_start().count(f"job {job_id}: inference") >= 3
    finally:
        triton_server.start()
        triton_server.wait_ready()
    job = wait_for_job(api, submit_upload(api, crop), 60)
    assert job["status"] == "succeeded"
