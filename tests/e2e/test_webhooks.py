"""Signed webhooks through the whole stack, to a real HTTP receiver on 127.0.0.1."""

import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pymongo
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from devstack.servers import MongoServer
from storage.settings import MongoSettings
from tests.e2e.clients import CreateKey, api_client
from tests.e2e.jobs import ImageServer, submit_upload, wait_for_job
from tests.e2e.receiver import Receiver, running_receiver

pytestmark = pytest.mark.e2e

Register = Callable[..., dict[str, Any]]


@pytest.fixture
def register(api: httpx.Client, receiver: Receiver) -> Iterator[Register]:
    """Registers endpoints on the receiver; deletes them after the test, so that later
    tests' jobs are not delivered to them."""
    created: list[str] = []

    def _register(
        path: str = "", event_types: tuple[str, ...] = ("job.succeeded",), url: str = ""
    ) -> dict[str, Any]:
        body = {"url": url or receiver.url(path), "event_types": list(event_types)}
        response = api.post("/v1/webhooks", json=body)
        assert response.status_code == 201, response.text
        endpoint: dict[str, Any] = response.json()
        created.append(endpoint["id"])
        return endpoint

    yield _register
    for endpoint_id in created:
        api.delete(f"/v1/webhooks/{endpoint_id}")


def _deliveries(api: httpx.Client, **query: str) -> list[dict[str, Any]]:
    response = api.get("/v1/webhooks/deliveries", params=query)
    assert response.status_code == 200, response.text
    deliveries: list[dict[str, Any]] = response.json()
    return deliveries


def _wait_for_delivery(api: httpx.Client, delivery_id: str, status: str) -> dict[str, Any]:
    for _ in range(300):
        delivery: dict[str, Any] = api.get(f"/v1/webhooks/deliveries/{delivery_id}").json()
        if delivery["status"] == status:
            return delivery
        time.sleep(0.05)
    raise AssertionError(f"delivery {delivery_id} still {delivery['status']}")


def _sample(samples_dir: Path) -> bytes:
    return (samples_dir / "df/df00204.jpg").read_bytes()


def test_a_registered_endpoint_receives_a_signed_job_succeeded(
    api: httpx.Client, receiver: Receiver, register: Register, samples_dir: Path
) -> None:
    path = receiver.new_path()
    endpoint = register(path)
    assert endpoint["secret"].startswith("whsec_")
    job_id = submit_upload(api, _sample(samples_dir))
    job = wait_for_job(api, job_id)
    (request,) = receiver.wait_for(path, job_id)
    event = Webhook(endpoint["secret"]).verify(request.body, request.headers)
    assert event["type"] == "job.succeeded"
    assert event["data"] == job == api.get(f"/v1/jobs/{job_id}").json()
    assert event["timestamp"].startswith(job["updated_at"][:19])
    assert request.headers["webhook-id"].startswith("msg_")
    assert request.headers["content-type"] == "application/json"

    (delivery,) = _deliveries(api, job_id=job_id, endpoint_id=endpoint["id"])
    detail = _wait_for_delivery(api, delivery["id"], "succeeded")
    assert detail["message_id"] == request.headers["webhook-id"]
    assert detail["payload"] == event
    (attempt,) = detail["attempts"]
    assert attempt["status_code"] == 200
    assert attempt["latency_ms"] >= 0
    assert attempt["error"] is None
    # The secret is shown at creation only.
    listed = {e["id"]: e for e in api.get("/v1/webhooks").json()}
    assert "secret" not in listed[endpoint["id"]]
    assert "secret" not in api.get(f"/v1/webhooks/{endpoint['id']}").json()


def test_a_callback_url_receives_job_failed_for_a_missing_image(
    api: httpx.Client, receiver: Receiver, image_server: ImageServer
) -> None:
    path = receiver.new_path()
    body = {"image_url": image_server.url("missing.jpg"), "callback_url": receiver.url(path)}
    response = api.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    assert response.json()["callback_url"] == receiver.url(path)
    job = wait_for_job(api, job_id)
    (request,) = receiver.wait_for(path, job_id)
    event = Webhook(_callback_secret(api)).verify(request.body, request.headers)
    assert event["type"] == "job.failed"
    assert event["data"]["error"]["code"] == "image_not_found"
    assert event["data"] == job
    (delivery,) = _deliveries(api, job_id=job_id)
    assert delivery["destination"] == "callback"
    assert delivery["endpoint_id"] is None


