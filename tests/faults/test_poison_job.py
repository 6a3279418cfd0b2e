"""A job whose image kills the worker process that fetches it, every time: it ends
`worker_lost` after the bound, and the jobs around it succeed exactly once."""

import contextlib
import http.server
import os
import signal
import threading
from collections.abc import Iterator

import psutil
import pytest

from tests.e2e.clients import api_client
from tests.e2e.jobs import wait_for_job
from tests.faults.stack import FaultStack, assert_each_job_succeeded_once

pytestmark = pytest.mark.faults

JOBS = 100
BOUND = 5  # WORKER_MAX_LOST_DELIVERIES, its default


class _Killer(http.server.BaseHTTPRequestHandler):
    """SIGKILLs the worker pool process at the other end of the connection, as a decoder
    segfault or the OOM killer would; never answers."""

    worker_pid = 0
    kills: list[int] = []  # noqa: RUF012 (one list per server, set by `killing_server`)

    def do_GET(self) -> None:
        host, port = self.client_address[:2]
        for connection in psutil.net_connections(kind="tcp"):
            if connection.laddr and tuple(connection.laddr)[:2] == (host, port):
                pid = connection.pid
                if pid and psutil.Process(pid).ppid() == self.worker_pid:
                    self.kills.append(pid)
                    os.kill(pid, signal.SIGKILL)
                return

    def log_message(self, *_: object) -> None:
        pass


@contextlib.contextmanager
def killing_server(worker_pid: int) -> Iterator[tuple[str, list[int]]]:
    kills: list[int] = []
    handler = type("Killer", (_Killer,), {"worker_pid": worker_pid, "kills": kills})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/poison.jpg", kills
    finally:
        server.shutdown()
        server.server_close()


def test_a_job_that_kills_its_worker_ends_worker_lost_and_spares_the_others(
    stack: FaultStack, crop_urls: list[str]
) -> None:
    with killing_server(stack.worker.pid or 0) as (poison_url, kills):
        with api_client(stack.gateway_url) as api:
            response = api.post("/v1/jobs", json={"image_url": poison_url})
            assert response.status_code == 202, response.text
            poison_id = response.json()["id"]
            batch_id = stack.submit_batch(crop_urls, JOBS)

            poison = wait_for_job(api, poison_id, timeout_s=120)
        stack.wait_until_finished(batch_id, JOBS, done=JOBS, timeout_s=180)
        database = stack.wait_quiet(batch_id, timeout_s=60)

    assert poison["status"] == "failed"
    assert poison["error"]["code"] == "worker_lost"
    # The first delivery and `BOUND` redeliveries reached the image; the next one did not.
    assert 2 <= len(kills) <= BOUND + 1, kills
    assert_each_job_succeeded_once(database, batch_id, JOBS)
