"""A Celery task that runs many messages at once: celery-batches' `Batches`, with the
delivery guarantees and the queue priorities of this service's other tasks.

The worker's main process buffers the task's messages and hands up to `flush_every` of them
to one pool process together (or fewer, after `flush_interval` seconds). Each message is
acknowledged only after the run that took it returned, and only if the run did not give
it back; a run whose process died (out of memory, a decoder crash, the hard time limit)
gives every message back, marked redelivered, as `task_reject_on_worker_lost` does for a
single task. `Batches` itself acknowledges a batch whose process died never, so that its
messages would wait out the broker's visibility timeout (an hour).

A micro-batch takes one prefetch slot, as one ordinary task does: a message waiting in the
buffer takes none, and a flushed micro-batch gives back all but one of its messages' slots
until it ends. So `worker_prefetch_multiplier` keeps its meaning (1: each pool process
holds one unit of work), and every free slot is filled from the queues in priority order:
maintenance and interactive jobs never wait behind a deep local buffer of bulk jobs. A
buffer that holds an interactive job is flushed before a bulk job would join it, so an
interactive job never waits for a micro-batch of bulk jobs to be judged with it.
"""

from collections.abc import Collection
from typing import Any

from billiard.einfo import ExceptionInfo
from celery.worker.request import Request
from celery_batches import Batches, SimpleRequest
from celery_batches.trace import apply_batches_task

from storage.jobs import Queue

BULK_QUEUES = frozenset({Queue.FETCH_BULK.value, Queue.INFERENCE_BULK.value})


class MicroBatches(Batches):  # type: ignore[misc]
    """`run(requests)` returns the IDs of the requests to give back to the broker (or
    None): they are redelivered, marked so, instead of acknowledged."""

    abstract = True
    # Task outcomes are counted per job (worker.metrics), not per run.
    counts_jobs = True

    # The worker's consumer: its prefetch limit (`qos`) exists once it consumes.
    _consumer: Any = None
    # Whether the buffer holds a message of an interactive queue; how many of bulk ones.
    _interactive = False
    _bulk = 0
    # Bulk jobs a micro-batch takes at most (`flush_every`: jobs of any kind).
    bulk_flush_every = 4

    def Strategy(self, task: Any, app: Any, consumer: Any) -> Any:  # Celery names it so
        handler = super().Strategy(task, app, consumer)
        self._consumer = consumer

        def buffer(message: Any, *args: Any, **kwargs: Any) -> Any:
            # A buffered message holds no slot; applied now, not at the consumer loop's
            # next pass, or the next message could not be fetched before the buffer flushes.
            consumer.qos.increment_eventually()
            consumer.qos.update()
            bulk = (message.delivery_info or {}).get("routing_key") in BULK_QUEUES
            if bulk and self._interactive:
                # Interactive jobs are not kept waiting for a batch's bulk jobs.
                self._do_flush()
            self._interactive = self._interactive or not bulk
            handled = handler(message, *args, **kwargs)
            self._bulk += bulk
            if self._bulk >= self.bulk_flush_every:
                # Shorter micro-batches of bulk jobs: a pool process is free again sooner
                # for an interactive job that arrives meanwhile.
                self._do_flush()
            return handled

        return buffer

    def flush(self, requests: Collection[Request]) -> Any:
        taken = list(requests)
        simple = [SimpleRequest.from_request(request) for request in taken]
        self._interactive, self._bulk = False, 0
        qos = None if self._consumer is None else self._consumer.qos
        if qos is not None:
            qos.decrement_eventually()  # the micro-batch now holds one slot

        def release() -> None:
            if qos is not None and len(taken) > 1:
                qos.decrement_eventually(len(taken) - 1)

        def on_return(given_back: Any) -> None:
            back = set(given_back or ())
            for request in taken:
                if request.id in back:
                    request.reject(requeue=True)
                else:
                    request.acknowledge()
            release()

        def on_lost(_: ExceptionInfo) -> None:
            for request in taken:
                request.reject(requeue=True)
            release()

        return self._pool.apply_async(
            apply_batches_task,
            (self, (simple,), 0, None),
            callback=on_return,
            error_callback=on_lost,
        )
