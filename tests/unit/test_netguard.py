"""The SSRF guard: hostile URLs and addresses are refused with a stable code.

Names used here resolve without the network: numeric forms via inet_aton, `localhost` via
/etc/hosts.
"""

import ipaddress

import pytest

from storage.errors import ErrorCode, PermanentError
from storage.netguard import check_ip, resolve_and_check, validate_url

INVALID = ErrorCode.INVALID_URL
FORBIDDEN = ErrorCode.URL_FORBIDDEN

HOSTILE_URLS = [
    # Schemes, credentials and malformed authorities.
    ("file:///etc/passwd", INVALID),
    ("gopher://example.com:70/_GET", INVALID),
    ("ftp://example.com/image.png", INVALID),
    ("javascript:alert(1)", INVALID),
    ("//example.com/image.png", INVALID),
    ("http://user:pass@example.com/", INVALID),
    ("http://user@example.com/", INVALID),
    ("http://example.com\\@127.0.0.1/", INVALID),
    ("http://example.com/" + "a" * 2048, INVALID),
    ("http:///image.png", INVALID),
    ("http://:80/", INVALID),
    ("http://example.com:0/", INVALID),
    ("http://example.com:65536/", INVALID),
    ("http://example.com:http/", INVALID),
    ("http://exam\nple.com/", INVALID),
    ("http://example.com/a b", INVALID),
    ("http://example.com/\x00", INVALID),
    ("http://example.com/\u202e", INVALID),
    ("http://%31%32%37.0.0.1/", INVALID),
    ("http://a..b/", INVALID),
    ("http://[1.2.3.4]/", INVALID),
    ("http://[fe80::1%25eth0]/", INVALID),
    # IPv4 ranges.
    ("http://127.0.0.1/", FORBIDDEN),
    ("http://127.1.2.3:8080/", FORBIDDEN),
    ("http://10.0.0.1/", FORBIDDEN),
    ("http://172.16.0.1/", FORBIDDEN),
    ("http://172.31.255.255/", FORBIDDEN),
    ("http://192.168.1.1/", FORBIDDEN),
    ("http://169.254.169.254/latest/meta-data/", FORBIDDEN),
    ("https://169.254.169.254/", FORBIDDEN),
    ("http://0.0.0.0/", FORBIDDEN),
    ("http://0/", FORBIDDEN),
    ("http://100.64.0.1/", FORBIDDEN),
    ("http://198.18.0.1/", FORBIDDEN),
    ("http://192.0.2.1/", FORBIDDEN),
    ("http://224.0.0.1/", FORBIDDEN),
    ("http://255.255.255.255/", FORBIDDEN),
    ("http://240.0.0.1/", FORBIDDEN),
    # Odd spellings of loopback that resolvers still accept.
    ("http://2130706433/", FORBIDDEN),
    ("http://0177.0.0.1/", FORBIDDEN),
    ("http://0x7f.1/", FORBIDDEN),
    ("http://0x7f000001/", FORBIDDEN),
    ("http://127.1/", FORBIDDEN),
    ("http://localhost/", FORBIDDEN),
    ("http://LocalHost:8080/", FORBIDDEN),
    # IPv6 ranges and IPv4 embedded in IPv6.
    ("http://[::1]/", FORBIDDEN),
    ("http://[::]/", FORBIDDEN),
    ("http://[::ffff:127.0.0.1]/", FORBIDDEN),
    ("http://[::ffff:169.254.169.254]/", FORBIDDEN),
    ("http://[::ffff:10.0.0.1]/", FORBIDDEN),
    ("http://[::127.0.0.1]/", FORBIDDEN),
    ("http://[::8.8.8.8]/", FORBIDDEN),
    ("http://[fc00::1]/", FORBIDDEN),
    ("http://[fd12:3456::1]/", FORBIDDEN),
    ("http://[fe80::1]/", FORBIDDEN),
    ("http://[fec0::1]/", FORBIDDEN),
    ("http://[ff02::1]/", FORBIDDEN),
    ("http://[2001:db8::1]/", FORBIDDEN),
    ("http://[64:ff9b::127.0.0.1]/", FORBIDDEN),
    ("http://[64:ff9b::169.254.169.254]/", FORBIDDEN),
    ("http://[64:ff9b:1::8.8.8.8]/", FORBIDDEN),
    ("http://[2002:7f00:1::]/", FORBIDDEN),  # 6to4 of 127.0.0.1
    ("http://[2002:c0a8:101::]/", FORBIDDEN),  # 6to4 of 192.168.1.1
    ("http://[2002:808:808::]/", FORBIDDEN),  # 6to4 is deprecated even for public v4
    ("http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/", FORBIDDEN),  # Teredo of 10.0.0.1
]


