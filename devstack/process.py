"""Subprocess plumbing for local servers: a managed process, readiness helpers, ports.

A managed process runs in its own process group, appends its output to a log file and
explains, with that log's tail, why it died or did not become ready.
"""

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

HOST = "127.0.0.1"
LOG_TAIL_LINES = 40


class ServerError(RuntimeError):
    """A server could not start, died, or did not become ready in time."""


def compute_tier(command: list[str]) -> list[str]:
    """`command` at a lower CPU priority (`nice -n 10`, which execs it: same process ID).

    The local stack shares one machine's cores: the worker and Triton, which can use all of
    them for long stretches, yield to the gateway, which must answer submissions at once.
    Separate machines (Kubernetes, compose with CPU limits) need no such thing.
    """
    nice = shutil.which("nice")
    return [nice, "-n", "10", *command] if nice else command


def free_port() -> int:
    """A port nothing listens on now (a later bind can still lose a race, rarely)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], bool], timeout_s: float, *, interval_s: float = 0.1) -> None:
    """Poll `predicate` until it is true; TimeoutError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() >= deadline:
            raise TimeoutError(f"condition not met within {timeout_s:g}s")
        time.sleep(interval_s)


def http_status(port: int, path: str, *, timeout_s: float = 1.0) -> int | None:
    """Status of a GET to 127.0.0.1:`port``path`, or None when nothing answers."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout_s)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


def venv_executable(name: str) -> str:
    """A console script of the running interpreter's environment, else one on PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.is_file():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise ServerError(f"{name!r} not found next to {sys.executable} nor on PATH")
    return found


class ManagedProcess(ABC):
    """One server subprocess: start, wait until ready, stop (with its children), kill."""

    ready_timeout_s = 60.0

    def __init__(
        self,
        name: str,
        *,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        stop_timeout_s: float = 15.0,
    ) -> None:
        self.name = name
        self.log_path = log_path
        self.env = dict(env or {})
        self.cwd = cwd
        self.stop_timeout_s = stop_timeout_s
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0
        # Ready once: its ports are known to others from then on.
        self._was_ready = False
        self._port_retries = 3

    @abstractmethod
    def command(self) -> list[str]:
        """The argv to run; called at every start."""

    @abstractmethod
    def is_ready(self) -> bool:
        """Whether the server answers now; must not raise."""

    def prepare(self) -> None:  # noqa: B027  (an optional hook, not abstract)
        """Runs before every start: create directories, copy files."""

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        if self.running:
            raise ServerError(f"{self.name} is already running (pid {self.pid})")
        self.prepare()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            # Append across restarts; error messages show only this run's lines.
            self._log_offset = log.tell()
            self._process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
                cwd=self.cwd,
                # Own process group: Ctrl-C in a terminal does not reach the servers, so
                # they stop in order, and stop() can reach their children too.
                start_new_session=True,
            )

    def wait_ready(self, timeout_s: float | None = None) -> None:
        timeout_s = self.ready_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout_s
        while True:
            process = self._process
            if process is None:
                raise ServerError(f"{self.name} was not started")
            if process.poll() is not None:
                message = self._tail_message()
                if not self._was_ready and "already in use" in message and self._port_retries:
                    # A port picked free was taken before the server bound it: one nobody
                    # has been told of yet, so new ones are as good.
                    self._port_retries -= 1
                    if self.repick_ports():
                        self._process = None
                        self.start()
                        continue
                raise ServerError(
                    f"{self.name} exited with code {process.returncode} before it was ready; "
                    f"{message}"
                )
            if self.is_ready():
                self._was_ready = True
                return
            if time.monotonic() >= deadline:
                raise ServerError(
                    f"{self.name} not ready after {timeout_s:g}s; {self._tail_message()}"
                )
            time.sleep(0.1)

    def repick_ports(self) -> bool:
        """Pick new free ports for a first start that lost one to another process; False
        when its ports were given (someone relies on them)."""
        return False

    def stop(self) -> None:
        """SIGTERM the server, SIGKILL it after `stop_timeout_s`, then kill leftover children."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            # Only the leader: servers shut their own children down in order (Celery's
            # pool, Triton's Python stubs); signalling the whole group would race them.
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(self.stop_timeout_s)
        self._kill_group(process)
        self._process = None
        self.cleanup()

    def kill(self) -> None:
        """SIGKILL the server and its children at once, as a crash would."""
        process = self._process
        if process is None:
            return
        self._kill_group(process)
        self._process = None
        self.cleanup()

    def restart(self, timeout_s: float | None = None) -> None:
        self.stop()
        self.start()
        self.wait_ready(timeout_s)

    def cleanup(self) -> None:  # noqa: B027  (an optional hook, not abstract)
        """Runs after every stop or kill: remove what a dead server left behind."""

    def log_since_start(self) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(self._log_offset)
                return log.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def _tail_message(self) -> str:
        lines = self.log_since_start().splitlines()[-LOG_TAIL_LINES:]
        return f"last lines of {self.log_path}:\n" + "\n".join(lines)

    @staticmethod
    def _kill_group(process: "subprocess.Popen[bytes]") -> None:
        # ProcessLookupError: the leader exited and took every child with it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def __enter__(self) -> Self:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class ServiceProcess(ManagedProcess):
    """An arbitrary command (the gateway, a worker) with its env and a readiness callback."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        *,
        log_path: Path,
        ready: Callable[["ServiceProcess"], bool],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        stop_timeout_s: float = 15.0,
    ) -> None:
        # Python services must not buffer: readiness may depend on a log line.
        super().__init__(
            name,
            log_path=log_path,
            env={"PYTHONUNBUFFERED": "1", **(env or {})},
            cwd=cwd,
            stop_timeout_s=stop_timeout_s,
        )
        self._command = list(command)
        self._ready = ready

    def command(self) -> list[str]:
        return self._command

    def is_ready(self) -> bool:
        return self._ready(self)


def http_ready(port: int, path: str) -> Callable[[ServiceProcess], bool]:
    """Readiness callback: GET 127.0.0.1:`port``path` answers 200."""
    return lambda _service: http_status(port, path) == 200


def log_line_ready(text: str) -> Callable[[ServiceProcess], bool]:
    """Readiness callback: the service logged `text` since it last started."""
    return lambda service: text in service.log_since_start()
