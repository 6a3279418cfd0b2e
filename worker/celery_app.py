"""The Celery application: broker, queues and delivery guarantees. Tasks live elsewhere."""

import resource

from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown
from kombu.entity import Queue as KombuQueue

from storage.jobs import TASK_QUEUES, Queue, TaskName
from worker import broker_guard, metrics
from worker.settings import get_settings

broker_guard.install()


def create_app() -> Celery:
    settings = get_settings()
    app = Celery(
        "worker",
        include=[
            "worker.tasks",
            "worker.micro_batch_tasks",
            "worker.webhook_tasks",
            "worker.retention",
            "worker.batch_tasks",
            "worker.reconciler",
            "worker.explanation_tasks",
        ],
    )
    reconciler = settings.reconciler
    app.conf.update(
        broker_url=settings.celery.broker_url.get_secret_value(),
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            # Longer than any task, or Redis hands a running task to a second worker.
            "visibility_timeout": settings.celery.visibility_timeout_s,
            # Poll the queues in `-Q` order every time (kombu's default rotates them): the
            # bulk queues, listed last, wait until the interactive ones are empty.
            "queue_order_strategy": "priority",
        },
        task_queues=[KombuQueue(queue.value) for queue in Queue],
        task_routes={name.value: {"queue": queue.value} for name, queue in TASK_QUEUES.items()},
        task_default_queue=Queue.FETCH.value,
        # A task is acknowledged only when it ends; a worker dying mid-task gives it back.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # One unit of work per pool process: a task, or a micro-batch (worker.micro_batch).
        worker_prefetch_multiplier=1,
        task_soft_time_limit=settings.task_time_limit_s,
        # The hard limit kills the process if the task ignores the soft one.
        task_time_limit=settings.task_time_limit_s + 30,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        # Sent by `celery -A worker.celery_app beat` (one beat process per deployment). A
        # pass not started within its interval is dropped: the next one does its work.
        beat_schedule={
            "reconcile": {
                "task": TaskName.RECONCILE.value,
                "schedule": reconciler.interval_s,
                "options": {"expires": reconciler.interval_s},
            },
            "resume-batches": {
                "task": TaskName.RESUME_BATCHES.value,
                "schedule": reconciler.interval_s,
                "options": {"expires": reconciler.interval_s},
            },
            # Webhook retries too far off to wait in the broker (worker.webhook_tasks).
            "sweep-deliveries": {
                "task": TaskName.SWEEP_DELIVERIES.value,
                "schedule": settings.webhook.sweep_interval_s,
                "options": {"expires": settings.webhook.sweep_interval_s},
            },
            "purge-expired": {
                "task": TaskName.PURGE_EXPIRED.value,
                "schedule": settings.retention.interval_s,
                "options": {"expires": settings.retention.interval_s},
            },
            "check-models": {
                "task": TaskName.CHECK_MODELS.value,
                "schedule": reconciler.model_check_interval_s,
                "options": {"expires": reconciler.model_check_interval_s},
            },
        },
    )
    return app


app = create_app()
# Served by the main process from the files that every pool process writes.
metrics.connect_signals(get_settings().metrics)


@worker_process_init.connect
def _open_process_resources(**_: object) -> None:
    # Imported here: the runtime opens sockets, which must happen in the child process.
    from worker.runtime import open_runtime

    settings = get_settings()
    limit_address_space(settings.memory_limit_mb)
    open_runtime(settings)


def limit_address_space(limit_mb: int) -> None:
    """Bound this process's address space: an allocation past it raises MemoryError, which
    fails the one job, instead of the kernel killing the pod."""
    if limit_mb <= 0:
        return
    limit = limit_mb * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


@worker_process_shutdown.connect
def _close_process_resources(**_: object) -> None:
    from worker.runtime import close_runtime

    close_runtime()
