"""API keys, tenants, scopes, rate limits and idempotency against the running service."""

import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.clients import CreateKey, api_client, keys_command
from tests.e2e.jobs import ImageServer, wait_for_job


@pytest.fixture
def other_tenant(gateway: str, create_key: CreateKey) -> Iterator[httpx.Client]:
    with api_client(gateway, key=create_key("admin")) as client:
        yield client


def _error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_requests_without_a_valid_key_are_401(gateway: str, worker: object) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": "Bearer dfk_00000000_" + "x" * 43},  # well-formed, unknown
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ):
        response = httpx.get(f"{gateway}/v1/jobs/job_x", headers=headers)
        assert _error(response) == (401, "unauthorized")
        assert response.headers["www-authenticate"] == "Bearer"
    # Health and the API description stay open.
    assert httpx.get(f"{gateway}/healthz").status_code == 200
    assert httpx.get(f"{gateway}/openapi.json").status_code == 200


def test_another_tenants_ids_answer_404(
    api: httpx.Client, other_tenant: httpx.Client, image_server: ImageServer, receiver: object
) -> None:
    job = api.post("/v1/jobs", json={"image_url": image_server.url("df/df00204.jpg")})
    batch = api.post("/v1/batches", json={"items": [{"image_url": image_server.url("x.jpg")}]})
    hook = api.post(
        "/v1/webhooks", json={"url": "https://example.com/hook", "event_types": ["job.failed"]}
    )
    job_id, batch_id, hook_id = job.json()["id"], batch.json()["id"], hook.json()["id"]
    wait_for_job(api, job_id)

    assert _error(other_tenant.get(f"/v1/jobs/{job_id}")) == (404, "job_not_found")
    assert _error(other_tenant.get(f"/v1/batches/{batch_id}")) == (404, "batch_not_found")
    assert _error(other_tenant.get(f"/v1/batches/{batch_id}/results")) == (404, "batch_not_found")
    assert _error(other_tenant.post(f"/v1/batches/{batch_id}/cancel")) == (404, "batch_not_found")
    assert _error(other_tenant.get(f"/v1/webhooks/{hook_id}")) == (404, "webhook_not_found")
    assert _error(other_tenant.delete(f"/v1/webhooks/{hook_id}")) == (404, "webhook_not_found")
    assert hook_id not in [w["id"] for w in other_tenant.get("/v1/webhooks").json()]
    assert other_tenant.get("/v1/webhooks/deliveries").json() == []
    # The owner still sees all of it.
    assert api.get(f"/v1/jobs/{job_id}").status_code == 200
    assert api.get(f"/v1/webhooks/{hook_id}").status_code == 200
    api.delete(f"/v1/webhooks/{hook_id}")


def test_scopes_limit_what_a_key_may_do(
    gateway: str, worker: object, create_key: CreateKey, image_server: ImageServer
) -> None:
    tenant = f"scoped-{uuid.uuid4().hex[:8]}"
    body = {"image_url": image_server.url("df/df00204.jpg")}
    with api_client(gateway, key=create_key("read", tenant=tenant)) as reader:
        assert _error(reader.post("/v1/jobs", json=body)) == (403, "forbidden")
        assert reader.get("/v1/models").status_code == 200
        assert _error(reader.get("/v1/webhooks")) == (403, "forbidden")
    with api_client(gateway, key=create_key("submit", tenant=tenant)) as submitter:
        job_id = submitter.post("/v1/jobs", json=body).json()["id"]
        assert _error(submitter.get(f"/v1/jobs/{job_id}")) == (403, "forbidden")
    with api_client(gateway, key=create_key("submit", "read", tenant=tenant)) as both:
        assert wait_for_job(both, job_id)["status"] == "succeeded"


def test_a_revoked_key_stops_working(
    gateway: str, worker: object, create_key: CreateKey, stack_env: dict[str, str]
) -> None:
    key = create_key("read")
    with api_client(gateway, key=key) as client:
        assert client.get("/v1/models").status_code == 200
        key_id = key.split("_")[1]
        listed = keys_command(stack_env, "list")
        assert key_id in listed
        assert key not in listed  # never the secret
        assert "revoked" in keys_command(stack_env, "revoke", key_id)
        deadline = time.monotonic() + 10  # the gateway trusts a looked-up key for a moment
        while client.get("/v1/models").status_code != 401:
            assert time.monotonic() < deadline, "the revoked key still works"
            time.sleep(0.2)


def test_a_key_over_its_rate_is_told_when_to_retry(
    gateway: str, worker: object, create_key: CreateKey
) -> None:
    with api_client(gateway, key=create_key("read", rate="0.5", burst="3")) as client:
        statuses = [client.get("/v1/models").status_code for _ in range(5)]
        assert statuses[:3] == [200, 200, 200]
        limited = client.get("/v1/models")
        assert _error(limited) == (429, "rate_limited")
        assert 1 <= int(limited.headers["retry-after"]) <= 2


def test_an_idempotency_key_returns_the_first_answer(
    api: httpx.Client, image_server: ImageServer, samples_dir: Path
) -> None:
    key = {"Idempotency-Key": uuid.uuid4().hex}
    body = {"image_url": image_server.url("df/df00204.jpg")}
    first = api.post("/v1/jobs", json=body, headers=key)
    again = api.post("/v1/jobs", json=body, headers=key)
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    other = api.post("/v1/jobs", json={"image_url": image_server.url("x.jpg")}, headers=key)
    assert _error(other) == (422, "idempotency_key_mismatch")

    # Each multipart send has its own random boundary: still the same request.
    upload_key = {"Idempotency-Key": uuid.uuid4().hex}
    crop = (samples_dir / "real" / "real00240.jpg").read_bytes()
    ids = {
        api.post("/v1/jobs", files={"file": ("a.jpg", crop)}, headers=upload_key).json()["id"]
        for _ in range(2)
    }
    assert len(ids) == 1

    batch_key = {"Idempotency-Key": uuid.uuid4().hex}
    items = {"items": [{"image_url": image_server.url("df/df00204.jpg")}]}
    batches = {api.post("/v1/batches", json=items, headers=batch_key).json()["id"] for _ in "ab"}
    assert len(batches) == 1


def _answer_to_headers_only(gateway: str, headers: dict[str, str]) -> str:
    """Send a request's headers announcing a large body, none of the body, and read the
    answer: a gateway that waited for the body would time out here."""
    host, port = gateway.removeprefix("http://").split(":")
    lines = ["POST /v1/batches HTTP/1.1", f"Host: {host}", "Content-Length: 50000000"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return sock.recv(4096).decode("latin-1").split("\r\n", 1)[0]


def test_an_idempotent_request_is_authorized_before_its_body_is_read(
    gateway: str, worker: object, create_key: CreateKey
) -> None:
    multipart = {"Content-Type": "multipart/form-data; boundary=x"}
    unknown = {"Authorization": "Bearer dfk_00000000_" + "x" * 43}
    for headers, status in (
        ({}, "401"),
        (unknown, "401"),
        ({"Authorization": f"Bearer {create_key('read')}"}, "403"),
    ):
        key = {"Idempotency-Key": uuid.uuid4().hex, **multipart, **headers}
        assert _answer_to_headers_only(gateway, key).split(" ")[1] == status
