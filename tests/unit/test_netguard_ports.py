"""Allowed ports: 80 and 443 unless configured, refused before any lookup, generic refusals."""

import pytest

from storage.errors import ErrorCode, PermanentError
from storage.netguard import DEFAULT_ALLOWED_PORTS, FORBIDDEN_MESSAGE, Resolver, resolve_and_check

PUBLIC = "93.184.215.14"


def _resolver(answers: list[str], asked: list[tuple[str, int]]) -> Resolver:
    def resolve(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return answers

    return resolve


def test_the_default_is_80_and_443() -> None:
    assert {80, 443} == DEFAULT_ALLOWED_PORTS
    for port in (80, 443):
        found = resolve_and_check(
            "images.example", port, allow_loopback=False, resolver=_resolver([PUBLIC], [])
        )
        assert [str(ip) for ip in found] == [PUBLIC]


@pytest.mark.parametrize("port", [22, 8080, 6379, 8443, 1])
def test_other_ports_are_refused_before_any_lookup(port: int) -> None:
    asked: list[tuple[str, int]] = []
    with pytest.raises(PermanentError) as caught:
        resolve_and_check(
            "images.example", port, allow_loopback=False, resolver=_resolver([PUBLIC], asked)
        )
    assert (caught.value.code, caught.value.message) == (ErrorCode.URL_FORBIDDEN, FORBIDDEN_MESSAGE)
    assert asked == []


def test_configured_ports_replace_the_default() -> None:
    resolver = _resolver([PUBLIC], [])
    resolve_and_check(
        "images.example", 8080, allow_loopback=False, resolver=resolver, allowed_ports={8080}
    )
    with pytest.raises(PermanentError):
        resolve_and_check(
            "images.example", 443, allow_loopback=False, resolver=resolver, allowed_ports={8080}
        )


def test_loopback_allowed_allows_any_port_on_loopback_only() -> None:
    for answers in (["127.0.0.1"], ["::1"], ["::ffff:127.0.0.1"]):
        resolve_and_check("localhost", 51234, allow_loopback=True, resolver=_resolver(answers, []))
    for answers in ([PUBLIC], ["127.0.0.1", PUBLIC]):
        with pytest.raises(PermanentError) as caught:
            resolve_and_check(
                "mixed.example", 51234, allow_loopback=True, resolver=_resolver(answers, [])
            )
        assert caught.value.message == FORBIDDEN_MESSAGE


def test_the_refusal_names_no_address_but_the_log_does(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(PermanentError) as caught:
        resolve_and_check(
            "db.internal", 443, allow_loopback=False, resolver=_resolver(["10.1.2.3"], [])
        )
    assert "10.1.2.3" not in caught.value.message
    assert "private" not in caught.value.message
    assert "10.1.2.3 is private" in caplog.text
