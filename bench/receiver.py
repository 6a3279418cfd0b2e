"""A local HTTP receiver for the benchmark's webhook events: records each POST body."""

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Events:
    url: str
    received: list[dict[str, Any]] = field(default_factory=list)

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [event for event in list(self.received) if event.get("type") == event_type]


@contextmanager
def receiving() -> Iterator[Events]:
    """Answer 200 to every POST on 127.0.0.1 and keep its JSON body."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    events = Events(url=f"http://127.0.0.1:{server.server_address[1]}/events")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            events.received.append(json.loads(body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server.RequestHandlerClass = Handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield events
    finally:
        server.shutdown()
        server.server_close()
