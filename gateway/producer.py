"""Sending tasks to the workers: the one place the gateway talks to the broker.

The gateway never imports the worker's tasks; it sends them by name to their queue.
"""

from collections.abc import Sequence
from typing import Any

import anyio.to_thread
from celery import Celery

from gateway.settings import Settings
from storage.jobs import TaskName, task_queue


def create_producer(settings: Settings) -> Celery:
    """A Celery app that only sends."""
    producer = Celery("gateway")
    producer.conf.update(
        broker_url=settings.celery.broker_url.get_secret_value(),
        broker_transport_options={"visibility_timeout": settings.celery.visibility_timeout_s},
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=3,
        task_serializer="json",
    )
    return producer


class TaskSender:
    def __init__(self, celery: Celery) -> None:
        self._celery = celery

    async def send(
        self, task: TaskName, arguments: Sequence[Sequence[Any]], *, bulk: bool = False
    ) -> None:
        """One message per argument list, on the task's queue (its bulk lane if `bulk`).

        Sent from a worker thread: kombu's Redis client blocks.
        """
        queue = task_queue(task, bulk=bulk).value

        def send_all() -> None:
            for args in arguments:
                self._celery.send_task(task.value, args=list(args), queue=queue)

        await anyio.to_thread.run_sync(send_all)
