"""What the cluster end-to-end tests need inside the cluster (scripts/kind-e2e.sh).

A sidecar in each worker pod runs it on 127.0.0.1 (the workers reach only loopback among
non-public addresses, and only with `*_ALLOW_LOOPBACK`, which the e2e component sets):

- `GET /samples/<name>`: a file of `--files` (the sample crops), for jobs and batches by URL;
- `POST <any other path>`: a webhook receiver that records the request and answers 200;
- `GET /received?path=<path>`: what was recorded for `path`, as JSON (headers and body), for
  the test, which reaches the webhooks worker's sidecar through `kubectl port-forward`;
- `GET /healthz`: 200.

Standard library only: it runs in the worker image.
"""

from __future__ import annotations

import argparse
import base64
import json
import mimetypes
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

MAX_BODY_BYTES = 1024 * 1024


class Recorder:
    """Requests received, by path (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_path: dict[str, list[dict[str, str]]] = {}

    def record(self, path: str, headers: dict[str, str], body: bytes) -> None:
        entry = {"headers": json.dumps(headers), "body": base64.b64encode(body).decode()}
        with self._lock:
            self._by_path.setdefault(path, []).append(entry)

    def received(self, path: str) -> list[dict[str, Any]]:
        with self._lock:
            entries = list(self._by_path.get(path, []))
        return [
            {"headers": json.loads(e["headers"]), "body": base64.b64decode(e["body"]).decode()}
            for e in entries
        ]


def handler(files: Path, recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/healthz":
                self._send(200, b"ok", "text/plain")
            elif url.path == "/received":
                path = parse_qs(url.query).get("path", [""])[0]
                body = json.dumps(recorder.received(path)).encode()
                self._send(200, body, "application/json")
            elif url.path.startswith("/samples/"):
                # The bare name only: nothing outside `files` is served.
                target = files / Path(url.path.removeprefix("/samples/")).name
                if target.is_file():
                    kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
                    self._send(200, target.read_bytes(), kind)
                else:
                    self._send(404, b"not found", "text/plain")
            else:
                self._send(404, b"not found", "text/plain")

        def do_POST(self) -> None:
            length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY_BYTES)
            body = self.rfile.read(length)
            headers = {key.lower(): value for key, value in self.headers.items()}
            recorder.record(urlsplit(self.path).path, headers, body)
            self._send(200, b"", "text/plain")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # One line per probe and poll would drown the pod's log.

    return Handler


def make_server(host: str, port: int, files: Path) -> ThreadingHTTPServer:
    return ThreadingHTTPServer((host, port), handler(files, Recorder()))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--files", type=Path, required=True, help="folder of sample files")
    args = parser.parse_args(argv)
    make_server(args.host, args.port, args.files).serve_forever()


if __name__ == "__main__":
    main()
