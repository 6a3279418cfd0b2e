"""The `runtime` fixture: a worker's clients, opened in this process on the real servers."""

import uuid
from collections.abc import Iterator

import pytest

from devstack.servers import MongoServer, RedisServer, S3Server, TritonServer
from devstack.stack import service_env
from worker import tasks
from worker.celery_app import app
from worker.runtime import Runtime, close_runtime, open_runtime
from worker.settings import Settings

# Redeliveries a job may have before it fails `worker_lost`.
BOUND = 3


@pytest.fixture
def runtime(
    redis_server: RedisServer,
    mongo_server: MongoServer,
    s3_server: S3Server,
    triton_server: TritonServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Runtime]:
    env = service_env(
        redis_server.url, mongo_server.url, s3_server.endpoint, triton_server.grpc_url
    )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # A database of the test's own: the reconciler looks at every stuck job.
    monkeypatch.setenv("WORKER_MONGO__DATABASE", f"stages_{uuid.uuid4().hex[:12]}")
    monkeypatch.setenv("WORKER_MAX_LOST_DELIVERIES", str(BOUND))
    # A Redis database no worker of the session reads: the queues hold what the test sent.
    broker_url = redis_server.url.rsplit("/", 1)[0] + "/13"
    monkeypatch.setenv("WORKER_CELERY__BROKER_URL", broker_url)
    settings = Settings()
    monkeypatch.setattr(tasks, "get_settings", lambda: settings)
    monkeypatch.setattr(app.conf, "broker_url", broker_url)
    running = open_runtime(settings)
    running.run(running.jobs.ensure_indexes())
    yield running
    close_runtime()
