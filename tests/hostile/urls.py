"""SSRF tricks, each with the stable code it must end in and the layer that refuses it.

`SUBMIT`: `validate_url` refuses the URL itself, so the gateway answers 422 at once (and the
worker refuses it again, on every redirect hop). `FETCH`: the URL is well formed and only
the address it reaches is forbidden; the worker fails the job before connecting.
"""

from dataclasses import dataclass
from enum import StrEnum

from storage.errors import ErrorCode

INVALID = ErrorCode.INVALID_URL
FORBIDDEN = ErrorCode.URL_FORBIDDEN
DNS_FAILED = ErrorCode.DNS_RESOLUTION_FAILED


class Layer(StrEnum):
    SUBMIT = "submit"
    FETCH = "fetch"


@dataclass(frozen=True)
class UrlCase:
    trick: str
    url: str
    code: ErrorCode
    layer: Layer
    # Reaches this host's loopback: allowed where tests and local development allow it.
    loopback: bool = False

    @property
    def id(self) -> str:
        return self.trick.replace(" ", "-")

    @property
    def redirectable(self) -> bool:
        """Can a server send it as a `Location` (absolute, Latin-1, no whitespace)?"""
        return (
            "://" in self.url[:12]
            and not self.loopback
            and self.url.isascii()
            and not any(ch.isspace() or not ch.isprintable() for ch in self.url)
            and len(self.url) < 4096
        )


_FULLWIDTH_LOOPBACK = "\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11"


def _submit(trick: str, url: str) -> UrlCase:
    return UrlCase(trick, url, INVALID, Layer.SUBMIT)


def _fetch(trick: str, url: str, *, loopback: bool = False) -> UrlCase:
    return UrlCase(trick, url, FORBIDDEN, Layer.FETCH, loopback)


