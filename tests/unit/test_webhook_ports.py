"""Webhook receivers may name only the allowed ports, like image URLs."""

from worker.webhooks import WebhookSettings, post_webhook

URL = "https://receiver.example.com:8081/hook"


def test_a_receiver_on_a_port_not_allowed_is_refused_before_any_lookup() -> None:
    result = post_webhook(URL, {}, b"{}", WebhookSettings())
    assert result.status_code is None
    assert result.error is not None
    assert result.error.startswith("url_forbidden")


def test_an_allowed_port_gets_past_the_port_check() -> None:
    settings = WebhookSettings(allowed_ports=frozenset({443, 8081}), timeout_s=1)
    result = post_webhook(URL, {}, b"{}", settings)
    assert result.error is not None
    assert not result.error.startswith("url_forbidden")
