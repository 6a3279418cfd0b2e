"""`GET /v1/jobs/{id}?wait=`: one request answers when the job ends; ETags answer `304`
while the client's copy is current."""

import time

import httpx
import pytest
import redis

from devstack.servers import RedisServer
from storage.job_ends import CHANNEL_PATTERN, job_id_of
from tests.e2e.clients import CreateKey, api_client
from tests.e2e.jobs import ImageServer, submit_url

pytestmark = pytest.mark.e2e


def _submit(api: httpx.Client, image_server: ImageServer) -> str:
    response = api.post(
        "/v1/jobs",
        json={"image_url": image_server.url("df/df00204.jpg"), "mode": "whole_image"},
    )
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


def test_one_long_poll_answers_when_the_job_ends(
    api: httpx.Client, image_server: ImageServer
) -> None:
    job_id = _submit(api, image_server)

    response = api.get(f"/v1/jobs/{job_id}", params={"wait": 30}, timeout=60)

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "succeeded"
    assert response.headers["etag"].startswith('"')


def test_an_unchanged_job_answers_304_to_its_etag(
    api: httpx.Client, image_server: ImageServer
) -> None:
    job_id = _submit(api, image_server)
    done = api.get(f"/v1/jobs/{job_id}", params={"wait": 30}, timeout=60)
    tag = done.headers["etag"]

    again = api.get(f"/v1/jobs/{job_id}", headers={"If-None-Match": tag})
    stale = api.get(f"/v1/jobs/{job_id}", headers={"If-None-Match": '"0"'})

    assert again.status_code == 304
    assert again.headers["etag"] == tag
    assert again.content == b""
    assert stale.status_code == 200
    assert stale.json() == done.json()


def test_waiting_on_another_tenants_job_answers_404_at_once(
    gateway: str, api: httpx.Client, image_server: ImageServer, create_key: CreateKey
) -> None:
    job_id = submit_url(api, image_server.url("df/df00204.jpg"))
    with api_client(gateway, key=create_key("read", tenant="long-poll-other")) as other:
        response = other.get(f"/v1/jobs/{job_id}", params={"wait": 30}, timeout=10)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "job_not_found"


def test_the_worker_announces_each_end_to_the_gateways(
    api: httpx.Client, image_server: ImageServer, redis_server: RedisServer
) -> None:
    client = redis.Redis.from_url(redis_server.url)
    with client.pubsub() as pubsub:
        pubsub.psubscribe(CHANNEL_PATTERN)
        job_id = _submit(api, image_server)
        announced: set[str] = set()
        deadline = time.monotonic() + 60
        while job_id not in announced and time.monotonic() < deadline:
            message = pubsub.get_message(timeout=1.0)
            if message and message["type"] == "pmessage":
                announced.add(job_id_of(message["channel"]))
    client.close()
    assert job_id in announced
