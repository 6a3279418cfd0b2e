"""Download an image from a user-supplied URL without letting the URL reach inside our network.

Every hop is validated, resolved once and checked; the connection then goes to the checked
address itself, so a DNS answer that changes between check and connect (rebinding) cannot
redirect it.
"""

import ssl
from dataclasses import dataclass
from urllib.parse import urljoin

import certifi
import urllib3
from pydantic import BaseModel, ConfigDict, Field
from urllib3.exceptions import ConnectTimeoutError, HTTPError, SSLError
from urllib3.util.ssl_match_hostname import CertificateError

from storage.errors import ErrorCode, PermanentError, TransientError
from storage.netguard import (
    DEFAULT_ALLOWED_PORTS,
    IPAddress,
    TargetUrl,
    resolve_and_check,
    validate_url,
)

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_NOT_FOUND_STATUSES = frozenset({404, 410})
_RETRYABLE_CLIENT_STATUSES = frozenset({408, 429})
_CHUNK_BYTES = 64 * 1024
# Bounds the connect attempts a hostile DNS answer with many dead addresses can cost us.
_MAX_ADDRESSES_TRIED = 3
# Untrusted chain (OpenSSL) or wrong name (urllib3's own check): retrying cannot help.
_CERTIFICATE_ERRORS = (ssl.SSLCertVerificationError, CertificateError)


class FetchSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    connect_timeout_s: float = Field(default=5.0, gt=0)
    read_timeout_s: float = Field(default=15.0, gt=0)
    max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    max_redirects: int = Field(default=3, ge=0)
    # Only for tests and local development: production must never reach its own host.
    # Loopback allowed also allows any port on it (local servers listen on random ports).
    allow_loopback: bool = False
    # Ports an image URL, or any redirect hop, may name (`WORKER_FETCH__ALLOWED_PORTS`).
    allowed_ports: frozenset[int] = DEFAULT_ALLOWED_PORTS
    user_agent: str = "deepfake-detection-service/0.1"


@dataclass(frozen=True)
class FetchedImage:
    content: bytes
    content_type: str | None
    final_url: str


def _pool(target: TargetUrl, ip: IPAddress, timeout: urllib3.Timeout) -> urllib3.HTTPConnectionPool:
    if target.scheme == "https":
        # Connect to the IP, but present and verify the name the user asked for.
        return urllib3.HTTPSConnectionPool(
            str(ip),
            target.port,
            timeout=timeout,
            retries=False,
            cert_reqs=ssl.CERT_REQUIRED,
            ca_certs=certifi.where(),
            server_hostname=target.host,
            assert_hostname=target.host,
        )
    return urllib3.HTTPConnectionPool(str(ip), target.port, timeout=timeout, retries=False)


def pinned_request(
    target: TargetUrl,
    addresses: list[IPAddress],
    method: str,
    headers: dict[str, str],
    timeout: urllib3.Timeout,
    body: bytes | None = None,
) -> tuple[urllib3.HTTPConnectionPool, urllib3.BaseHTTPResponse]:
    """One request to the first checked address that accepts a connection; no redirects.

    Shared with webhook delivery. The caller closes the response and the pool.
    """
    headers = {"Host": target.host_header, **headers}
    for ip in addresses[:_MAX_ADDRESSES_TRIED]:
        pool = _pool(target, ip, timeout)
        try:
            response = pool.urlopen(
                method,
                target.path_and_query,
                body=body,
                headers=headers,
                redirect=False,
                retries=False,
                assert_same_host=False,
                preload_content=False,
                decode_content=False,
            )
        except ConnectTimeoutError:  # includes refused; nothing was sent, try the next one
            pool.close()
            continue
        except BaseException:
            pool.close()
            raise
        return pool, response
    raise TransientError(ErrorCode.FETCH_UNAVAILABLE, f"could not connect to {target.host}")


