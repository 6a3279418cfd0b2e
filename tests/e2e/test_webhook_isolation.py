"""Webhook deliveries on workers of their own, as `make up` runs them: long retries held in
MongoDB and sent by the beat sweep, endpoints disabled after failing continuously, and one
tenant's dead endpoints leaving another tenant's jobs and events alone.

Runs its own gateway, inference worker, webhooks worker and beat, on a broker database of
their own so that no other worker takes their tasks; short schedules so that it stays fast.
"""

import json
import socket
import statistics
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pymongo
import pytest
from standardwebhooks import Webhook

from devstack.process import free_port
from devstack.servers import MongoServer
from devstack.stack import JOB_QUEUES, beat_process, gateway_process, worker_process
from storage.jobs import Queue
from storage.settings import MongoSettings
from tests.e2e.clients import CreateKey, api_client, key_creator
from tests.e2e.jobs import submit_upload, wait_for_job
from tests.e2e.receiver import Receiver

pytestmark = pytest.mark.e2e

# Attempts at 0, 0.2 s (a countdown), then 2 s apart (held in MongoDB, past the 1 s
# countdown limit): an endpoint that always fails is disabled at its 5th attempt (~6 s).
SETTINGS = {
    "WORKER_WEBHOOK__RETRY_SCHEDULE_S": "[0.2, 2, 2, 2]",
    "WORKER_WEBHOOK__JITTER": "0",
    "WORKER_WEBHOOK__COUNTDOWN_MAX_S": "1",
    "WORKER_WEBHOOK__SWEEP_INTERVAL_S": "0.5",
    "WORKER_WEBHOOK__DISABLE_AFTER_S": "5",
    "WORKER_WEBHOOK__TIMEOUT_S": "2",
    "WORKER_WEBHOOK__MAX_IN_FLIGHT_PER_TENANT": "3",
}


@dataclass(frozen=True)
class Isolated:
    gateway: str
    env: dict[str, str]


@pytest.fixture(scope="module")
def isolated(
    stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Isolated]:
    broker = stack_env["GATEWAY_CELERY__BROKER_URL"].rsplit("/", 1)[0] + "/8"
    env = {
        **stack_env,
        **SETTINGS,
        "GATEWAY_CELERY__BROKER_URL": broker,
        "WORKER_CELERY__BROKER_URL": broker,
    }
    logs = tmp_path_factory.mktemp("webhook-isolation")
    port = free_port()
    with ExitStack() as stack:
        stack.enter_context(
            worker_process(env, logs, name="jobs", concurrency=4, queues=JOB_QUEUES)
        )
        stack.enter_context(
            worker_process(env, logs, name="hooks", concurrency=4, queues=(Queue.WEBHOOKS,))
        )
        stack.enter_context(beat_process(env, logs, logs / "beat" / "schedule"))
        stack.enter_context(gateway_process(port, env, logs))
        yield Isolated(gateway=f"http://127.0.0.1:{port}", env=env)


@pytest.fixture
def tenant_key(isolated: Isolated) -> CreateKey:
    return key_creator(isolated.env)


def _register(api: httpx.Client, url: str, *events: str) -> dict[str, Any]:
    response = api.post("/v1/webhooks", json={"url": url, "event_types": list(events)})
    assert response.status_code == 201, response.text
    endpoint: dict[str, Any] = response.json()
    return endpoint


def _delivery_document(mongo: MongoServer, job_id: str) -> dict[str, Any] | None:
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(mongo.url)
    with client:
        found = client[MongoSettings().database]["webhook_deliveries"].find_one({"job_id": job_id})
    return found


def _refusing_url() -> str:
    return f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there


def test_a_long_retry_waits_in_mongodb_and_the_sweep_sends_it(
    isolated: Isolated,
    tenant_key: CreateKey,
    receiver: Receiver,
    mongo_server: MongoServer,
    samples_dir: Path,
) -> None:
    path = receiver.new_path(500, 500, 200)
    with api_client(isolated.gateway, key=tenant_key("admin")) as api:
        endpoint = _register(api, receiver.url(path), "job.succeeded")
        job_id = submit_upload(api, (samples_dir / "df/df00204.jpg").read_bytes())
        receiver.wait_for(path, job_id, count=2)
        # After the 2nd attempt the 3rd (2 s off, past the countdown limit) is in MongoDB.
        deadline = time.monotonic() + 5
        while not (document := _delivery_document(mongo_server, job_id) or {}).get("held"):
            assert time.monotonic() < deadline, f"never held: {document}"
            time.sleep(0.05)
        assert document["claimed"] == 2
        _, second, third = receiver.wait_for(path, job_id, count=3)
        assert third.at - second.at >= 1.9
        Webhook(endpoint["secret"]).verify(third.body, third.headers)
        deadline = time.monotonic() + 5
        while (document := _delivery_document(mongo_server, job_id) or {})["status"] != "succeeded":
            assert time.monotonic() < deadline, document
            time.sleep(0.05)
        assert [a["status_code"] for a in document["attempts"]] == [500, 500, 200]
        assert document["held"] is False


