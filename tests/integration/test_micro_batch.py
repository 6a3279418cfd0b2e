"""A micro-batch run in this process against the real servers: good and bad jobs together,
a micro-batch given back by a lost worker, a model that is down, a defect of the run itself.

Every case ends each job exactly as its one-job task would, or hands it to that task."""

import base64
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from celery_batches import SimpleRequest

from storage.errors import ErrorCode, TransientError
from storage.jobs import DetectionMode, Job, JobStatus, Queue, SourceKind, TaskName
from tests.integration.test_worker_stages import _stored, _waiting
from worker import micro_batch_tasks
from worker.celery_app import app
from worker.runtime import Runtime

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "models" / "mesonet" / "samples"
JUDGE = app.tasks[TaskName.JUDGE_IMAGES.value]


def _upload(runtime: Runtime, content: bytes, **fields: Any) -> Job:
    runtime.objects.ensure_bucket()
    image = runtime.objects.put_image(content, "image/jpeg", "default")
    job = Job(source=SourceKind.UPLOAD, image=image, **{"mode": DetectionMode.FACES, **fields})
    runtime.run(runtime.jobs.insert(job))
    return job


def _request(job_id: str, *, redelivered: bool = False, queue: Queue = Queue.INFERENCE) -> Any:
    delivery = {"redelivered": redelivered, "routing_key": queue.value}
    return SimpleRequest(
        f"req-{job_id}", JUDGE.name, (job_id,), {}, delivery, "test", True, None, None, {}
    )


def _run(requests: list[Any]) -> list[str]:
    return micro_batch_tasks.run_micro_batch(requests, JUDGE, TaskName.RUN_INFERENCE)


def _sent(queue: Queue) -> list[tuple[str, str, int]]:
    """(task name, job ID, retries) of every message waiting in the queue."""
    found = []
    for raw in _waiting(queue):
        message = json.loads(raw)
        headers = message["headers"]
        args = json.loads(base64.b64decode(message["body"]))[0]
        found.append((headers["task"], args[0], int(headers.get("retries") or 0)))
    return found