def _request(
    target: TargetUrl, addresses: list[IPAddress], settings: FetchSettings
) -> tuple[urllib3.HTTPConnectionPool, urllib3.BaseHTTPResponse]:
    headers = {
        "User-Agent": settings.user_agent,
        "Accept": "image/*,*/*;q=0.8",
        # A compressed body could expand far past max_bytes once decoded.
        "Accept-Encoding": "identity",
    }
    timeout = urllib3.Timeout(connect=settings.connect_timeout_s, read=settings.read_timeout_s)
    return pinned_request(target, addresses, "GET", headers, timeout)


def _check_status(status: int, host: str) -> None:
    if 200 <= status < 300:
        return
    if status in _NOT_FOUND_STATUSES:
        raise PermanentError(ErrorCode.IMAGE_NOT_FOUND, f"{host} answered {status}")
    if status in _RETRYABLE_CLIENT_STATUSES or 500 <= status < 600:
        raise TransientError(ErrorCode.FETCH_UNAVAILABLE, f"{host} answered {status}")
    raise PermanentError(ErrorCode.FETCH_REJECTED, f"{host} answered {status}")


def _too_large(host: str, max_bytes: int) -> PermanentError:
    return PermanentError(ErrorCode.IMAGE_TOO_LARGE, f"image at {host} exceeds {max_bytes} bytes")


def _read_body(response: urllib3.BaseHTTPResponse, host: str, max_bytes: int) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(host, max_bytes)
    # Counted as it arrives: chunked and close-delimited bodies declare no length.
    chunks: list[bytes] = []
    received = 0
    for chunk in response.stream(_CHUNK_BYTES, decode_content=False):
        received += len(chunk)
        if received > max_bytes:
            raise _too_large(host, max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def _fetch_hop(target: TargetUrl, settings: FetchSettings) -> FetchedImage | str:
    """One request: the image, or the absolute URL a redirect points to."""
    addresses = resolve_and_check(
        target.host,
        target.port,
        allow_loopback=settings.allow_loopback,
        allowed_ports=settings.allowed_ports,
    )
    pool, response = _request(target, addresses, settings)
    with pool:
        try:
            if response.status in REDIRECT_STATUSES:
                location = response.headers.get("Location")
                if not location:
                    raise PermanentError(
                        ErrorCode.FETCH_REJECTED,
                        f"{target.host} answered {response.status} without a Location",
                    )
                try:
                    return urljoin(target.original, location)
                except ValueError as error:  # urljoin parses too: "http://[::1/" raises
                    raise PermanentError(
                        ErrorCode.INVALID_URL, f"{target.host} redirected to an invalid URL"
                    ) from error
            _check_status(response.status, target.host)
            return FetchedImage(
                content=_read_body(response, target.host, settings.max_bytes),
                content_type=response.headers.get("Content-Type"),
                final_url=target.original,
            )
        finally:
            # Never drain: an unread body may be huge. Closing drops the connection instead.
            response.close()


def fetch_url(url: str, settings: FetchSettings) -> FetchedImage:
    """Fetch `url`, following up to `settings.max_redirects` redirects, each checked anew.

    Raises `PermanentError` or `TransientError` with a stable code; messages name the host
    and status at most, never the response body.
    """
    current = url
    for _hop in range(settings.max_redirects + 1):
        target = validate_url(current)
        try:
            result = _fetch_hop(target, settings)
        except SSLError as exc:
            if any(isinstance(arg, _CERTIFICATE_ERRORS) for arg in exc.args):
                raise PermanentError(
                    ErrorCode.FETCH_REJECTED, f"TLS certificate of {target.host} is not valid"
                ) from exc
            raise TransientError(
                ErrorCode.FETCH_UNAVAILABLE, f"TLS with {target.host} failed"
            ) from exc
        except HTTPError as exc:  # timeouts, resets, truncated bodies
            raise TransientError(
                ErrorCode.FETCH_UNAVAILABLE,
                f"fetching from {target.host} failed: {type(exc).__name__}",
            ) from exc
        if isinstance(result, FetchedImage):
            return result
        current = result
    raise PermanentError(
        ErrorCode.TOO_MANY_REDIRECTS, f"more than {settings.max_redirects} redirects"
    )
