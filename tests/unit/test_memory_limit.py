"""A pool process's address-space limit: an allocation past it raises MemoryError, which
fails one job, instead of the kernel killing the whole worker."""

import subprocess
import sys

SCRIPT = """
import numpy as np
from worker.celery_app import limit_address_space
limit_address_space(int(__import__("sys").argv[1]))
try:
    np.ones(1024 * 1024 * 1024, dtype=np.uint8)  # 1 GiB
except MemoryError:
    print("refused")
else:
    print("allocated")
"""


def _allocate_under(limit_mb: int) -> str:
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(limit_mb)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return run.stdout.strip()


def test_an_allocation_past_the_limit_raises_memory_error() -> None:
    assert _allocate_under(768) == "refused"


def test_no_limit_when_the_setting_is_zero() -> None:
    assert _allocate_under(0) == "allocated"
