"""A local webhook receiver for developers: verifies each request's signature and hands
the event on. Answers 204 to a verified event, 401 to anything else (the service then
retries it, as it would against a real receiver)."""

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from deepfake_client.webhooks import (
    WebhookEvent,
    WebhookVerificationError,
    sign_webhook,
    verify_webhook,
)

# Events are small; anything larger is not one of the service's.
MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Rejected:
    reason: str
    headers: dict[str, str]


OnEvent = Callable[[WebhookEvent], None]
OnRejected = Callable[[Rejected], None]


def _handler(
    secrets: Sequence[str], on_event: OnEvent, on_rejected: OnRejected
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            headers = {key.lower(): value for key, value in self.headers.items()}
            if length > MAX_BODY_BYTES:
                self._answer(413)
                on_rejected(Rejected("the body is too large", headers))
                return
            body = self.rfile.read(length)
            try:
                event = verify_webhook(body, headers, secrets)
            except WebhookVerificationError as error:
                self._answer(401)
                on_rejected(Rejected(str(error), headers))
                return
            self._answer(204)
            on_event(event)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # events are reported through the callbacks

    return Handler


@contextmanager
def listening(
    host: str,
    port: int,
    secrets: Sequence[str],
    on_event: OnEvent,
    on_rejected: OnRejected,
) -> Iterator[ThreadingHTTPServer]:
    """The receiver, serving on a thread until the block ends (port 0: a free one)."""
    if not secrets:
        raise ValueError("at least one whsec_ secret is needed to verify events")
    for secret in secrets:
        sign_webhook(secret, "check", 0, b"")  # raises ValueError on a malformed one
    server = ThreadingHTTPServer((host, port), _handler(secrets, on_event, on_rejected))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
