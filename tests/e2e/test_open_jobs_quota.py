"""The open-jobs quota under parallel submissions on the real stack: jobs and batches from
many connections at once never take more than the limit, and the room comes back without
any worker telling the gateway (its count in MongoDB sees the jobs gone).

A gateway of its own with a small limit, whose broker is a Redis database no worker reads:
its jobs stay queued (and its batches unread) while the test counts them, then are deleted.
"""

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pymongo
import pytest
from pymongo.database import Database

from devstack.process import free_port
from devstack.servers import MongoServer, RedisServer
from devstack.stack import gateway_process, gateway_url
from storage.settings import MongoSettings
from tests.e2e.clients import CreateKey, api_client

pytestmark = pytest.mark.e2e

LIMIT = 30
URL = "http://93.184.215.14/a.jpg"  # never fetched: nothing reads this broker


@pytest.fixture
def quota_gateway(
    stack_env: dict[str, str], tmp_path: Path, redis_server: RedisServer
) -> Iterator[str]:
    env = {
        **stack_env,
        "GATEWAY_MAX_OPEN_JOBS": str(LIMIT),
        "GATEWAY_CELERY__BROKER_URL": redis_server.url.rsplit("/", 1)[0] + "/9",
    }
    with gateway_process(free_port(), env, tmp_path) as service:
        yield gateway_url(service)


def _submit(api: httpx.Client, n: int) -> httpx.Response:
    if n % 4 == 0:  # a batch of five rows
        items = [{"image_url": URL, "external_id": f"{n}-{i}"} for i in range(5)]
        return api.post("/v1/batches", json={"items": items})
    return api.post("/v1/jobs", json={"image_url": URL})


def _reserved(mongo_url: str, tenant: str) -> int:
    """Jobs recorded, plus the rows batches were allowed to read (none read yet)."""
    client: pymongo.MongoClient[dict[str, Any]]
    with pymongo.MongoClient(mongo_url) as client:
        database: Database[dict[str, Any]] = client[MongoSettings().database]
        jobs = database["jobs"].count_documents({"tenant_id": tenant})
        batches = database["batches"].find({"tenant_id": tenant}, {"source.row_limit": 1})
        return jobs + sum(int(batch["source"]["row_limit"]) for batch in batches)


def test_parallel_jobs_and_batches_never_exceed_the_limit(
    quota_gateway: str, create_key: CreateKey, mongo_server: MongoServer
) -> None:
    tenant = "quota-e2e"
    with api_client(quota_gateway, key=create_key("submit", tenant=tenant)) as api:
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda n: _submit(api, n), range(80)))
        statuses = {answer.status_code for answer in answers}
        assert statuses <= {202, 429}, [a.text for a in answers if a.status_code not in (202, 429)]
        refused = [a for a in answers if a.status_code == 429]
        assert refused
        assert refused[0].json()["error"]["code"] == "too_many_open_jobs"
        assert _reserved(mongo_server.url, tenant) == LIMIT

        # Every job and batch deleted: the room comes back with the next count.
        for answer in answers:
            if answer.status_code == 202:
                kind = "batches" if "rows_read" in answer.json() else "jobs"
                assert api.delete(f"/v1/{kind}/{answer.json()['id']}").status_code == 204
        time.sleep(1.1)  # a refusal counts again once the last count is a second old
        again = api.post("/v1/jobs", json={"image_url": URL})
        assert again.status_code == 202, again.text
        assert api.delete(f"/v1/jobs/{again.json()['id']}").status_code == 204
