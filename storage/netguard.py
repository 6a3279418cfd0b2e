"""Guards against server-side request forgery for URLs that users ask us to fetch.

Pure and shared: the gateway validates a URL before it records a job, the worker validates it
again and checks every address it is about to connect to (and every redirect hop).
"""

import ipaddress
import logging
import re
import socket
from collections.abc import Callable, Collection
from dataclasses import dataclass
from urllib.parse import urlsplit

from storage.errors import ErrorCode, PermanentError, TransientError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> addresses; raises socket.gaierror like getaddrinfo.
Resolver = Callable[[str, int], list[str]]

logger = logging.getLogger(__name__)

DEFAULT_PORTS = {"http": 80, "https": 443}
# Ports a fetch or a delivery may connect to unless configured otherwise: any other port
# would let a tenant probe which ports of a public host answer.
DEFAULT_ALLOWED_PORTS = frozenset({80, 443})
# What a tenant is told, whatever the reason: the reason itself (which address, which
# range) would map the inside of the network. The reason goes to the logs.
FORBIDDEN_MESSAGE = "the URL is not allowed: it must reach a public address on an allowed port"

# Hosts must be plain DNS names (after IDNA) or IP literals; anything else (percent-escapes,
# backslashes, zone ids) is a parser-differential trick, not a real host.
_HOST_NAME = re.compile(r"[a-z0-9_.-]+")

_SHARED_ADDRESS_SPACE = ipaddress.IPv4Network("100.64.0.0/10")
_BROADCAST = ipaddress.IPv4Address("255.255.255.255")
_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")


@dataclass(frozen=True)
class TargetUrl:
    """A URL that passed `validate_url`, split into what a connection needs."""

    scheme: str
    host: str  # lower-case ASCII (IDNA), IPv6 without brackets
    port: int  # explicit or the scheme's default
    path_and_query: str
    original: str

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def _invalid(url: str, reason: str) -> PermanentError:
    # Truncated: the URL is user input and may be huge.
    return PermanentError(ErrorCode.INVALID_URL, f"invalid URL {url[:100]!r}: {reason}")


