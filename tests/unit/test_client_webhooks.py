"""`verify_webhook` against the service's own signer, and the local receiver."""

import json
import time

import httpx
import pytest
from deepfake_client import WebhookVerificationError, sign_webhook, verify_webhook
from deepfake_client.cli.receiver import Rejected, listening
from deepfake_client.webhooks import WebhookEvent, verify_signature

from storage.signing import new_secret, sign, signature

BODY = json.dumps(
    {
        "type": "job.succeeded",
        "timestamp": "2025-01-01T00:00:00Z",
        "data": {"id": "job_1", "status": "succeeded", "result": None},
    }
).encode()


def _headers(secrets: list[str], timestamp: int, msg_id: str = "msg_1") -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secrets, msg_id, timestamp, BODY),
    }


def test_an_event_the_service_signed_verifies() -> None:
    secret = new_secret()
    now = int(time.time())
    event = verify_webhook(BODY, _headers([secret], now), secret)
    assert (event.type, event.message_id) == ("job.succeeded", "msg_1")
    assert event.job is not None
    assert event.job.id == "job_1"
    assert sign_webhook(secret, "msg_1", now, BODY) == signature(secret, "msg_1", now, BODY)


def test_either_secret_verifies_during_a_rotation() -> None:
    old, new = new_secret(), new_secret()
    now = int(time.time())
    headers = _headers([new, old], now)
    assert verify_signature(BODY, headers, old) == "msg_1"
    assert verify_signature(BODY, headers, new) == "msg_1"
    # A receiver holding both (mid-rotation on its side) accepts the old signature alone.
    assert verify_signature(BODY, _headers([old], now), [new, old]) == "msg_1"


def test_headers_are_matched_whatever_their_case() -> None:
    secret = new_secret()
    headers = {k.title(): v for k, v in _headers([secret], int(time.time())).items()}
    assert verify_signature(BODY, headers, secret) == "msg_1"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: (h, b + b" "),
        lambda h, b: ({**h, "webhook-id": "msg_2"}, b),
        lambda h, b: ({**h, "webhook-signature": "v1,AAAA"}, b),
        lambda h, b: ({**h, "webhook-signature": ""}, b),
        lambda h, b: ({**h, "webhook-timestamp": "soon"}, b),
        lambda h, b: ({k: v for k, v in h.items() if k != "webhook-id"}, b),
    ],
)
def test_anything_tampered_with_is_refused(tamper: object) -> None:
    secret = new_secret()
    headers, body = tamper(_headers([secret], int(time.time())), BODY)  # type: ignore[operator]
    with pytest.raises(WebhookVerificationError):
        verify_webhook(body, headers, secret)


def test_another_secret_and_stale_timestamps_are_refused() -> None:
    secret, now = new_secret(), int(time.time())
    with pytest.raises(WebhookVerificationError, match="no signature"):
        verify_webhook(BODY, _headers([secret], now), new_secret())
    for skew in (-301, 301):
        with pytest.raises(WebhookVerificationError, match="tolerance"):
            verify_webhook(BODY, _headers([secret], now + skew), secret)
    assert verify_webhook(BODY, _headers([secret], now - 3600), secret, tolerance_s=4000)


def test_a_signed_body_that_is_no_event_is_refused() -> None:
    secret, now = new_secret(), int(time.time())
    body = b'{"hello": 1}'
    headers = {
        "webhook-id": "m",
        "webhook-timestamp": str(now),
        "webhook-signature": sign([secret], "m", now, body),
    }
    with pytest.raises(WebhookVerificationError, match="not an event"):
        verify_webhook(body, headers, secret)


def test_a_malformed_secret_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="base64"):
        verify_webhook(BODY, _headers([new_secret()], int(time.time())), "whsec_%%%")


def test_the_receiver_answers_204_to_verified_events_only() -> None:
    secret = new_secret()
    events: list[WebhookEvent] = []
    refused: list[Rejected] = []
    with listening("127.0.0.1", 0, [secret], events.append, refused.append) as server:
        url = f"http://127.0.0.1:{server.server_port}/hooks"
        good = _headers([secret], int(time.time()))
        assert httpx.post(url, content=BODY, headers=good).status_code == 204
        bad = _headers([new_secret()], int(time.time()), msg_id="msg_bad")
        assert httpx.post(url, content=BODY, headers=bad).status_code == 401
    assert [event.message_id for event in events] == ["msg_1"]
    assert [r.headers["webhook-id"] for r in refused] == ["msg_bad"]
    with (
        pytest.raises(ValueError, match="secret"),
        listening("127.0.0.1", 0, [], events.append, refused.append),
    ):
        pass
