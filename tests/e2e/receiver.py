"""A real HTTP receiver for webhook tests: records every request, answers as scripted."""

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    base_url: str
    _received: list[Received] = field(default_factory=list)
    # path -> statuses to answer in turn; the last one repeats. 200 when unscripted.
    _scripts: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def new_path(self, *answers: int | tuple[int, dict[str, str]]) -> str:
        """A fresh path, so that tests sharing the receiver never see each other's calls."""
        path = f"/hooks/{uuid.uuid4().hex}"
        script = [(a, {}) if isinstance(a, int) else a for a in answers]
        with self._lock:
            self._scripts[path] = script or [(200, {})]
        return path

    def url(self, path: str) -> str:
        return self.base_url + path

    def answer(self, path: str) -> tuple[int, dict[str, str]]:
        with self._lock:
            script = self._scripts.get(path, [(200, {})])
            return script.pop(0) if len(script) > 1 else script[0]

    def record(self, request: Received) -> None:
        with self._lock:
            self._received.append(request)

    def received(self, path: str, job_id: str | None = None) -> list[Received]:
        with self._lock:
            found = [r for r in self._received if r.path == path]
        return [r for r in found if job_id is None or job_id.encode() in r.body]

    def wait_for(
        self, path: str, job_id: str | None = None, count: int = 1, timeout_s: float = 30
    ) -> list[Received]:
        deadline = time.monotonic() + timeout_s
        while len(found := self.received(path, job_id)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(found)} of {count} requests to {path} arrived")
            time.sleep(0.05)
        return found


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {key.lower(): value for key, value in self.headers.items()}
            receiver.record(Received(self.path, headers, body, time.monotonic()))
            status, extra = receiver.answer(self.path)
            self.send_response(status)
            for key, value in extra.items():
                self.send_header(key, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def running_receiver(port: int = 0, receiver: Receiver | None = None) -> Iterator[Receiver]:
    """A receiver on `port` (a free one by default); `receiver` keeps its paths and records
    across a stop and a start."""
    server = ThreadingHTTPServer(("127.0.0.1", port), BaseHTTPRequestHandler)
    if receiver is None:
        receiver = Receiver(base_url=f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = _handler(receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
