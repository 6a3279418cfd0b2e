"""Workers killed with SIGKILL mid-batch: no job lost, none finished twice."""

import time

import pytest

from tests.e2e.receiver import Receiver
from tests.faults.stack import FaultStack, assert_each_job_succeeded_once

pytestmark = pytest.mark.faults

JOBS = 500


def test_sigkilled_workers_lose_and_duplicate_nothing(
    stack: FaultStack, crop_urls: list[str], fault_receiver: Receiver
) -> None:
    path = stack.subscribe(fault_receiver)
    batch_id = stack.submit_batch(crop_urls, JOBS)

    # A pool process dies: its parent gives the task back (reject_on_worker_lost).
    stack.wait_until_finished(batch_id, JOBS, done=JOBS // 5, timeout_s=120)
    stack.kill_worker_child()
    # The whole worker dies, with tasks running and reserved: they stay unacknowledged in
    # Redis, and the reconciler finds their jobs.
    stack.wait_until_finished(batch_id, JOBS, done=JOBS // 2, timeout_s=120)
    stack.worker.kill()
    time.sleep(1)
    stack.worker.start()
    stack.worker.wait_ready()

    stack.wait_until_finished(batch_id, JOBS, done=JOBS, timeout_s=180)
    database = stack.wait_quiet(batch_id, timeout_s=60)
    assert_each_job_succeeded_once(database, batch_id, JOBS, fault_receiver, path)
