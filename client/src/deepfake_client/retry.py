"""When to send a request again, and after how long (pure: the clients do the sleeping).

- `429` and `503` (and `409 idempotency_key_in_use`) are retried after the server's
  `Retry-After`, as long as it is within `max_retry_after_s`; without one, after a backoff.
- A connection that failed is retried with exponential backoff and full jitter, but only
  for a request that is safe to send twice: a read, a delete, or a submission carrying
  an `Idempotency-Key` (the clients give every submission one).
- Every kind of retry stops after `max_attempts` tries in all.
"""

import random
from dataclasses import dataclass

import httpx

from deepfake_client.errors import error_code, retry_after_s

RETRIED_STATUSES = frozenset({429, 503})
# The first request with the same Idempotency-Key is still running: its answer will come.
_RETRIED_CODES = frozenset({"idempotency_key_in_use"})


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    # A `Retry-After` longer than this is not waited for: the error is raised at once.
    max_retry_after_s: float = 60.0
    backoff_base_s: float = 0.5
    backoff_max_s: float = 10.0

    def start(self, *, resendable: bool) -> "Retrying":
        """The retry state of one call; `resendable`: safe to send after a lost answer."""
        return Retrying(self, resendable)


NO_RETRIES = RetryPolicy(max_attempts=1)


def backoff_s(attempt: int, base_s: float, max_s: float) -> float:
    """Full jitter: uniform in [0, min(max, base * 2^(attempt - 1))]."""
    ceiling = min(max_s, base_s * 2 ** max(0, attempt - 1))
    return random.uniform(0, ceiling)  # noqa: S311 (jitter, not a secret)


def wants_retry(response: httpx.Response) -> bool:
    if response.status_code in RETRIED_STATUSES:
        return True
    # Error answers are always read (streamed ones too) before they are judged.
    return response.status_code == 409 and error_code(response)[0] in _RETRIED_CODES


class Retrying:
    """Counts one call's attempts and says how long to wait before the next, or None."""

    def __init__(self, policy: RetryPolicy, resendable: bool) -> None:
        self.policy = policy
        self.resendable = resendable
        self.attempts = 0

    def _backoff(self) -> float:
        return backoff_s(self.attempts, self.policy.backoff_base_s, self.policy.backoff_max_s)

    def after_response(self, response: httpx.Response) -> float | None:
        """Seconds to wait before sending again, or None to take this answer as final."""
        self.attempts += 1
        if not wants_retry(response) or self.attempts >= self.policy.max_attempts:
            return None
        asked = retry_after_s(response)
        if asked is None:
            return self._backoff()
        return asked if asked <= self.policy.max_retry_after_s else None

    def after_error(self, error: httpx.TransportError) -> float | None:
        """Seconds to wait before sending again after a failed connection, or None."""
        self.attempts += 1
        # A connection never made sent nothing: safe to retry whatever the request.
        safe = self.resendable or isinstance(error, httpx.ConnectError | httpx.ConnectTimeout)
        if not safe or self.attempts >= self.policy.max_attempts:
            return None
        return self._backoff()
