"""An endpoint disabled for answering 410 (or failing for days) is taken back into use by
its tenant's admin key; it then receives the events of jobs that end after."""

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.clients import CreateKey, api_client
from tests.e2e.jobs import submit_upload, wait_for_job
from tests.e2e.receiver import Receiver

pytestmark = pytest.mark.e2e


def _shown(api: httpx.Client, endpoint_id: str) -> dict[str, Any]:
    response = api.get(f"/v1/webhooks/{endpoint_id}")
    assert response.status_code == 200, response.text
    shown: dict[str, Any] = response.json()
    return shown


def test_a_disabled_endpoint_is_enabled_again(
    api: httpx.Client, receiver: Receiver, samples_dir: Path
) -> None:
    path = receiver.new_path(410, 200)  # gone once, then back
    body = {"url": receiver.url(path), "event_types": ["job.succeeded"]}
    endpoint_id = api.post("/v1/webhooks", json=body).json()["id"]
    image = (samples_dir / "df/df00204.jpg").read_bytes()
    try:
        wait_for_job(api, submit_upload(api, image))
        deadline = time.monotonic() + 30
        while not _shown(api, endpoint_id)["disabled"]:
            assert time.monotonic() < deadline, "never disabled"
            time.sleep(0.1)

        enabled = api.post(f"/v1/webhooks/{endpoint_id}/enable")

        assert enabled.status_code == 200, enabled.text
        assert enabled.json()["disabled"] is False
        assert enabled.json()["disabled_reason"] is None
        later = submit_upload(api, image)
        wait_for_job(api, later)
        receiver.wait_for(path, job_id=later)
    finally:
        api.delete(f"/v1/webhooks/{endpoint_id}")


def test_enabling_needs_the_endpoints_tenant_and_an_admin_key(
    gateway: str, api: httpx.Client, receiver: Receiver, create_key: CreateKey
) -> None:
    body = {"url": receiver.url(receiver.new_path()), "event_types": ["job.succeeded"]}
    endpoint_id = api.post("/v1/webhooks", json=body).json()["id"]
    try:
        with api_client(gateway, key=create_key("admin", tenant="enable-other")) as other:
            assert other.post(f"/v1/webhooks/{endpoint_id}/enable").status_code == 404
        with api_client(gateway, key=create_key("read", "submit")) as reader:
            assert reader.post(f"/v1/webhooks/{endpoint_id}/enable").status_code == 403
    finally:
        api.delete(f"/v1/webhooks/{endpoint_id}")
