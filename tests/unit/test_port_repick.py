"""A server whose first start lost a port picked free to another process comes up on new
ports, once per start and only before anyone could have used them."""

import sys
from pathlib import Path

import pytest

from devstack.process import ManagedProcess, ServerError


class _Server(ManagedProcess):
    """Exits saying its port is taken while `port` is 1; serves (sleeps) on any other."""

    def __init__(self, log_dir: Path, *, repick: bool) -> None:
        super().__init__("fake", log_path=log_dir / "fake.log")
        self.port = 1
        self.repick = repick
        self.starts = 0

    def command(self) -> list[str]:
        self.starts += 1
        script = (
            "import sys, time\n"
            "if sys.argv[1] == '1':\n"
            "    print(\"Socket '127.0.0.1:1' already in use\", flush=True); sys.exit(1)\n"
            "time.sleep(30)\n"
        )
        return [sys.executable, "-c", script, str(self.port)]

    def is_ready(self) -> bool:
        return self.running and self.port != 1

    def repick_ports(self) -> bool:
        if self.repick:
            self.port = 2
        return self.repick


def test_a_first_start_that_lost_its_port_comes_up_on_a_new_one(tmp_path: Path) -> None:
    with _Server(tmp_path, repick=True) as server:
        assert server.port == 2
        assert server.starts == 2


def test_a_server_with_given_ports_fails_as_before(tmp_path: Path) -> None:
    server = _Server(tmp_path, repick=False)
    server.start()
    with pytest.raises(ServerError, match="already in use"):
        server.wait_ready(timeout_s=10)
    server.stop()
