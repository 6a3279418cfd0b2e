"""What a fault test does to a server, on either kind: kill, stop, start, pause, unpause.

A local stand-in is a process group (devstack's ManagedProcess); a container server is a
Docker container, driven through the Docker SDK object testcontainers wraps. The fault tests
call `server_control(server)` and never care which kind they hold.
"""

import os
import signal
import time
from collections.abc import Callable
from typing import Protocol

from devstack.process import ManagedProcess, ServerError

# Lines of a dead container's log quoted in the error, as ManagedProcess does for a process.
LOG_TAIL_LINES = 40
# Docker's word for a container that is not running and will not become ready by waiting.
STOPPED_STATES = frozenset({"exited", "dead", "removing"})


class ServerControl(Protocol):
    def start(self) -> None:
        """Start it again (after stop or kill), without waiting until it answers."""

    def wait_ready(self, timeout_s: float | None = None) -> None:
        """Until it answers; ServerError if it stopped or did not answer in time."""

    def stop(self) -> None:
        """Stop it gracefully: SIGTERM, then SIGKILL after a grace period."""

    def kill(self) -> None:
        """SIGKILL it at once, as a crash would."""

    def pause(self) -> None:
        """Freeze it: connections stay open, nothing answers (a hung server)."""

    def unpause(self) -> None:
        """Let a paused server run on."""


class DockerObject(Protocol):
    """The part of docker-py's `Container` (testcontainers' `get_wrapped_container()`) used
    here; `status` is as of the last `reload()`."""

    status: str

    def start(self) -> object: ...
    def stop(self, *, timeout: int) -> object: ...
    def kill(self) -> object: ...
    def pause(self) -> object: ...
    def unpause(self) -> object: ...
    def reload(self) -> object: ...
    def logs(self, *, tail: int) -> bytes: ...


class ProcessControl:
    """A local stand-in: devstack's own start/stop/kill, and SIGSTOP/SIGCONT to its process
    group for pause (the group, as the cgroup freezer stops every process of a container)."""

    def __init__(self, process: ManagedProcess) -> None:
        self.process = process

    def start(self) -> None:
        self.process.start()

    def wait_ready(self, timeout_s: float | None = None) -> None:
        self.process.wait_ready(timeout_s)

    def stop(self) -> None:
        self.process.stop()

    def kill(self) -> None:
        self.process.kill()

    def pause(self) -> None:
        self._signal(signal.SIGSTOP)

    def unpause(self) -> None:
        self._signal(signal.SIGCONT)

    def _signal(self, signum: signal.Signals) -> None:
        if self.process.pid is None:
            raise ServerError(f"{self.process.name} is not running")
        # The server leads its own process group (ManagedProcess starts a new session).
        os.killpg(self.process.pid, signum)


class ContainerControl:
    """A container server: each operation is one call on the Docker SDK's container object.

    `stop` is `docker stop` (SIGTERM, SIGKILL after `stop_timeout_s`) and keeps the container,
    its volumes and its published ports, so `start` brings the same server back where its
    clients expect it; removing the container is the fixture's business, not a fault's.
    """

    def __init__(
        self,
        name: str,
        container: DockerObject,
        is_ready: Callable[[], bool],
        *,
        ready_timeout_s: float,
        stop_timeout_s: int,
    ) -> None:
        self.name = name
        self.container = container
        self.is_ready = is_ready
        self.ready_timeout_s = ready_timeout_s
        self.stop_timeout_s = stop_timeout_s

    def start(self) -> None:
        self.container.start()

    def wait_ready(self, timeout_s: float | None = None) -> None:
        timeout_s = self.ready_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout_s
        while True:
            self.container.reload()
            if self.container.status in STOPPED_STATES:
                raise ServerError(
                    f"{self.name} container is {self.container.status}; {self._tail()}"
                )
            if self.is_ready():
                return
            if time.monotonic() >= deadline:
                raise ServerError(f"{self.name} not ready after {timeout_s:g}s; {self._tail()}")
            time.sleep(0.2)

    def stop(self) -> None:
        self.container.stop(timeout=self.stop_timeout_s)

    def kill(self) -> None:
        self.container.kill()

    def pause(self) -> None:
        self.container.pause()

    def unpause(self) -> None:
        self.container.unpause()

    def _tail(self) -> str:
        lines = self.container.logs(tail=LOG_TAIL_LINES).decode("utf-8", errors="replace")
        return f"last lines of its log:\n{lines}"