def test_an_upload_takes_a_callback_url_as_a_form_field(
    api: httpx.Client, receiver: Receiver, samples_dir: Path
) -> None:
    path = receiver.new_path()
    response = api.post(
        "/v1/jobs",
        files={"file": ("a.jpg", _sample(samples_dir), "image/jpeg")},
        data={"callback_url": receiver.url(path)},
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    (request,) = receiver.wait_for(path, job_id)
    assert Webhook(_callback_secret(api)).verify(request.body, request.headers)["type"] == (
        "job.succeeded"
    )


def _callback_secret(api: httpx.Client) -> str:
    response = api.get("/v1/webhooks/callback-secret")
    assert response.status_code == 200, response.text
    secret: str = response.json()["secret"]
    return secret


def test_callbacks_are_signed_with_their_tenants_own_secret(
    gateway: str, api: httpx.Client, receiver: Receiver, create_key: CreateKey, samples_dir: Path
) -> None:
    """Tenant A pointing a callback at tenant B's receiver gets nothing B's secret accepts."""
    path = receiver.new_path()
    with (
        api_client(gateway, key=create_key("admin")) as tenant_a,
        api_client(gateway, key=create_key("admin")) as tenant_b,
    ):
        secret_a, secret_b = _callback_secret(tenant_a), _callback_secret(tenant_b)
        assert secret_a != secret_b
        assert _callback_secret(tenant_a) == secret_a  # stored, not made per read
        job_ids = []
        for tenant in (tenant_a, tenant_b):
            response = tenant.post(
                "/v1/jobs",
                files={"file": ("a.jpg", _sample(samples_dir), "image/jpeg")},
                data={"callback_url": receiver.url(path)},
            )
            assert response.status_code == 202, response.text
            job_ids.append(response.json()["id"])
        (from_a,) = receiver.wait_for(path, job_ids[0])
        (from_b,) = receiver.wait_for(path, job_ids[1])
        assert Webhook(secret_a).verify(from_a.body, from_a.headers)["data"]["id"] == job_ids[0]
        with pytest.raises(WebhookVerificationError):
            Webhook(secret_b).verify(from_a.body, from_a.headers)
        Webhook(secret_b).verify(from_b.body, from_b.headers)
        assert from_a.headers["webhook-id"] != from_b.headers["webhook-id"]
        # Nothing in the event names a tenant, so nothing in it can name another.
        assert "tenant" not in from_a.body.decode()

        rotated = tenant_a.post("/v1/webhooks/callback-secret/rotate")
        assert rotated.status_code == 200, rotated.text
        assert rotated.json()["secret"] != secret_a
        assert rotated.json()["previous_secret_expires_at"] is not None
        assert _callback_secret(tenant_a) == rotated.json()["secret"]
        assert _callback_secret(tenant_b) == secret_b
        again = tenant_a.post(
            "/v1/jobs",
            json={"image_url": "https://example.invalid/x.jpg", "callback_url": receiver.url(path)},
        )
        assert again.status_code == 202, again.text
        (request,) = receiver.wait_for(path, again.json()["id"])
        assert len(request.headers["webhook-signature"].split(" ")) == 2
        for secret in (rotated.json()["secret"], secret_a):
            Webhook(secret).verify(request.body, request.headers)


def test_the_callback_secret_routes_need_an_admin_key(gateway: str, create_key: CreateKey) -> None:
    with api_client(gateway, key=create_key("submit", "read")) as client:
        assert client.get("/v1/webhooks/callback-secret").status_code == 403
        assert client.post("/v1/webhooks/callback-secret/rotate").status_code == 403


def test_a_receiver_answering_503_is_retried_until_it_answers_200(
    api: httpx.Client, receiver: Receiver, register: Register, samples_dir: Path
) -> None:
    path = receiver.new_path(503, (503, {"Retry-After": "1"}), 200)
    endpoint = register(path)
    job_id = submit_upload(api, _sample(samples_dir))
    requests = receiver.wait_for(path, job_id, count=3)
    assert len({r.headers["webhook-id"] for r in requests}) == 1
    assert len({r.body for r in requests}) == 1
    # The second answer asked for 1 s, more than the shortened schedule's 0.5 s.
    assert requests[2].at - requests[1].at >= 0.9
    for request in requests:
        Webhook(endpoint["secret"]).verify(request.body, request.headers)
    (delivery,) = _deliveries(api, job_id=job_id, endpoint_id=endpoint["id"])
    detail = _wait_for_delivery(api, delivery["id"], "succeeded")
    assert [a["status_code"] for a in detail["attempts"]] == [503, 503, 200]
    assert [a["number"] for a in detail["attempts"]] == [1, 2, 3]


def test_a_receiver_that_is_down_gets_every_event_once_it_is_back(
    api: httpx.Client, register: Register, samples_dir: Path
) -> None:
    with socket.socket() as probe:  # a port nobody listens on, until the receiver comes back
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = Receiver(base_url=f"http://127.0.0.1:{port}")
    path = down.new_path()
    endpoint = register(url=down.url(path))
    job_ids = [submit_upload(api, _sample(samples_dir)) for _ in range(3)]
    # Back as soon as the first event has been refused once: the others were refused at
    # about the same time or later, so the schedule of the tests (0.2, 0.5, 1 s) leaves
    # each of them retries to spare.
    (first,) = _wait_until_listed(api, job_ids[0], endpoint["id"])
    _wait_for_attempts(api, first["id"], 1)

    with running_receiver(port, down) as back:
        for job_id in job_ids:
            (request,) = back.wait_for(path, job_id)
            Webhook(endpoint["secret"]).verify(request.body, request.headers)
    for job_id in job_ids:
        (delivery,) = _deliveries(api, job_id=job_id, endpoint_id=endpoint["id"])
        detail = _wait_for_delivery(api, delivery["id"], "succeeded")
        assert detail["attempts"][-1]["status_code"] == 200
    refused = api.get(f"/v1/webhooks/deliveries/{first['id']}").json()["attempts"][0]
    assert refused["status_code"] is None
    assert refused["error"]


def _wait_for_attempts(api: httpx.Client, delivery_id: str, count: int) -> None:
    for _ in range(300):
        delivery = api.get(f"/v1/webhooks/deliveries/{delivery_id}").json()
        if len(delivery["attempts"]) >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"delivery {delivery_id}: fewer than {count} attempts")


