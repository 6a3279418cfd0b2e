"""fetch_url against real HTTP(S) servers on 127.0.0.1: statuses, redirects, limits, TLS."""

import datetime
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import certifi
import pytest

from storage.errors import ErrorCode, PermanentError, ServiceError, TransientError
from worker.fetch import FetchSettings, fetch_url

pytestmark = pytest.mark.integration

IMAGE = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 16  # fetch does not decode, any bytes do
MAX_BYTES = 64 * 1024
SETTINGS = FetchSettings(
    allow_loopback=True, connect_timeout_s=1.0, read_timeout_s=0.3, max_bytes=MAX_BYTES
)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[tuple[str, dict[str, str]]] = []

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients hang up on purpose (size limits, timeouts)

    def url(self, path: str, host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.server_address[1]}{path}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.server.seen.append((self.path, dict(self.headers)))
        parts = urlsplit(self.path)
        route, _, arg = parts.path[1:].partition("/")
        routes: dict[str, Callable[[], None]] = {
            "image.png": lambda: self._send(200, IMAGE),
            "status": lambda: self._send(int(arg), b"secret-body"),
            "redirect": lambda: (
                self._redirect(f"/redirect/{int(arg) - 1}") if int(arg) else self._send(200, IMAGE)
            ),
            "to": lambda: self._redirect(parse_qs(parts.query).get("url", [""])[0]),
            "chunked": self._chunked,
            "close-delimited": lambda: self._raw(b"Connection: close\r\n\r\n" + b"x" * 2**20),
            "declared": lambda: self._raw(b"Content-Length: 1000000000\r\n\r\n"),
            "lying": lambda: self._raw(b"Content-Length: 10\r\n\r\n" + b"y" * 2**20),
            "truncated": lambda: self._raw(b"Content-Length: 1000\r\n\r\n" + b"z" * 10),
            "slow-headers": self._slow_headers,
            "slow-body": self._slow_body,
            "hangup": lambda: None,
        }
        routes[route]()
        self.close_connection = True

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _raw(self, headers_and_body: bytes) -> None:
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n" + headers_and_body)

    def _chunked(self) -> None:
        self._raw(b"Transfer-Encoding: chunked\r\n\r\n")
        for _ in range(32):
            self.wfile.write(b"4000\r\n" + b"c" * 0x4000 + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")

    def _slow_headers(self) -> None:
        time.sleep(1)
        self._send(200, IMAGE)

    def _slow_body(self) -> None:
        self._raw(b"Content-Length: 100\r\n\r\n" + b"s" * 10)
        self.wfile.flush()
        time.sleep(1)
        self.wfile.write(b"s" * 90)


def _serve(server: _Server) -> Iterator[_Server]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def http_server() -> Iterator[_Server]:
    yield from _serve(_Server())


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A throwaway CA, and a certificate it signed for the name `localhost` only."""
    pytest.importorskip("cryptography")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key, leaf_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fetch test CA")])

    def builder(subject: x509.Name, key: ec.EllipticCurvePrivateKey) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
        )

    ca = builder(ca_name, ca_key).add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
    leaf = (
        builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]), leaf_key)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
    )
    directory = tmp_path_factory.mktemp("tls")
    paths = directory / "ca.pem", directory / "leaf.pem", directory / "leaf.key"
    paths[0].write_bytes(ca.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(
        leaf.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    )
    paths[2].write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@pytest.fixture(scope="module")
def https_server(tls_files: tuple[Path, Path, Path]) -> Iterator[_Server]:
    server = _Server()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_files[1], tls_files[2])
    server.socket = context.wrap_socket(server.socket, server_side=True)
    yield from _serve(server)


def _fails(url: str, settings: FetchSettings = SETTINGS) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        fetch_url(url, settings)
    assert "secret-body" not in caught.value.message
    return caught.value


def test_fetches_image_with_our_headers(http_server: _Server) -> None:
    image = fetch_url(http_server.url("/image.png?q=1", host="localhost"), SETTINGS)
    assert (image.content, image.content_type) == (IMAGE, "image/png")
    assert image.final_url == http_server.url("/image.png?q=1", host="localhost")
    headers = next(h for path, h in http_server.seen if path == "/image.png?q=1")
    assert headers["Host"] == f"localhost:{http_server.server_address[1]}"
    assert headers["Accept-Encoding"] == "identity"
    assert headers["User-Agent"] == SETTINGS.user_agent


def test_each_hop_resolves_once_then_connects_to_the_ip(
    http_server: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A spy, not a fake: lookups still go to the real resolver. A second lookup of the name
    # at connect time is what DNS rebinding exploits.
    lookups: list[object] = []
    real_getaddrinfo = socket.getaddrinfo

    def spy(host: object, *args: Any, **kwargs: Any) -> Any:
        lookups.append(host)
        return real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", spy)
    fetch_url(http_server.url("/redirect/1", host="localhost"), SETTINGS)
    assert [host for host in lookups if host != "127.0.0.1"] == ["localhost", "localhost"]
    assert "127.0.0.1" in lookups


def test_loopback_refused_before_connecting(http_server: _Server) -> None:
    error = _fails(http_server.url("/image.png?probe=guard"), FetchSettings())
    assert (type(error), error.code) == (PermanentError, ErrorCode.URL_FORBIDDEN)
    assert not [path for path, _ in http_server.seen if path.endswith("probe=guard")]


@pytest.mark.parametrize(
    ("status", "kind", "code"),
    [
        (404, PermanentError, ErrorCode.IMAGE_NOT_FOUND),
        (410, PermanentError, ErrorCode.IMAGE_NOT_FOUND),
        (403, PermanentError, ErrorCode.FETCH_REJECTED),
        (400, PermanentError, ErrorCode.FETCH_REJECTED),
        (408, TransientError, ErrorCode.FETCH_UNAVAILABLE),
        (429, TransientError, ErrorCode.FETCH_UNAVAILABLE),
        (500, TransientError, ErrorCode.FETCH_UNAVAILABLE),
        (503, TransientError, ErrorCode.FETCH_UNAVAILABLE),
    ],
)
def test_status_mapping(
    http_server: _Server, status: int, kind: type[ServiceError], code: ErrorCode
) -> None:
    error = _fails(http_server.url(f"/status/{status}"))
    assert (type(error), error.code) == (kind, code)
    assert str(status) in error.message


def test_follows_three_redirects(http_server: _Server) -> None:
    image = fetch_url(http_server.url("/redirect/3"), SETTINGS)
    assert image.content == IMAGE
    assert image.final_url == http_server.url("/redirect/0")


@pytest.mark.parametrize(("path", "max_redirects"), [("/redirect/4", 3), ("/redirect/1", 0)])
def test_too_many_redirects(http_server: _Server, path: str, max_redirects: int) -> None:
    settings = SETTINGS.model_copy(update={"max_redirects": max_redirects})
    error = _fails(http_server.url(path), settings)
    assert (type(error), error.code) == (PermanentError, ErrorCode.TOO_MANY_REDIRECTS)


@pytest.mark.parametrize(
    ("location", "code"),
    [
        ("http://169.254.169.254/latest/meta-data/", ErrorCode.URL_FORBIDDEN),
        ("http://[::ffff:10.0.0.1]/", ErrorCode.URL_FORBIDDEN),
        ("file:///etc/passwd", ErrorCode.INVALID_URL),
        ("", ErrorCode.FETCH_REJECTED),  # a redirect without Location
    ],
)
def test_every_redirect_hop_is_checked(
    http_server: _Server, location: str, code: ErrorCode
) -> None:
    error = _fails(http_server.url(f"/to?url={quote(location, safe='')}"))
    assert (type(error), error.code) == (PermanentError, code)


@pytest.mark.parametrize("path", ["/chunked", "/close-delimited", "/declared"])
def test_oversize_body_is_refused(http_server: _Server, path: str) -> None:
    error = _fails(http_server.url(path))
    assert (type(error), error.code) == (PermanentError, ErrorCode.IMAGE_TOO_LARGE)


def test_lying_content_length_reads_no_further(http_server: _Server) -> None:
    assert fetch_url(http_server.url("/lying"), SETTINGS).content == b"y" * 10


@pytest.mark.parametrize("path", ["/slow-headers", "/slow-body", "/truncated", "/hangup"])
def test_timeouts_and_broken_responses_are_transient(http_server: _Server, path: str) -> None:
    error = _fails(http_server.url(path))
    assert (type(error), error.code) == (TransientError, ErrorCode.FETCH_UNAVAILABLE)


def test_connection_refused_is_transient() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago, now closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = _fails(f"http://127.0.0.1:{port}/image.png")
    assert (type(error), error.code) == (TransientError, ErrorCode.FETCH_UNAVAILABLE)


def test_https_verifies_the_name_while_connecting_to_the_ip(
    https_server: _Server, tls_files: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(certifi, "where", lambda: str(tls_files[0]))
    url = https_server.url("/image.png", host="localhost", scheme="https")
    assert fetch_url(url, SETTINGS).content == IMAGE
    # The certificate names `localhost` only: asking for the IP must fail verification.
    error = _fails(https_server.url("/image.png", scheme="https"))
    assert (type(error), error.code) == (PermanentError, ErrorCode.FETCH_REJECTED)


def test_https_refuses_untrusted_certificate(https_server: _Server) -> None:
    error = _fails(https_server.url("/image.png", host="localhost", scheme="https"))
    assert (type(error), error.code) == (PermanentError, ErrorCode.FETCH_REJECTED)
