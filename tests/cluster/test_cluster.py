"""The service deployed on a cluster, through its gateway (scripts/kind-e2e.sh runs these).

Skipped unless `DEEPFAKE_CLUSTER_GATEWAY` names the gateway's base URL; the script also gives
`DEEPFAKE_CLUSTER_ADMIN_KEY` (the dev overlay's bootstrap key) and `DEEPFAKE_CLUSTER_FIXTURES`
(the webhooks worker's fixture sidecar, k8s/e2e, port-forwarded). Inside the cluster the
workers reach that sidecar at `DEEPFAKE_CLUSTER_FIXTURES_INSIDE` (http://127.0.0.1:8099).
"""

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from tests.e2e.clients import api_client
from tests.e2e.jobs import submit_upload, submit_url, wait_for_job

GATEWAY = os.environ.get("DEEPFAKE_CLUSTER_GATEWAY", "")
FIXTURES = os.environ.get("DEEPFAKE_CLUSTER_FIXTURES", "")
INSIDE = os.environ.get("DEEPFAKE_CLUSTER_FIXTURES_INSIDE", "http://127.0.0.1:8099")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not GATEWAY, reason="no cluster: DEEPFAKE_CLUSTER_GATEWAY is unset"),
]

SAMPLES = {
    "df/df00204.jpg": "fake",
    "df/df01254.jpg": "fake",
    "real/real00240.jpg": "real",
    "real/real00772.jpg": "real",
}
# A cluster on a CI runner's two cores: the first jobs wait for the models' first batches.
JOB_TIMEOUT_S = 180


@pytest.fixture(scope="module")
def api() -> Iterator[httpx.Client]:
    with api_client(GATEWAY, key=os.environ["DEEPFAKE_CLUSTER_ADMIN_KEY"]) as client:
        yield client


def test_ready_and_says_where_the_models_run(api: httpx.Client) -> None:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while (body := api.get("/readyz").json())["status"] != "ready":
        assert time.monotonic() < deadline, body
        time.sleep(2)
    # The dev overlay's Triton serves on CPU instances with the onnxruntime backend.
    assert body["execution_providers"]["deepfake_detector"] == "CPUExecutionProvider", body


@pytest.mark.parametrize(("name", "verdict"), SAMPLES.items())
def test_a_sample_crop_gets_its_verdict(
    api: httpx.Client, samples_dir: Path, name: str, verdict: str
) -> None:
    job = wait_for_job(api, submit_upload(api, (samples_dir / name).read_bytes()), JOB_TIMEOUT_S)
    assert job["status"] == "succeeded", job["error"]
    assert job["result"]["verdict"] == verdict


def test_a_crop_by_url_from_inside_the_cluster(api: httpx.Client) -> None:
    job = wait_for_job(api, submit_url(api, f"{INSIDE}/samples/df00204.jpg"), JOB_TIMEOUT_S)
    assert job["status"] == "succeeded", job["error"]
    assert job["result"]["verdict"] == "fake"


def test_a_batch_of_the_crops(api: httpx.Client) -> None:
    items = [
        {"image_url": f"{INSIDE}/samples/{Path(name).name}", "external_id": name}
        for name in SAMPLES
    ]
    response = api.post("/v1/batches", json={"items": items})
    assert response.status_code == 202, response.text
    batch_id = response.json()["id"]
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while (batch := api.get(f"/v1/batches/{batch_id}").json())["completed_at"] is None:
        assert time.monotonic() < deadline, batch
        time.sleep(1)
    assert batch["counts"]["succeeded"] == len(SAMPLES), batch
    lines = api.get(f"/v1/batches/{batch_id}/results").text.splitlines()
    verdicts = {row["external_id"]: row["verdict"] for row in map(json.loads, lines)}
    assert verdicts == SAMPLES


def _received(path: str, timeout_s: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while not (found := httpx.get(f"{FIXTURES}/received", params={"path": path}).json()):
        assert time.monotonic() < deadline, f"no webhook reached {path}"
        time.sleep(1)
    received: list[dict[str, Any]] = found
    return received


def test_a_signed_webhook_reaches_a_receiver_in_the_cluster(
    api: httpx.Client, samples_dir: Path
) -> None:
    path = f"/hooks/{uuid.uuid4().hex}"
    body = {"url": f"{INSIDE}{path}", "event_types": ["job.succeeded"]}
    endpoint = api.post("/v1/webhooks", json=body)
    assert endpoint.status_code == 201, endpoint.text
    try:
        job_id = submit_upload(api, (samples_dir / "real/real00240.jpg").read_bytes())
        job = wait_for_job(api, job_id, JOB_TIMEOUT_S)
        (request,) = _received(path, JOB_TIMEOUT_S)
        event = Webhook(endpoint.json()["secret"]).verify(request["body"], request["headers"])
        assert event["type"] == "job.succeeded"
        assert event["data"]["id"] == job["id"]
        assert event["data"]["result"]["verdict"] == "real"
    finally:
        api.delete(f"/v1/webhooks/{endpoint.json()['id']}")
