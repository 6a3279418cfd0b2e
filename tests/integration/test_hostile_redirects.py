"""A real server redirects to every hostile URL of the corpus: each hop is judged like the first.

The server listens on loopback, so the fetch must allow loopback to reach it; the targets
are the corpus cases refused whatever that setting (metadata, private, link-local, other
schemes, malformed). Redirects to loopback itself are covered by the guard's unit tests.
"""

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from storage.errors import ErrorCode, PermanentError
from tests.hostile.urls import URL_CASES, UrlCase
from worker.fetch import FetchSettings, fetch_url

pytestmark = pytest.mark.integration

SETTINGS = FetchSettings(allow_loopback=True, connect_timeout_s=1.0, read_timeout_s=1.0)


class _Redirector(BaseHTTPRequestHandler):
    """`/to?url=X` answers 302 to X; `/twice?url=X` first redirects to `/to?url=X`; else 404."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        target = parse_qs(parts.query).get("url", [""])[0]
        if parts.path in ("/to", "/twice"):
            self.send_response(302)
            twice = parts.path == "/twice"
            self.send_header("Location", f"/to?url={quote(target, safe='')}" if twice else target)
        else:
            self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.close_connection = True


@pytest.fixture(scope="module")
def redirector() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


REDIRECT_CASES = [case for case in URL_CASES if case.redirectable]


def test_most_of_the_corpus_is_tried_as_a_redirect() -> None:
    assert len(REDIRECT_CASES) >= 40


@pytest.mark.parametrize("case", REDIRECT_CASES, ids=lambda case: case.id)
@pytest.mark.parametrize("hops", ["to", "twice"])
def test_a_redirect_to_a_hostile_url_fails_with_its_code(
    redirector: str, case: UrlCase, hops: str
) -> None:
    with pytest.raises(PermanentError) as caught:
        fetch_url(f"{redirector}/{hops}?url={quote(case.url, safe='')}", SETTINGS)
    assert caught.value.code is case.code


@pytest.mark.parametrize(
    ("location", "code"),
    [
        # Relative forms resolve against the current URL, then are judged like any other.
        ("//169.254.169.254/latest/meta-data/", ErrorCode.URL_FORBIDDEN),
        ("//10.0.0.1:8080/", ErrorCode.URL_FORBIDDEN),
        # No authority: a path on the same server (which answers 404), not another host.
        ("http:169.254.169.254/", ErrorCode.IMAGE_NOT_FOUND),
        ("\\\\169.254.169.254\\", ErrorCode.IMAGE_NOT_FOUND),
    ],
)
def test_relative_redirects_are_resolved_then_judged(
    redirector: str, location: str, code: ErrorCode
) -> None:
    with pytest.raises(PermanentError) as caught:
        fetch_url(f"{redirector}/to?url={quote(location, safe='')}", SETTINGS)
    assert caught.value.code is code