def test_a_delivery_that_exhausts_its_retries_is_kept_as_failed(
    api: httpx.Client, receiver: Receiver, register: Register, samples_dir: Path
) -> None:
    path = receiver.new_path(500)
    endpoint = register(path)
    job_id = submit_upload(api, _sample(samples_dir))
    (delivery,) = _wait_until_listed(api, job_id, endpoint["id"])
    detail = _wait_for_delivery(api, delivery["id"], "failed")
    # One attempt, then one per entry of the test schedule [0.2, 0.5, 1].
    assert [a["status_code"] for a in detail["attempts"]] == [500] * 4
    assert len(receiver.received(path, job_id)) == 4
    assert _deliveries(api, job_id=job_id, status="failed")[0]["id"] == delivery["id"]


def _wait_until_listed(api: httpx.Client, job_id: str, endpoint_id: str) -> list[dict[str, Any]]:
    wait_for_job(api, job_id)
    for _ in range(200):
        found = _deliveries(api, job_id=job_id, endpoint_id=endpoint_id)
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no delivery for job {job_id}")


def test_410_gone_disables_the_endpoint(
    api: httpx.Client, receiver: Receiver, register: Register, samples_dir: Path
) -> None:
    path = receiver.new_path(410)
    endpoint = register(path)
    job_id = submit_upload(api, _sample(samples_dir))
    (delivery,) = _wait_until_listed(api, job_id, endpoint["id"])
    detail = _wait_for_delivery(api, delivery["id"], "failed")
    assert [a["status_code"] for a in detail["attempts"]] == [410]
    shown = api.get(f"/v1/webhooks/{endpoint['id']}").json()
    assert shown["disabled"] is True
    assert "410" in shown["disabled_reason"]
    # A disabled endpoint gets no further events.
    later = submit_upload(api, _sample(samples_dir))
    wait_for_job(api, later)
    assert _deliveries(api, job_id=later, endpoint_id=endpoint["id"]) == []


def test_a_delivery_can_be_redelivered(
    api: httpx.Client, receiver: Receiver, register: Register, samples_dir: Path
) -> None:
    path = receiver.new_path()
    endpoint = register(path)
    job_id = submit_upload(api, _sample(samples_dir))
    (first,) = receiver.wait_for(path, job_id)
    (delivery,) = _deliveries(api, job_id=job_id, endpoint_id=endpoint["id"])
    _wait_for_delivery(api, delivery["id"], "succeeded")
    response = api.post(f"/v1/webhooks/deliveries/{delivery['id']}/redeliver")
    assert response.status_code == 202, response.text
    assert response.json()["series"] == 2
    _, again = receiver.wait_for(path, job_id, count=2)
    assert again.headers["webhook-id"] == first.headers["webhook-id"]
    assert again.body == first.body
    Webhook(endpoint["secret"]).verify(again.body, again.headers)
    detail = _wait_for_delivery(api, delivery["id"], "succeeded")
    assert [(a["series"], a["status_code"]) for a in detail["attempts"]] == [(1, 200), (2, 200)]


