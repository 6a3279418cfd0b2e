"""Per-process clients of a worker: opened after the fork, closed at its end.

Tasks are synchronous (Celery's prefork pool); the job repository is async (PyMongo's
async API, shared with the gateway), so each process keeps one event loop and runs the
repository's coroutines on it.
"""

import asyncio
import logging
import os
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from pymongo import AsyncMongoClient
from redis import Redis

from storage.batch_repository import BatchRepository
from storage.errors import ServiceError
from storage.job_repository import Document, JobRepository, create_mongo_client
from storage.objects import ObjectStore
from storage.webhook_repository import WebhookRepository
from worker.inference import DetectorClient
from worker.settings import Settings

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Runtime:
    settings: Settings
    loop: asyncio.AbstractEventLoop
    mongo: AsyncMongoClient[Document]
    jobs: JobRepository
    webhooks: WebhookRepository
    batches: BatchRepository
    objects: ObjectStore
    detector: DetectorClient
    # The broker's Redis, for what is not a task: announcing that a job ended.
    redis: Redis
    pid: int

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)


_runtime: Runtime | None = None


def open_runtime(settings: Settings) -> Runtime:
    global _runtime
    loop = asyncio.new_event_loop()
    mongo = create_mongo_client(settings.mongo)
    runtime = Runtime(
        settings=settings,
        loop=loop,
        mongo=mongo,
        jobs=JobRepository(mongo[settings.mongo.database]),
        webhooks=WebhookRepository(mongo[settings.mongo.database]),
        batches=BatchRepository(mongo[settings.mongo.database]),
        objects=ObjectStore(settings.object_store),
        detector=DetectorClient(settings.triton),
        redis=Redis.from_url(
            settings.celery.broker_url.get_secret_value(),
            socket_timeout=2,
            socket_connect_timeout=2,
        ),
        pid=os.getpid(),
    )
    try:
        signature = runtime.detector.signature(runtime.detector.default_model)
        logger.info("model %s ready, versions %s", signature.name, signature.versions)
    except ServiceError as error:
        # Not fatal: Triton may still be loading; inference tasks retry until it is.
        logger.warning("model not ready at start-up: %s", error.message)
    _runtime = runtime
    return runtime


def get_runtime(settings: Settings) -> Runtime:
    """This process's runtime, opened on first use if the pool did not open it."""
    if _runtime is None or _runtime.pid != os.getpid():
        return open_runtime(settings)
    return _runtime


def close_runtime() -> None:
    global _runtime
    if _runtime is not None and _runtime.pid == os.getpid():
        _runtime.detector.close()
        _runtime.redis.close()
        _runtime.run(_runtime.mongo.close())
        _runtime.loop.close()
    _runtime = None
