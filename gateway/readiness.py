"""Readiness, checked at most once per `cache_s` however many probes ask.

One check runs at a time and every caller that arrives meanwhile shares its answer: a probe
flood costs one round of pings (and one Triton probe inference per model) a second or two,
not one per request. MongoDB, Redis and the object store decide readiness; Triton is
reported but optional, since jobs queue while it is away and run once it is back. A check may
return facts worth reporting beside its outcome (a mapping of strings: Triton's check gives
each model's execution provider).
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

Check = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class ReadinessReport:
    # "ready"; "degraded" (an optional dependency fails, still ready); "not_ready".
    status: str
    checks: dict[str, str]
    # What passing checks returned, by check: {"triton": {"deepfake_detector": "..."}}.
    details: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.status != "not_ready"


async def _run_check(check: Check, timeout_s: float) -> tuple[str, dict[str, str]]:
    try:
        value = await asyncio.wait_for(check(), timeout_s)
    except TimeoutError:
        return "timeout", {}
    except Exception as error:
        return f"error: {type(error).__name__}", {}
    if isinstance(value, Mapping):
        return "ok", {str(key): str(item) for key, item in value.items()}
    return "ok", {}


class Readiness:
    def __init__(
        self,
        checks: Mapping[str, Check],
        *,
        timeout_s: float,
        cache_s: float,
        optional: frozenset[str] = frozenset(),
    ) -> None:
        self._checks = dict(checks)
        self._timeout_s = timeout_s
        self._cache_s = cache_s
        self._optional = optional
        self._last: ReadinessReport | None = None
        self._last_at = 0.0
        self._running: asyncio.Task[ReadinessReport] | None = None
        # Rounds of checks run so far (for tests and logs).
        self.rounds = 0

    async def report(self) -> ReadinessReport:
        if self._last is not None and time.monotonic() - self._last_at < self._cache_s:
            return self._last
        if self._running is None:
            self._running = asyncio.create_task(self._check())
        # Shielded: a caller that goes away must not cancel the round others wait on.
        return await asyncio.shield(self._running)

    async def _check(self) -> ReadinessReport:
        try:
            self.rounds += 1
            outcomes = await asyncio.gather(
                *(_run_check(check, self._timeout_s) for check in self._checks.values())
            )
            results = {
                name: outcome for name, (outcome, _) in zip(self._checks, outcomes, strict=True)
            }
            details = {
                name: facts
                for name, (_, facts) in zip(self._checks, outcomes, strict=True)
                if facts
            }
            failing = {name for name, outcome in results.items() if outcome != "ok"}
            status = "degraded" if failing else "ready"
            if failing - self._optional:
                status = "not_ready"
            if failing:
                logger.warning("readiness %s: %s", status, results)
            self._last, self._last_at = ReadinessReport(status, results, details), time.monotonic()
            return self._last
        finally:
            self._running = None
