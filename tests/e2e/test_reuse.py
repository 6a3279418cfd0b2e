"""Identical image bytes of one tenant are scored once per model version; later jobs reuse
the scores under their own thresholds. Runs its own gateway and worker (reuse on), on a
broker database of their own so that no other worker takes their tasks."""

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack.process import free_port
from devstack.stack import gateway_process, worker_process
from tests.e2e.clients import api_client
from tests.e2e.jobs import ImageServer, submit_upload, wait_for_job

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def reuse_api(
    stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    broker = stack_env["GATEWAY_CELERY__BROKER_URL"].rsplit("/", 1)[0] + "/7"
    env = {
        **stack_env,
        "GATEWAY_CELERY__BROKER_URL": broker,
        "WORKER_CELERY__BROKER_URL": broker,
        "WORKER_REUSE_RESULTS": "true",
    }
    logs = tmp_path_factory.mktemp("reuse")
    port = free_port()
    with (
        worker_process(env, logs, name="reuse", concurrency=2),
        gateway_process(port, env, logs),
        api_client(f"http://127.0.0.1:{port}") as client,
    ):
        yield client


def test_identical_bytes_reuse_the_first_score_with_their_own_thresholds(
    reuse_api: httpx.Client, samples_dir: Path
) -> None:
    content = (samples_dir / "df/df00204.jpg").read_bytes() + uuid.uuid4().bytes  # new bytes
    first = wait_for_job(reuse_api, submit_upload(reuse_api, content))
    assert first["status"] == "succeeded"
    assert first["result"]["reused_from"] is None

    strict = reuse_api.post(
        "/v1/jobs",
        files={"file": ("again.jpg", content)},
        data={"thresholds": '{"fake": 0.999, "real": 0.0}'},
    )
    second = wait_for_job(reuse_api, strict.json()["id"])
    result = second["result"]
    assert result["reused_from"] == first["id"]
    assert result["fake_probability"] == first["result"]["fake_probability"]
    assert [f["box"] for f in result["faces"]] == [f["box"] for f in first["result"]["faces"]]
    assert result["verdict"] == "uncertain"  # the same score, judged by stricter thresholds

    # Another mode is another question: scored afresh.
    whole = reuse_api.post(
        "/v1/jobs", files={"file": ("w.jpg", content)}, data={"mode": "whole_image"}
    )
    assert wait_for_job(reuse_api, whole.json()["id"])["result"]["reused_from"] is None


def test_a_url_job_reuses_an_upload_of_the_same_bytes(
    reuse_api: httpx.Client, image_server: ImageServer, samples_dir: Path
) -> None:
    name = f"reuse-{uuid.uuid4().hex}.jpg"
    content = (samples_dir / "real/real00240.jpg").read_bytes() + uuid.uuid4().bytes
    (image_server.root / name).write_bytes(content)
    uploaded = wait_for_job(reuse_api, submit_upload(reuse_api, content))
    fetched = reuse_api.post("/v1/jobs", json={"image_url": image_server.url(name)})
    job = wait_for_job(reuse_api, fetched.json()["id"])
    assert job["result"]["reused_from"] == uploaded["id"]
