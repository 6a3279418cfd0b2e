"""Waiting for a job, a batch or an explanation to end (pure: the clients send and sleep).

A job is long-polled (`GET /v1/jobs/{id}?wait=N`: the server holds the answer until the
job ends). A server that answers an unfinished job at once does not hold answers (an
older one, or `GATEWAY_MAX_WAIT_S=0`): the client then polls with a growing, jittered
delay. Batches have no long-poll; they are read again at a delay that grows while
nothing changes, and explanations at a delay that grows until they are ready.
"""

import random
import time

from deepfake_client.errors import JobTimeout
from deepfake_client.models import Batch, Job
from deepfake_client.review_models import Explanation

LONG_POLL_S = 20.0
# An answer held at least this long (or half the hold asked for) shows the server holds.
_HELD_S = 1.0


class Backoff:
    """first_s, then x1.5 each time up to max_s, each with +-10 % jitter; `reset` starts over."""

    def __init__(self, first_s: float, max_s: float) -> None:
        self.first_s, self.max_s = first_s, max_s
        self._next_s = first_s

    def reset(self) -> None:
        self._next_s = self.first_s

    def next_s(self) -> float:
        delay = self._next_s
        self._next_s = min(self.max_s, self._next_s * 1.5)
        return delay * random.uniform(0.9, 1.1)  # noqa: S311 (jitter, not a secret)


class JobWait:
    """One `wait`: what to ask for next, and how long to sleep before asking."""

    def __init__(
        self,
        job_id: str,
        timeout_s: float,
        long_poll_s: float = LONG_POLL_S,
        poll_first_s: float = 0.25,
        poll_max_s: float = 5.0,
    ) -> None:
        self.job_id = job_id
        self.timeout_s = timeout_s
        self.long_poll_s = long_poll_s
        self.deadline = time.monotonic() + timeout_s
        self.backoff = Backoff(poll_first_s, poll_max_s)

    @property
    def long_polling(self) -> bool:
        return self.long_poll_s > 0

    def hold_s(self) -> float:
        """The `wait` to ask for: the long-poll hold, never past the deadline."""
        if not self.long_polling:
            return 0.0
        return max(0.0, min(self.long_poll_s, self.deadline - time.monotonic()))

    def after(self, job: Job, held_s: float, took_s: float) -> float | None:
        """None once the job ended; else seconds to sleep before asking again. Raises
        `JobTimeout` past the deadline."""
        if job.done:
            return None
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise JobTimeout(f"job {self.job_id} still {job.status} after {self.timeout_s}s")
        if held_s > 0 and took_s >= min(held_s / 2, _HELD_S):
            return 0.0  # the server held the answer: ask again at once
        self.long_poll_s = 0.0  # it answered at once: poll instead
        return min(self.backoff.next_s(), remaining)


class BatchFollow:
    """Reads of a batch until it completes: `interval_s` apart while it moves, up to
    `max_interval_s` apart while it does not."""

    def __init__(
        self, batch_id: str, interval_s: float, max_interval_s: float, timeout_s: float | None
    ) -> None:
        self.batch_id = batch_id
        self.timeout_s = timeout_s
        self.deadline = None if timeout_s is None else time.monotonic() + timeout_s
        self.backoff = Backoff(interval_s, max(interval_s, max_interval_s))
        self._last: tuple[int, int, bool] | None = None

    def after(self, batch: Batch) -> float | None:
        """None once the batch completed; else seconds to sleep before reading it again."""
        if batch.done:
            return None
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise JobTimeout(
                f"batch {self.batch_id} at {batch.finished}/{batch.total} after {self.timeout_s}s"
            )
        state = (batch.rows_read, batch.finished, batch.reading)
        if state != self._last:
            self._last = state
            self.backoff.reset()
        return self.backoff.next_s()


class ExplanationWait:
    """Reads of an explanation until it is ready or failed, `first_s` apart growing to
    `max_s` (a face takes the worker about half a second)."""

    def __init__(
        self, job_id: str, timeout_s: float, first_s: float = 0.5, max_s: float = 5.0
    ) -> None:
        self.job_id = job_id
        self.timeout_s = timeout_s
        self.deadline = time.monotonic() + timeout_s
        self.backoff = Backoff(first_s, max(first_s, max_s))

    def after(self, explanation: Explanation) -> float | None:
        """None once it is ready or failed; else seconds to sleep before reading it again.
        Raises `JobTimeout` past the deadline."""
        if explanation.done:
            return None
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise JobTimeout(
                f"explanation of job {self.job_id} still {explanation.status} "
                f"after {self.timeout_s}s"
            )
        return min(self.backoff.next_s(), remaining)
