"""Gateway metrics on a bare FastAPI app: route templates, status codes, store samples."""

import asyncio
from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from gateway.errors import install_error_handlers
from gateway.limits import BodySizeLimit
from gateway.metrics import (
    UNMATCHED_ROUTE,
    GatewayMetrics,
    MetricsMiddleware,
    StoreState,
    queue_keys,
    state_families,
)
from gateway.settings import MetricsSettings
from storage.job_repository import JobRepository
from storage.jobs import Queue


def _app() -> tuple[FastAPI, GatewayMetrics]:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=10)
    metrics = GatewayMetrics(MetricsSettings())
    app.add_middleware(MetricsMiddleware, metrics=metrics, routes=app.router.routes)

    @app.get("/v1/jobs/{job_id}")
    async def get_job(job_id: str) -> dict[str, str]:
        return {"id": job_id}

    @app.post("/v1/jobs")
    async def create_job() -> None:
        return None

    @app.get("/bug")
    async def bug() -> None:
        raise RuntimeError("boom")

    return app, metrics


def _count(metrics: GatewayMetrics, method: str, route: str, status: str) -> float:
    value = metrics.registry.get_sample_value(
        "deepfake_gateway_http_requests_total",
        {"method": method, "route": route, "status": status},
    )
    return value or 0.0


def test_requests_are_counted_by_route_template_and_status() -> None:
    app, metrics = _app()
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/v1/jobs/job_a").status_code == 200
        assert client.get("/v1/jobs/job_b").status_code == 200
        assert client.get("/nowhere/job_c").status_code == 404
        assert client.delete("/v1/jobs/job_d").status_code == 405
        # Refused by the body limit before routing: still counted against its route.
        assert client.post("/v1/jobs", content=b"x" * 100).status_code == 413
        assert client.get("/bug").status_code == 500

    assert _count(metrics, "GET", "/v1/jobs/{job_id}", "200") == 2
    assert _count(metrics, "GET", UNMATCHED_ROUTE, "404") == 1
    assert _count(metrics, "DELETE", "/v1/jobs/{job_id}", "405") == 1
    assert _count(metrics, "POST", "/v1/jobs", "413") == 1
    assert _count(metrics, "GET", "/bug", "500") == 1
    duration = metrics.registry.get_sample_value(
        "deepfake_gateway_http_request_duration_seconds_count",
        {"method": "GET", "route": "/v1/jobs/{job_id}", "status": "200"},
    )
    assert duration == 2
    text = generate_latest(metrics.registry).decode()
    assert "job_a" not in text
    assert "/nowhere" not in text


def _samples(state: StoreState) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    families = state_families(state)
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families
        for sample in family.samples
    }


def test_store_samples_are_left_out_when_a_store_did_not_answer() -> None:
    samples = _samples(StoreState(jobs=None, queues=None, unacked=None))
    assert samples == {
        ("deepfake_gateway_scrape_source_up", (("source", "mongodb"),)): 0,
        ("deepfake_gateway_scrape_source_up", (("source", "redis"),)): 0,
    }


def test_store_samples_when_both_stores_answered() -> None:
    samples = _samples(StoreState(jobs={"queued": 3, "failed": 1}, queues={"fetch": 2}, unacked=5))
    assert samples[("deepfake_jobs", (("status", "queued"),))] == 3
    assert samples[("deepfake_jobs", (("status", "failed"),))] == 1
    assert samples[("deepfake_queue_messages", (("queue", "fetch"),))] == 2
    assert samples[("deepfake_queue_unacked_messages", ())] == 5
    assert samples[("deepfake_gateway_scrape_source_up", (("source", "redis"),))] == 1


class _SlowJobs:
    async def count_by_status(self, max_time_ms: int) -> dict[str, int]:
        await asyncio.sleep(5)
        return {}


class _CountingJobs:
    def __init__(self) -> None:
        self.calls = 0

    async def count_by_status(self, max_time_ms: int) -> dict[str, int]:
        self.calls += 1
        return {"queued": 2, "succeeded": 7}


class _DownRedis:
    def pipeline(self, transaction: bool) -> Any:
        raise RedisConnectionError("connection refused")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_a_scrape_leaves_out_what_a_slow_or_down_store_did_not_answer() -> None:
    metrics = GatewayMetrics(MetricsSettings(timeout_s=0.05))
    body = await metrics.render(cast(JobRepository, _SlowJobs()), cast(Redis, _DownRedis()))
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    up = {
        s.labels["source"]: s.value for s in families["deepfake_gateway_scrape_source_up"].samples
    }
    assert up == {"mongodb": 0, "redis": 0}
    assert "deepfake_jobs" not in families or not families["deepfake_jobs"].samples


@pytest.mark.anyio
async def test_job_counts_are_reused_for_a_while() -> None:
    jobs = _CountingJobs()
    metrics = GatewayMetrics(MetricsSettings(jobs_cache_s=60))
    for _ in range(3):
        body = await metrics.render(cast(JobRepository, jobs), cast(Redis, _DownRedis()))
    assert jobs.calls == 1
    assert 'deepfake_jobs{status="succeeded"} 7.0' in body.decode()


def test_queue_keys_follow_kombus_priority_layout() -> None:
    assert queue_keys(Queue.FETCH) == [
        "fetch",
        "fetch\x06\x163",
        "fetch\x06\x166",
        "fetch\x06\x169",
    ]