URL_CASES = [
    # Schemes other than http(s).
    _submit("file scheme", "file:///etc/passwd"),
    _submit("gopher scheme", "gopher://127.0.0.1:6379/_FLUSHALL"),
    _submit("ftp scheme", "ftp://example.com/image.jpg"),
    _submit("dict scheme", "dict://127.0.0.1:11211/stats"),
    _submit("ldap scheme", "ldap://127.0.0.1/dc=example"),
    _submit("data scheme", "data:image/png;base64,iVBORw0KGgo="),
    _submit("javascript scheme", "javascript:alert(1)"),
    _submit("scheme-relative", "//127.0.0.1/image.jpg"),
    # Credentials and parser differentials.
    _submit("userinfo", "http://user:pass@127.0.0.1/"),
    _submit("userinfo host confusion", "http://evil.com@127.0.0.1/"),
    _submit("backslash before at", "http://127.0.0.1:80\\@evil.com/"),
    _submit("backslash after host", "http://evil.com\\@127.0.0.1/"),
    _submit("backslash authority", "http:/\\127.0.0.1/"),
    _submit("backslashes only", "http:\\\\127.0.0.1\\"),
    _submit("percent-encoded host", "http://%31%32%37.0.0.1/"),
    _submit("ipv6 zone id", "http://[fe80::1%25eth0]/"),
    _submit("unclosed bracket", "http://[::1/"),
    _submit("ipv4 in brackets", "http://[127.0.0.1]/"),
    _submit("port zero", "http://127.0.0.1:0/"),
    _submit("port out of range", "http://127.0.0.1:99999/"),
    _submit("two ports", "http://127.0.0.1:80:80/"),
    # Header injection and other control characters.
    _submit("crlf injection", "http://example.com/\r\nX-Injected: 1"),
    _submit("newline in host", "http://exam\nple.com/"),
    _submit("tab in host", "http://127.0.0.1\t/"),
    _submit("null byte", "http://127.0.0.1\x00.example.com/"),
    _submit("over-long", "http://example.com/" + "a" * 2100),
    _submit("very long", "https://example.com/?" + "q" * 100_000),
    # Unusual spellings of IPv4 loopback that resolvers accept.
    _fetch("decimal loopback", "http://2130706433/", loopback=True),
    _fetch("octal loopback", "http://0177.0.0.1/", loopback=True),
    _fetch("hex dotted loopback", "http://0x7f.0x0.0x0.0x1/", loopback=True),
    _fetch("hex loopback", "http://0x7f000001/", loopback=True),
    _fetch("short loopback", "http://127.1/", loopback=True),
    _fetch("trailing dot loopback", "http://127.0.0.1./", loopback=True),
    _fetch("fragment at confusion", "http://127.0.0.1#@evil.com/", loopback=True),
    _fetch("localhost", "http://localhost/", loopback=True),
    _fetch("localhost fqdn", "http://localhost./", loopback=True),
    _fetch("circled digits", "http://①②⑦.0.0.1/", loopback=True),
    # 127.0.0.1 in fullwidth digits and full stops, which IDNA maps to ASCII.
    _fetch("fullwidth digits", f"http://{_FULLWIDTH_LOOPBACK}/", loopback=True),
    _fetch("enclosed letters", "http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ/", loopback=True),
    # The unspecified address reaches this host on Linux, loopback allowed or not.
    _fetch("zero", "http://0/"),
    _fetch("unspecified", "http://0.0.0.0:8080/"),
    _fetch("ipv6 unspecified", "http://[::]/"),
    _fetch("mapped unspecified", "http://[::ffff:0.0.0.0]/"),
    # Private, link-local (cloud metadata), shared, multicast, broadcast.
    _fetch("cloud metadata", "http://169.254.169.254/latest/meta-data/"),
    _fetch("cloud metadata https", "https://169.254.169.254:443/"),
    _fetch("decimal metadata", "http://2852039166/"),
    _fetch("hex metadata", "http://0xa9fea9fe/"),
    _fetch("private 10/8", "http://10.0.0.1/"),
    _fetch("private 172.16/12", "https://172.16.0.1:8443/"),
    _fetch("private 192.168/16", "http://192.168.1.1/"),
    _fetch("octal private", "http://0300.0250.0001.0001/"),
    _fetch("decimal private", "http://3232235777/"),
    _fetch("carrier-grade nat", "http://100.64.0.1/"),
    _fetch("multicast", "http://224.0.0.1/"),
    _fetch("broadcast", "http://255.255.255.255/"),
    _fetch("reserved class e", "http://240.0.0.1/"),
    # IPv6, and IPv4 embedded in IPv6.
    _fetch("ipv6 loopback", "http://[::1]/", loopback=True),
    _fetch("mapped loopback", "http://[::ffff:127.0.0.1]/", loopback=True),
    _fetch("mapped loopback hex", "http://[::ffff:7f00:1]/", loopback=True),
    _fetch("mapped metadata long form", "http://[0:0:0:0:0:ffff:169.254.169.254]/"),
    _fetch("mapped metadata hex", "http://[::ffff:a9fe:a9fe]/"),
    _fetch("ipv4-compatible private", "http://[::10.0.0.1]/"),
    _fetch("unique local", "http://[fd00::1]/"),
    _fetch("link-local v6", "http://[fe80::1]/"),
    _fetch("site-local v6", "http://[fec0::1]/"),
    _fetch("multicast v6", "http://[ff02::1]/"),
    _fetch("6to4 metadata", "http://[2002:a9fe:a9fe::]/"),
    _fetch("6to4 private", "http://[2002:c0a8:101::1]/"),
    _fetch("nat64 metadata", "http://[64:ff9b::a9fe:a9fe]/"),
    _fetch("nat64 private", "http://[64:ff9b::10.0.0.1]/"),
    _fetch("teredo private", "http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/"),
    # Public addresses on ports other than 80 and 443: a port scan through our fetcher.
    _fetch("public ssh port", "http://93.184.215.14:22/"),
    _fetch("public redis port", "https://93.184.215.14:6379/"),
    _fetch("public v6 alt port", "http://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]:8080/"),
]


@dataclass(frozen=True)
class DnsCase:
    """What a resolver answers for a hostile name, and the code the guard must give."""

    trick: str
    answers: list[str] | int  # addresses, or a getaddrinfo error number
    code: ErrorCode | None  # None: the name may be fetched
    transient: bool = False


DNS_CASES = [
    DnsCase("name to private", ["10.1.2.3"], FORBIDDEN),
    DnsCase("name to metadata", ["169.254.169.254"], FORBIDDEN),
    DnsCase("name to loopback", ["127.0.0.1"], FORBIDDEN),
    DnsCase("public and private answers", ["93.184.215.14", "192.168.0.10"], FORBIDDEN),
    DnsCase("name to mapped private", ["::ffff:10.0.0.1"], FORBIDDEN),
    DnsCase("link-local with zone", ["fe80::1%eth0"], FORBIDDEN),
    DnsCase("name to unspecified", ["0.0.0.0"], FORBIDDEN),
    DnsCase("no answers", [], DNS_FAILED),
    DnsCase("no such name", -2, DNS_FAILED),  # EAI_NONAME
    DnsCase("resolver down", -3, DNS_FAILED, transient=True),  # EAI_AGAIN
    DnsCase("public answers", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"], None),
]