def test_during_the_grace_period_old_and_new_secrets_both_sign(
    api: httpx.Client, receiver: Receiver, register: Register, samples_dir: Path
) -> None:
    path = receiver.new_path()
    endpoint = register(path)
    response = api.post(f"/v1/webhooks/{endpoint['id']}/rotate-secret")
    assert response.status_code == 200, response.text
    new_secret = response.json()["secret"]
    assert new_secret.startswith("whsec_")
    assert new_secret != endpoint["secret"]
    job_id = submit_upload(api, _sample(samples_dir))
    (request,) = receiver.wait_for(path, job_id)
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (new_secret, endpoint["secret"]):
        assert Webhook(secret).verify(request.body, request.headers)["type"] == "job.succeeded"


def _error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_bad_urls_and_unknown_ids_are_refused(api: httpx.Client) -> None:
    hook = {"url": "ftp://example.com/hook", "event_types": ["job.succeeded"]}
    assert _error(api.post("/v1/webhooks", json=hook)) == (422, "invalid_url")
    bad_event = {"url": "https://example.com/hook", "event_types": ["job.started"]}
    assert _error(api.post("/v1/webhooks", json=bad_event)) == (422, "invalid_request")
    no_events = {"url": "https://example.com/hook", "event_types": []}
    assert _error(api.post("/v1/webhooks", json=no_events)) == (422, "invalid_request")
    job = {"image_url": "https://example.com/a.jpg", "callback_url": "http://u:p@example.com/"}
    assert _error(api.post("/v1/jobs", json=job)) == (422, "invalid_url")
    assert _error(api.get("/v1/webhooks/wh_nope")) == (404, "webhook_not_found")
    assert _error(api.delete("/v1/webhooks/wh_nope")) == (404, "webhook_not_found")
    assert _error(api.post("/v1/webhooks/wh_nope/rotate-secret")) == (404, "webhook_not_found")
    assert _error(api.get("/v1/webhooks/deliveries/dlv_nope")) == (404, "delivery_not_found")
    redeliver = api.post("/v1/webhooks/deliveries/dlv_nope/redeliver")
    assert _error(redeliver) == (404, "delivery_not_found")


def test_a_deleted_endpoint_is_gone(api: httpx.Client) -> None:
    hook = {"url": "https://example.com/hook", "event_types": ["job.failed"]}
    created = api.post("/v1/webhooks", json=hook).json()
    assert api.delete(f"/v1/webhooks/{created['id']}").status_code == 204
    assert _error(api.get(f"/v1/webhooks/{created['id']}")) == (404, "webhook_not_found")
    assert created["id"] not in {e["id"] for e in api.get("/v1/webhooks").json()}


def test_each_event_is_delivered_once_per_destination(
    api: httpx.Client, receiver: Receiver, register: Register, image_server: ImageServer
) -> None:
    path = receiver.new_path()
    endpoint = register(path, ("job.succeeded", "job.failed"))
    other = register(receiver.new_path(), ("job.succeeded",))
    body = {"image_url": image_server.url("missing.jpg"), "callback_url": receiver.url(path)}
    job_id = api.post("/v1/jobs", json=body).json()["id"]
    requests = receiver.wait_for(path, job_id, count=2)
    deliveries = _deliveries(api, job_id=job_id)
    assert sorted(d["destination"] for d in deliveries) == ["callback", "endpoint"]
    assert {d["endpoint_id"] for d in deliveries} == {endpoint["id"], None}
    assert other["id"] not in {d["endpoint_id"] for d in deliveries}
    # Both destinations get the same event: one message id, one body.
    assert len({r.headers["webhook-id"] for r in requests}) == 1
    assert json.loads(requests[0].body) == json.loads(requests[1].body)


def test_a_job_nobody_listens_to_ends_with_no_event_to_emit(
    api: httpx.Client, register: Register, mongo_server: MongoServer, samples_dir: Path
) -> None:
    # An endpoint for the other event type only, and no callback URL.
    register(event_types=("job.failed",), url="https://example.com/hook")
    listening = [e for e in api.get("/v1/webhooks").json() if "job.succeeded" in e["event_types"]]
    assert not listening, f"left over by another test: {listening}"
    job_id = submit_upload(api, _sample(samples_dir))
    assert wait_for_job(api, job_id)["status"] == "succeeded"

    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(mongo_server.url)
    with client:
        document = client[MongoSettings().database]["jobs"].find_one({"_id": job_id})
    assert document is not None
    assert document["event_pending"] is False
    assert document.get("event_emitted_at") is None
    assert _deliveries(api, job_id=job_id) == []
