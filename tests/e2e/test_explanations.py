"""`/v1/jobs/{id}/explanations`: asked for, computed by the worker, served as overlays, kept
from other tenants and deleted with the job, through the whole stack."""

import io
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from devstack.process import ServiceProcess
from storage.errors import PermanentError
from storage.jobs import DEFAULT_TENANT
from storage.objects import ObjectStore, explanation_key
from storage.settings import ObjectStoreSettings
from tests.e2e.clients import CreateKey, api_client
from tests.e2e.jobs import submit_upload, wait_for_job

pytestmark = pytest.mark.e2e


def _wait_ready(api: httpx.Client, job_id: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        response = api.get(f"/v1/jobs/{job_id}/explanations")
        assert response.status_code == 200, response.text
        explanation: dict[str, Any] = response.json()
        if explanation["status"] != "pending":
            return explanation
        assert time.monotonic() < deadline, f"explanation of {job_id} still pending"
        time.sleep(0.2)


def _overlay_stored(s3_server: Any, job_id: str, version: str) -> bool:
    objects = ObjectStore(ObjectStoreSettings(endpoint=s3_server.endpoint))
    try:
        objects.get_explanation(explanation_key(DEFAULT_TENANT, job_id, version, 0))
    except PermanentError:
        return False
    return True


def test_an_explanation_is_computed_served_and_deleted_with_its_job(
    api: httpx.Client, samples_dir: Path, s3_server: Any
) -> None:
    content = (samples_dir / "df/df00204.jpg").read_bytes() + uuid.uuid4().bytes
    job = wait_for_job(api, submit_upload(api, content))
    assert job["status"] == "succeeded"
    path = f"/v1/jobs/{job['id']}/explanations"

    asked = api.post(path)
    assert asked.status_code == 202, asked.text
    assert asked.headers["location"] == path
    assert asked.json()["status"] == "pending"
    assert asked.json()["job_id"] == job["id"]

    ready = _wait_ready(api, job["id"])
    assert ready["status"] == "ready", ready
    assert ready["error"] is None
    assert ready["model_version"] == job["result"]["model_version"]
    assert ready["method"]["patch"] == [64, 64]
    assert ready["method"]["stride"] == [32, 32]
    faces = ready["faces"]
    assert [face["box"] for face in faces] == [face["box"] for face in job["result"]["faces"]]
    assert faces[0]["image"] == f"{path}/0.png"

    overlay = api.get(faces[0]["image"])
    assert overlay.status_code == 200
    assert overlay.headers["content-type"] == "image/png"
    assert overlay.headers["cache-control"] == "private, max-age=86400, immutable"
    assert overlay.headers["x-content-type-options"] == "nosniff"
    assert overlay.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert overlay.headers["etag"].startswith('"')
    with Image.open(io.BytesIO(overlay.content)) as image:
        assert (image.format, image.size) == ("PNG", (256, 256))
    assert api.get(f"{path}/{len(faces)}.png").json()["error"]["code"] == "explanation_not_found"

    # Asked again: the same explanation, not a second computation.
    again = api.post(path)
    assert again.status_code == 200
    assert again.json() == ready

    assert _overlay_stored(s3_server, job["id"], ready["model_version"])
    assert api.delete(f"/v1/jobs/{job['id']}").status_code == 204
    assert api.get(path).json()["error"]["code"] == "job_not_found"
    assert api.get(faces[0]["image"]).status_code == 404
    assert not _overlay_stored(s3_server, job["id"], ready["model_version"])


def test_another_tenants_job_is_not_found_on_every_route(
    gateway: str, worker: ServiceProcess, create_key: CreateKey, samples_dir: Path
) -> None:
    content = (samples_dir / "df/df01254.jpg").read_bytes() + uuid.uuid4().bytes
    with api_client(gateway, key=create_key("submit", "read")) as owner:
        job = wait_for_job(owner, submit_upload(owner, content))
        path = f"/v1/jobs/{job['id']}/explanations"
        assert owner.post(path).status_code == 202
        assert _wait_ready(owner, job["id"])["status"] == "ready"
        assert owner.get(f"{path}/0.png").status_code == 200
    missing = "/v1/jobs/job_doesnotexist/explanations"
    with api_client(gateway, key=create_key("submit", "read")) as stranger:
        for method, suffix in (("POST", ""), ("GET", ""), ("GET", "/0.png")):
            theirs = stranger.request(method, path + suffix)
            nobodys = stranger.request(method, missing + suffix)
            assert theirs.status_code == nobodys.status_code == 404, (method, suffix)
            assert theirs.json()["error"]["code"] == "job_not_found"
            assert nobodys.json()["error"]["code"] == "job_not_found"


def test_a_job_without_a_scored_face_cannot_be_explained(api: httpx.Client) -> None:
    # Too large to be taken for a tight face crop, and no face in it: verdict no_face.
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (90, 120, 150)).save(buffer, format="PNG")
    job = wait_for_job(api, submit_upload(api, buffer.getvalue(), "blank.png"))
    assert job["result"]["verdict"] == "no_face"
    path = f"/v1/jobs/{job['id']}/explanations"

    refused = api.post(path)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "job_not_judged"
    assert api.get(path).json()["error"]["code"] == "explanation_not_found"
    assert api.get(f"{path}/0.png").json()["error"]["code"] == "explanation_not_found"