def _guard(url: str, *, allow_loopback: bool = False) -> None:
    target = validate_url(url)
    resolve_and_check(target.host, target.port, allow_loopback=allow_loopback)


@pytest.mark.parametrize(("url", "code"), HOSTILE_URLS)
def test_hostile_url_is_refused(url: str, code: ErrorCode) -> None:
    with pytest.raises(PermanentError) as caught:
        _guard(url)
    assert caught.value.code == code
    assert len(caught.value.message) < 200


PUBLIC_ADDRESSES = [
    "8.8.8.8",
    "1.1.1.1",
    "2606:4700:4700::1111",
    "2001:4860:4860::8888",
    "::ffff:8.8.8.8",
    "64:ff9b::8.8.8.8",  # NAT64 of a public address, as DNS64 hands out
]


@pytest.mark.parametrize("address", PUBLIC_ADDRESSES)
def test_public_address_is_allowed(address: str) -> None:
    check_ip(ipaddress.ip_address(address), allow_loopback=False)


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"])
def test_allow_loopback_permits_loopback(address: str) -> None:
    check_ip(ipaddress.ip_address(address), allow_loopback=True)


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/",
        "http://169.254.169.254/",
        "http://[::ffff:169.254.169.254]/",
        "http://[64:ff9b::127.0.0.1]/",  # a NAT64 relay's loopback, not ours
        "http://0.0.0.0/",
    ],
)
def test_allow_loopback_still_refuses_the_rest(url: str) -> None:
    with pytest.raises(PermanentError) as caught:
        _guard(url, allow_loopback=True)
    assert caught.value.code == FORBIDDEN


def test_localhost_resolves_when_loopback_allowed() -> None:
    addresses = resolve_and_check("localhost", 80, allow_loopback=True)
    assert ipaddress.ip_address("127.0.0.1") in addresses
    assert all(ip.is_loopback for ip in addresses)


def test_valid_url_is_split_for_connecting() -> None:
    target = validate_url("HTTPS://Example.COM:8443/a/b?c=d&e=f#fragment")
    assert (target.scheme, target.host, target.port) == ("https", "example.com", 8443)
    assert target.path_and_query == "/a/b?c=d&e=f"
    assert target.host_header == "example.com:8443"


def test_defaults_idna_and_ipv6_host_header() -> None:
    assert validate_url("http://bücher.example").path_and_query == "/"
    assert validate_url("http://bücher.example").host_header == "xn--bcher-kva.example"
    assert validate_url("https://[2606:4700::1]/").host_header == "[2606:4700::1]"
    assert validate_url("https://[2606:4700::1]:444/").host_header == "[2606:4700::1]:444"


def test_max_length_is_configurable() -> None:
    validate_url("http://example.com/" + "a" * 3000, max_length=4096)
    with pytest.raises(PermanentError):
        validate_url("http://example.com/abc", max_length=10)


def test_unresolvable_name_is_permanent() -> None:
    with pytest.raises(PermanentError) as caught:
        resolve_and_check("a" * 64 + ".example", 80, allow_loopback=False)
    assert caught.value.code == ErrorCode.DNS_RESOLUTION_FAILED