def _wait_disabled(api: httpx.Client, endpoint_id: str, timeout_s: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        shown: dict[str, Any] = api.get(f"/v1/webhooks/{endpoint_id}").json()
        if shown["disabled"]:
            return shown
        assert time.monotonic() < deadline, shown
        time.sleep(0.1)


def test_endpoints_failing_continuously_or_gone_are_disabled_and_announced(
    isolated: Isolated, tenant_key: CreateKey, receiver: Receiver, samples_dir: Path
) -> None:
    watch_path = receiver.new_path()
    with api_client(isolated.gateway, key=tenant_key("admin")) as api:
        watcher = _register(api, receiver.url(watch_path), "webhook.disabled")
        dead = _register(api, _refusing_url(), "job.succeeded")
        gone = _register(api, receiver.url(receiver.new_path(410)), "job.succeeded")
        job_id = submit_upload(api, (samples_dir / "df/df00204.jpg").read_bytes())
        assert wait_for_job(api, job_id)["status"] == "succeeded"
        events: dict[str, dict[str, Any]] = {}
        for endpoint, reason in ((gone, "410"), (dead, "every delivery failed")):
            shown = _wait_disabled(api, endpoint["id"])
            assert reason in shown["disabled_reason"]
            assert shown["disabled_at"] is not None
            (request,) = [
                r
                for r in receiver.wait_for(watch_path, count=len(events) + 1)
                if endpoint["id"].encode() in r.body
            ]
            event = Webhook(watcher["secret"]).verify(request.body, request.headers)
            assert event["type"] == "webhook.disabled"
            assert event["data"]["disabled_reason"] == shown["disabled_reason"]
            events[endpoint["id"]] = event
            # Recorded among the disabled endpoint's own deliveries, unsent.
            listed = api.get("/v1/webhooks/deliveries", params={"endpoint_id": endpoint["id"]})
            kinds = {(d["event_type"], d["status"]) for d in listed.json()}
            assert ("webhook.disabled", "failed") in kinds
        dead_attempts = api.get(
            "/v1/webhooks/deliveries", params={"endpoint_id": dead["id"], "job_id": job_id}
        ).json()[0]["attempt_count"]
        # Disabled once failing for DISABLE_AFTER_S (5 s): at the 4th or 5th attempt of the
        # schedule, as the machine's load spaces them.
        assert 2 <= dead_attempts <= 5
        assert events[dead["id"]]["data"]["failing_since"] is not None


@pytest.fixture
def dead_endpoints() -> Iterator[list[str]]:
    """Five URLs that accept connections and never answer, five that refuse them."""
    with ExitStack() as stack:
        hanging = []
        for _ in range(5):
            listener = stack.enter_context(socket.socket())
            listener.bind(("127.0.0.1", 0))
            listener.listen(256)  # never accepted: the kernel completes the handshake
            hanging.append(f"http://127.0.0.1:{listener.getsockname()[1]}/hook")
        yield hanging + [_refusing_url() for _ in range(5)]


def _run_jobs(
    api: httpx.Client, path: str, receiver: Receiver, content: bytes, count: int
) -> dict[str, float]:
    """Submit `count` jobs at once; seconds until all ended, job latencies, event latencies."""
    started = time.monotonic()
    submitted = {}
    for index in range(count):
        submitted[submit_upload(api, content + index.to_bytes(4, "big"))] = time.monotonic()
    ended = {}
    for job_id in submitted:
        job = wait_for_job(api, job_id)
        assert job["status"] == "succeeded", job
        ended[job_id] = time.monotonic()
    all_ended = time.monotonic() - started
    received = {}
    for job_id in submitted:
        (request,) = receiver.wait_for(path, job_id)
        received[job_id] = request.at
    return {
        "images_per_s": count / all_ended,
        "job_p50_s": statistics.median(ended[j] - submitted[j] for j in submitted),
        "event_p50_s": statistics.median(received[j] - submitted[j] for j in submitted),
        "event_max_s": max(received[j] - submitted[j] for j in submitted),
    }


def test_one_tenants_dead_endpoints_leave_another_tenants_jobs_and_events_alone(
    isolated: Isolated,
    tenant_key: CreateKey,
    receiver: Receiver,
    dead_endpoints: list[str],
    samples_dir: Path,
) -> None:
    content = (samples_dir / "real/real00240.jpg").read_bytes()
    count = 24
    with (
        api_client(isolated.gateway, key=tenant_key("admin")) as tenant_a,
        api_client(isolated.gateway, key=tenant_key("admin")) as tenant_b,
    ):
        path = receiver.new_path()
        _register(tenant_b, receiver.url(path), "job.succeeded")
        quiet = _run_jobs(tenant_b, path, receiver, content + b"q", count)
        for url in dead_endpoints:
            _register(tenant_a, url, "job.succeeded", "job.failed")
        # A's jobs end first (inference is not what is measured); each leaves ten
        # deliveries that time out (2 s here) or are refused, retried, held, swept.
        a_jobs = [
            submit_upload(tenant_a, content + b"a" + index.to_bytes(4, "big"))
            for index in range(count)
        ]
        for job_id in a_jobs:
            wait_for_job(tenant_a, job_id)
        loaded = _run_jobs(tenant_b, path, receiver, content + b"l", count)
    figures = {"tenant B alone": quiet, "tenant A's 10 dead endpoints busy": loaded}
    print("\nwebhook isolation:", json.dumps(figures, indent=1))
