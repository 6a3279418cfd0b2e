"""A model that Triton reports ready but that fails every request (locally its Python-backend
stub killed, which Triton does not restart; in a container a graph that fails at run time,
loaded over it): `/readyz` says so (the gateway stays ready: jobs queue while Triton is down),
and the reconciler's model check reloads it; the batch that was running finishes."""

import time

import pytest

from model_repository.local import MODEL_NAME
from tests.faults.stack import FaultStack, assert_each_job_succeeded_once

pytestmark = pytest.mark.faults

JOBS = 60


def _wait_for_triton(stack: FaultStack, outcome: str, timeout_s: float) -> dict[str, str]:
    """Until `/readyz` reports Triton's check as `outcome`; it answers 200 throughout."""
    deadline = time.monotonic() + timeout_s
    while True:
        status, checks = stack.readiness()
        assert status == 200, checks
        if checks["triton"] == outcome:
            return checks
        if time.monotonic() > deadline:
            raise AssertionError(f"/readyz still reports {checks}")
        time.sleep(0.5)


def test_a_model_failing_while_ready_is_reported_and_reloaded(
    stack: FaultStack, crop_urls: list[str]
) -> None:
    # Beat stopped: nothing reloads the model until the failure has been seen.
    stack.beat.stop()
    failure = stack.fail_model(MODEL_NAME)
    checks = _wait_for_triton(stack, "error: ModelFailing", timeout_s=10)
    assert {name for name, outcome in checks.items() if outcome != "ok"} == {"triton"}

    # Jobs submitted meanwhile fail their inference and wait, retrying.
    batch_id = stack.submit_batch(crop_urls, JOBS)
    deadline = time.monotonic() + 30
    while failure not in stack.worker.log_since_start():
        assert time.monotonic() < deadline, "no inference reached the failing model"
        time.sleep(0.5)
    assert stack.counts(batch_id).get("succeeded", 0) == 0

    stack.beat.start()
    stack.beat.wait_ready()
    _wait_for_triton(stack, "ok", timeout_s=60)
    assert "reloading it" in stack.worker.log_since_start()
    stack.wait_until_finished(batch_id, JOBS, done=JOBS, timeout_s=120)
    database = stack.wait_quiet(batch_id, timeout_s=60)
    assert_each_job_succeeded_once(database, batch_id, JOBS)
