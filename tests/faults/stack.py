"""A fault test's own stack, and what the tests do with it: submit a batch, watch it in
MongoDB (the gateway may be cut off from a store that is down), check every job ended once.

The servers are either kind (tests/servers): faults go through `control()` and `fail_model()`,
which do the same thing to a local stand-in and to a container."""

import collections
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymongo
import pymongo.errors
from pymongo.database import Database

from devstack.process import ServiceProcess
from storage.settings import MongoSettings
from tests.e2e.clients import api_client
from tests.e2e.receiver import Receiver
from tests.faults.proxy import TcpProxy
from tests.servers.control import ServerControl
from tests.servers.factory import (
    MongoEndpoint,
    RedisEndpoint,
    S3Endpoint,
    Server,
    TritonEndpoint,
    server_control,
)
from tests.servers.model_faults import fail_model

Document = dict[str, Any]
DATABASE = MongoSettings().database


@dataclass
class FaultStack:
    redis: RedisEndpoint
    mongo: MongoEndpoint
    s3: S3Endpoint
    s3_proxy: TcpProxy
    triton: TritonEndpoint
    gateway: ServiceProcess
    worker: ServiceProcess
    beat: ServiceProcess
    gateway_url: str
    logs: Path

    @staticmethod
    def control(server: Server) -> ServerControl:
        """Kill, stop, start, pause or unpause one of the stack's servers."""
        return server_control(server)

    def fail_model(self, name: str) -> str:
        """Triton keeps `name` ready but fails its every request; returns what those failures
        show in the worker's log."""
        return fail_model(self.triton, name)

    def database(self) -> "pymongo.MongoClient[Document]":
        return pymongo.MongoClient(self.mongo.url, serverSelectionTimeoutMS=1000, tz_aware=True)

    def submit_batch(self, urls: list[str], count: int) -> str:
        items = [
            {"image_url": f"{urls[i % len(urls)]}?n={i}", "external_id": f"item-{i}"}
            for i in range(count)
        ]
        with api_client(self.gateway_url, timeout=120) as api:
            response = api.post("/v1/batches", json={"items": items, "mode": "whole_image"})
        assert response.status_code == 202, response.text
        batch_id: str = response.json()["id"]
        return batch_id

    def subscribe(self, receiver: Receiver) -> str:
        """A webhook endpoint for every job event; the receiver's path it posts to."""
        path = receiver.new_path()
        body = {"url": receiver.url(path), "event_types": ["job.succeeded", "job.failed"]}
        with api_client(self.gateway_url) as api:
            response = api.post("/v1/webhooks", json=body)
        assert response.status_code == 201, response.text
        return path

    def counts(self, batch_id: str) -> dict[str, int]:
        """Jobs of the batch per status; empty while MongoDB does not answer."""
        with self.database() as client:
            try:
                rows = client[DATABASE]["jobs"].aggregate(
                    [
                        {"$match": {"batch_id": batch_id}},
                        {"$group": {"_id": "$status", "n": {"$sum": 1}}},
                    ]
                )
                return {str(row["_id"]): int(row["n"]) for row in rows}
            except pymongo.errors.PyMongoError:
                return {}

    def wait_until_finished(self, batch_id: str, count: int, done: int, timeout_s: float) -> None:
        """Until `done` jobs of the batch are terminal (of `count`)."""
        deadline = time.monotonic() + timeout_s
        while True:
            counts = self.counts(batch_id)
            if counts.get("succeeded", 0) + counts.get("failed", 0) >= done:
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{done} of {count} jobs not finished in {timeout_s:g}s: {counts}; "
                    f"logs in {self.logs}"
                )
            time.sleep(0.5)

    def wait_quiet(self, batch_id: str, timeout_s: float) -> Database[Document]:
        """Until the batch is complete and no job event is pending; the database."""
        deadline = time.monotonic() + timeout_s
        client = self.database()
        database = client[DATABASE]
        while True:
            with_events = database["jobs"].count_documents(
                {"batch_id": batch_id, "event_pending": True}
            )
            batch = database["batches"].find_one({"_id": batch_id}) or {}
            if with_events == 0 and batch.get("completed_at") is not None:
                return database
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"batch {batch_id}: {with_events} events pending, completed_at "
                    f"{batch.get('completed_at')}; logs in {self.logs}"
                )
            time.sleep(0.5)

    def kill_worker_child(self) -> int:
        """SIGKILL one of the worker's pool processes, as the OOM killer would."""
        children = _children(self.worker.pid or 0)
        assert children, "the worker has no pool processes"
        os.kill(children[0], signal.SIGKILL)
        return children[0]

    def readiness(self) -> tuple[int, dict[str, str]]:
        with api_client(self.gateway_url) as api:
            response = api.get("/readyz")
        checks: dict[str, str] = response.json()["checks"]
        return response.status_code, checks


def _children(pid: int) -> list[int]:
    output = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False
    ).stdout
    return [int(line) for line in output.split()]


def assert_each_job_succeeded_once(
    database: Database[Document],
    batch_id: str,
    count: int,
    receiver: Receiver | None = None,
    path: str | None = None,
) -> None:
    """Every job succeeded with one result; with an endpoint, one event each."""
    jobs = list(database["jobs"].find({"batch_id": batch_id}))
    assert len(jobs) == count
    statuses = collections.Counter(job["status"] for job in jobs)
    errors = collections.Counter(str(job.get("error")) for job in jobs if job.get("error"))
    assert statuses == {"succeeded": count}, (statuses, errors)
    for job in jobs:
        assert job["result"] is not None, job["_id"]
        assert job["error"] is None, job["_id"]
        assert job["event_emitted_at"] is not None, job["_id"]
    batch = database["batches"].find_one({"_id": batch_id})
    assert batch is not None
    assert batch["completed_at"] is not None
    if receiver is None or path is None:
        return
    job_ids = {job["_id"] for job in jobs}
    deliveries = list(database["webhook_deliveries"].find({"job_id": {"$in": list(job_ids)}}))
    per_job = collections.Counter(delivery["job_id"] for delivery in deliveries)
    assert set(per_job) == job_ids, "a job without its delivery"
    assert set(per_job.values()) == {1}, "a job with two deliveries"
    # Delivery is at least once: a worker killed mid-send may have it sent again, always
    # with the same webhook-id and body. Every job's event arrives, none twice over.
    deadline = time.monotonic() + 60
    while True:
        received = receiver.received(path)
        events: dict[str, set[str]] = collections.defaultdict(set)
        for request in received:
            event = json.loads(request.body)
            events[event["data"]["id"]].add(request.headers["webhook-id"])
        if set(events) == job_ids or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert set(events) == job_ids, f"{len(job_ids - set(events))} events never arrived"
    assert all(len(ids) == 1 for ids in events.values()), "an event with two message ids"
