"""The SSRF corpus against the guard itself: every trick ends in its code, at its layer."""

import socket

import pytest

from storage.errors import ErrorCode, PermanentError, ServiceError
from storage.netguard import FORBIDDEN_MESSAGE, Resolver, resolve_and_check, validate_url
from tests.hostile.urls import DNS_CASES, URL_CASES, DnsCase, Layer, UrlCase


def test_the_corpus_is_broad() -> None:
    assert len(URL_CASES) >= 30
    assert len({case.url for case in URL_CASES}) == len(URL_CASES)
    assert {case.layer for case in URL_CASES} == set(Layer)


def _guard(url: str, *, allow_loopback: bool) -> None:
    target = validate_url(url)
    resolve_and_check(target.host, target.port, allow_loopback=allow_loopback)


@pytest.mark.parametrize("case", URL_CASES, ids=lambda case: case.id)
def test_hostile_url(case: UrlCase) -> None:
    if case.layer is Layer.SUBMIT:
        with pytest.raises(PermanentError) as caught:
            validate_url(case.url)
    else:
        validate_url(case.url)
        with pytest.raises(PermanentError) as caught:
            _guard(case.url, allow_loopback=False)
    assert caught.value.code is case.code
    assert len(caught.value.message) < 200  # user input is truncated, never echoed whole
    if case.code is ErrorCode.URL_FORBIDDEN:
        # Which range or port refused it would map the network: the logs say, not the tenant.
        assert caught.value.message == FORBIDDEN_MESSAGE


@pytest.mark.parametrize(
    "case", [case for case in URL_CASES if not case.loopback], ids=lambda case: case.id
)
def test_allowing_loopback_allows_nothing_else(case: UrlCase) -> None:
    with pytest.raises(PermanentError) as caught:
        _guard(case.url, allow_loopback=True)
    assert caught.value.code is case.code


def _resolver(case: DnsCase) -> Resolver:
    def resolve(host: str, port: int) -> list[str]:
        assert (host, port) == ("images.example", 443)
        if isinstance(case.answers, int):
            raise socket.gaierror(case.answers, "lookup failed")
        return case.answers

    return resolve


@pytest.mark.parametrize("case", DNS_CASES, ids=lambda case: case.trick.replace(" ", "-"))
def test_names_are_judged_by_every_address_they_resolve_to(case: DnsCase) -> None:
    target = validate_url("https://images.example/a.jpg")

    def guard() -> list[str]:
        resolver = _resolver(case)
        addresses = resolve_and_check(target.host, 443, allow_loopback=False, resolver=resolver)
        return [str(ip) for ip in addresses]

    if case.code is None:
        assert guard() == case.answers
        return
    with pytest.raises(ServiceError) as caught:
        guard()
    assert (caught.value.code, caught.value.transient) == (case.code, case.transient)


def test_a_trailing_dot_names_the_same_host() -> None:
    assert validate_url("http://Example.COM./a").host == "example.com"
    assert validate_url("http://127.0.0.1./").host == "127.0.0.1"
    with pytest.raises(PermanentError) as caught:
        validate_url("http://./")
    assert caught.value.code is ErrorCode.INVALID_URL