@pytest.fixture(autouse=True)
def empty_queues(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """The micro-batch runs with the test's settings; the queues hold only what the test
    sends."""
    monkeypatch.setattr(micro_batch_tasks, "get_settings", lambda: runtime.settings)
    with app.connection_for_write() as connection:
        client = connection.default_channel.client
        client.delete(Queue.INFERENCE.value, Queue.INFERENCE_BULK.value, Queue.FETCH.value)


@pytest.fixture
def samples() -> dict[str, bytes]:
    return {
        "fake": (SAMPLES / "df" / "df00204.jpg").read_bytes(),
        "real": (SAMPLES / "real" / "real00240.jpg").read_bytes(),
    }


def test_bad_images_fail_alone_and_the_rest_are_judged_together(
    runtime: Runtime,
    samples: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fakes = [_upload(runtime, samples["fake"]) for _ in range(3)]
    reals = [_upload(runtime, samples["real"]) for _ in range(3)]
    corrupt = _upload(runtime, samples["fake"][:200])  # a JPEG cut short
    whole = _upload(runtime, samples["real"], mode=DetectionMode.WHOLE_IMAGE)
    ended = _upload(runtime, samples["fake"], status=JobStatus.SUCCEEDED)
    requests = [_request(j.id) for j in [*fakes, corrupt, *reals, whole, ended]]
    requests.append(_request("job_that_does_not_exist"))
    calls: list[int] = []
    predict = runtime.detector.predict

    def counted(model: Any, images: Any) -> Any:
        calls.append(len(images))
        return predict(model, images)

    monkeypatch.setattr(runtime.detector, "predict", counted)

    assert _run(requests) == []

    for job, verdict in [(j, "fake") for j in fakes] + [(j, "real") for j in reals]:
        stored = _stored(runtime, job.id)
        assert stored.status is JobStatus.SUCCEEDED
        assert stored.result is not None
        assert stored.result.verdict == verdict
        assert list(stored.timestamps) == ["queued", "inferring", "succeeded"]
        assert {"load", "decode", "face_detection", "inference"} <= set(stored.durations_ms)
    assert _stored(runtime, whole.id).status is JobStatus.SUCCEEDED
    failed = _stored(runtime, corrupt.id)
    assert failed.status is JobStatus.FAILED
    assert failed.error is not None
    assert failed.error.code is ErrorCode.IMAGE_DECODE_FAILED
    assert _stored(runtime, ended.id).result is None  # untouched
    # One request for all seven jobs' inputs: six face crops (or more) and one whole image.
    assert len(calls) == 1
    assert calls[0] >= 7
    assert _sent(Queue.INFERENCE) == []


def test_a_lost_micro_batch_runs_its_jobs_alone_counted_once(
    runtime: Runtime,
    samples: dict[str, bytes],
) -> None:
    jobs = [_upload(runtime, samples["fake"], batch_id="b1") for _ in range(3)]
    queue = Queue.INFERENCE_BULK

    assert _run([_request(j.id, redelivered=True, queue=queue) for j in jobs]) == []

    for job in jobs:
        stored = _stored(runtime, job.id)
        assert stored.status is JobStatus.QUEUED  # not judged in the micro-batch
        assert stored.lost_deliveries == 1
    sent = _sent(queue)
    assert sorted(sent) == sorted((TaskName.RUN_INFERENCE.value, j.id, 0) for j in jobs)


def test_a_model_that_is_down_sends_each_job_to_be_retried_alone(
    runtime: Runtime,
    samples: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:

    def down(*_: Any) -> Any:
        raise TransientError(ErrorCode.INFERENCE_UNAVAILABLE, "model not ready")

    monkeypatch.setattr(runtime.detector, "predict", down)
    jobs = [_upload(runtime, samples["real"]) for _ in range(2)]

    assert _run([_request(j.id) for j in jobs]) == []

    assert all(_stored(runtime, j.id).status is JobStatus.QUEUED for j in jobs)
    sent = _sent(Queue.INFERENCE)
    assert sorted(sent) == sorted((TaskName.RUN_INFERENCE.value, j.id, 1) for j in jobs)


def test_a_defect_of_the_run_hands_every_job_on_alone(
    runtime: Runtime,
    samples: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:

    def broken(*_: Any) -> Any:
        raise IndexError("a defect")

    monkeypatch.setattr(micro_batch_tasks, "score_images", broken)
    jobs = [_upload(runtime, samples["real"]) for _ in range(2)]

    assert _run([_request(j.id) for j in jobs]) == []

    sent = _sent(Queue.INFERENCE)
    assert sorted(sent) == sorted((TaskName.RUN_INFERENCE.value, j.id, 0) for j in jobs)


def test_a_slow_download_leaves_its_micro_batch_and_runs_alone(
    runtime: Runtime, samples: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One tenant's slow server does not hold up another tenant's job."""
    monkeypatch.setattr(runtime.settings.micro_batch, "fetch_wait_s", 0.5)
    runtime.objects.ensure_bucket()
    release = threading.Event()

    def fetch_and_store(_: Runtime, url: str, tenant_id: str, timer: Any) -> Any:
        if "slow" in url:
            release.wait(10)  # a server that trickles its bytes
        image = runtime.objects.put_image(samples["real"], "image/jpeg", tenant_id)
        return samples["real"], image

    monkeypatch.setattr(micro_batch_tasks, "fetch_and_store", fetch_and_store)
    slow = Job(source=SourceKind.URL, image_url="https://a.example/slow.jpg", tenant_id="a")
    fast = Job(source=SourceKind.URL, image_url="https://b.example/fast.jpg", tenant_id="b")
    for job in (slow, fast):
        runtime.run(runtime.jobs.insert(job))
    fetch = app.tasks[TaskName.FETCH_IMAGES.value]
    requests = [_request(job.id, queue=Queue.FETCH) for job in (slow, fast)]

    started = time.monotonic()
    given_back = micro_batch_tasks.run_micro_batch(requests, fetch, TaskName.FETCH_IMAGE)
    release.set()

    assert given_back == []
    assert time.monotonic() - started < 5
    assert _stored(runtime, fast.id).status is JobStatus.SUCCEEDED
    assert _stored(runtime, slow.id).status is JobStatus.QUEUED
    assert _sent(Queue.FETCH) == [(TaskName.FETCH_IMAGE.value, slow.id, 0)]