def validate_url(url: str, *, max_length: int = 2048) -> TargetUrl:
    """Parse `url` strictly; raise `PermanentError(INVALID_URL)` for anything but plain http(s)."""
    if len(url) > max_length:
        raise _invalid(url, f"longer than {max_length} characters")
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise _invalid(url, "contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # bad brackets, non-numeric or out-of-range port
        raise _invalid(url, str(exc)) from exc
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise _invalid(url, "only http and https are allowed")
    if "@" in parts.netloc:
        raise _invalid(url, "credentials in URLs are not allowed")
    host = parts.hostname or ""
    if not host:
        raise _invalid(url, "no host")
    if port is not None and not 1 <= port <= 65535:
        raise _invalid(url, "port out of range")
    if "%" in host:  # an IPv6 zone id or an escaped name: neither is a public host
        raise _invalid(url, "host contains '%'")
    # `localhost.` is `localhost`: one spelling, so the answer never depends on the resolver.
    host = host.removesuffix(".")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        try:
            # Also rejects empty labels and labels over 63 characters.
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise _invalid(url, "host is not a valid domain name") from exc
        if not _HOST_NAME.fullmatch(host):
            raise _invalid(url, "host is not a valid domain name") from None
    path = parts.path or "/"
    return TargetUrl(
        scheme=scheme,
        host=host,
        port=port or DEFAULT_PORTS[scheme],
        path_and_query=f"{path}?{parts.query}" if parts.query else path,
        original=url,
    )


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a transition mechanism would actually reach, if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client; the server half is a relay
    if ip in _NAT64_WELL_KNOWN or ip in _IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _forbidden_reason(ip: IPAddress, allow_loopback: bool) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address) and ip not in (
        ipaddress.IPv6Address("::"),
        ipaddress.IPv6Address("::1"),
    ):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            # Only a mapped address reaches our own loopback; elsewhere 127/8 means a relay's.
            reason = _forbidden_reason(embedded, allow_loopback and ip.ipv4_mapped is not None)
            if reason is not None:
                return f"{reason} (embedded IPv4 {embedded})"
            # Mapped and NAT64 addresses reach exactly the embedded IPv4, which passed.
            if ip.ipv4_mapped is not None or ip in _NAT64_WELL_KNOWN:
                return None
            # 6to4, Teredo and IPv4-compatible are deprecated; nothing legitimate needs them.
            return "a deprecated IPv6 transition address"
    if ip.is_loopback:
        return None if allow_loopback else "loopback"
    checks = (
        (ip.is_unspecified, "unspecified"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (ip == _BROADCAST, "broadcast"),
        (ip in _SHARED_ADDRESS_SPACE, "shared address space"),
        (ip in _UNIQUE_LOCAL, "unique-local"),
        (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local, "site-local"),
        (ip.is_reserved, "reserved"),
        (ip.is_private, "private"),
        (not ip.is_global, "not globally routable"),
    )
    return next((reason for failed, reason in checks if failed), None)


def _forbidden(host: str, detail: str) -> PermanentError:
    logger.warning("URL refused: host %r: %s", host[:100], detail)
    return PermanentError(ErrorCode.URL_FORBIDDEN, FORBIDDEN_MESSAGE)


def check_ip(ip: IPAddress, *, allow_loopback: bool) -> None:
    """Raise `PermanentError(URL_FORBIDDEN)` unless `ip` is globally routable."""
    reason = _forbidden_reason(ip, allow_loopback)
    if reason is not None:
        raise _forbidden(str(ip), f"address {ip} is {reason}")


def _reaches_loopback(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


# The name does not exist; anything else (EAI_AGAIN, EAI_FAIL, ...) may pass.
_PERMANENT_GAI_ERRORS = frozenset(
    getattr(socket, name) for name in ("EAI_NONAME", "EAI_NODATA") if hasattr(socket, name)
)


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives for `host` (TCP), as strings."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


def resolve_and_check(
    host: str,
    port: int,
    *,
    allow_loopback: bool,
    resolver: Resolver = system_resolver,
    allowed_ports: Collection[int] | None = None,
) -> list[IPAddress]:
    """Resolve `host` once and check every address and the port; connect only to what this
    returns.

    Any forbidden address refuses the whole host: a name that also points inside the
    network is hostile whichever address a client would have picked. `port` must be one of
    `allowed_ports` (default `DEFAULT_ALLOWED_PORTS`), except towards loopback when that is
    allowed (tests and local development serve on random ports).
    """
    port_allowed = port in (DEFAULT_ALLOWED_PORTS if allowed_ports is None else allowed_ports)
    if not port_allowed and not allow_loopback:
        # Refused before resolving: no DNS answer can tell anything about the port.
        raise _forbidden(host, f"port {port} is not allowed")
    try:
        answers = resolver(host, port)
    except socket.gaierror as exc:
        if exc.errno in _PERMANENT_GAI_ERRORS:
            raise PermanentError(
                ErrorCode.DNS_RESOLUTION_FAILED, f"host {host!r} does not resolve"
            ) from exc
        raise TransientError(
            ErrorCode.DNS_RESOLUTION_FAILED, f"resolving host {host!r} failed for now"
        ) from exc
    except UnicodeError as exc:  # the resolver's IDNA encoding refused the name
        raise PermanentError(
            ErrorCode.DNS_RESOLUTION_FAILED, f"host {host!r} is not a resolvable name"
        ) from exc
    addresses: list[IPAddress] = []
    for answer in answers:
        # IPv6 link-local results may carry a "%zone"; the address alone decides.
        ip = ipaddress.ip_address(answer.split("%", 1)[0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise PermanentError(ErrorCode.DNS_RESOLUTION_FAILED, f"host {host!r} has no address")
    for ip in addresses:
        check_ip(ip, allow_loopback=allow_loopback)
    if not port_allowed and not all(_reaches_loopback(ip) for ip in addresses):
        raise _forbidden(host, f"port {port} is not allowed")
    return addresses
