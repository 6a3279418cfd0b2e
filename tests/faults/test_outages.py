"""A dependency goes away mid-batch and comes back: jobs wait, retry, and all finish once.

The tests share one stack; each brings back what it took away before it asserts.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.faults.stack import FaultStack, assert_each_job_succeeded_once
from tests.servers.factory import Server

pytestmark = pytest.mark.faults

JOBS = 80
OUTAGE_S = 5.0


@dataclass(frozen=True)
class Outage:
    take_down: Callable[[FaultStack], None]
    bring_back: Callable[[FaultStack], None]


def _restart(stack: FaultStack, server: Server) -> None:
    control = stack.control(server)
    control.start()
    control.wait_ready()


OUTAGES = {
    # A crash: requests in flight fail, new ones are refused.
    "triton-killed": Outage(lambda s: s.control(s.triton).kill(), lambda s: _restart(s, s.triton)),
    # The append-only file keeps the queues; running and reserved tasks stay unacknowledged.
    "redis-restarted": Outage(lambda s: s.control(s.redis).stop(), lambda s: _restart(s, s.redis)),
    "mongodb-restarted": Outage(
        lambda s: s.control(s.mongo).stop(), lambda s: _restart(s, s.mongo)
    ),
    # Connections refused and open ones reset, while the object store keeps its objects.
    "object-store-unreachable": Outage(lambda s: s.s3_proxy.cut(), lambda s: s.s3_proxy.restore()),
}


def _finished(counts: dict[str, int]) -> int:
    return counts.get("succeeded", 0) + counts.get("failed", 0)


@pytest.mark.parametrize("outage", OUTAGES.values(), ids=OUTAGES.keys())
def test_every_job_finishes_once_after_an_outage(
    module_stack: FaultStack, crop_urls: list[str], outage: Outage
) -> None:
    batch_id = module_stack.submit_batch(crop_urls, JOBS)
    module_stack.wait_until_finished(batch_id, JOBS, done=5, timeout_s=60)
    outage.take_down(module_stack)
    time.sleep(OUTAGE_S)
    # Without MongoDB nothing finishes (and nothing can be counted).
    left = JOBS - _finished(module_stack.counts(batch_id) or {"failed": 5})
    outage.bring_back(module_stack)
    assert left > 0, "the batch finished before the outage mattered"

    module_stack.wait_until_finished(batch_id, JOBS, done=JOBS, timeout_s=120)
    database = module_stack.wait_quiet(batch_id, timeout_s=60)
    assert_each_job_succeeded_once(database, batch_id, JOBS)
