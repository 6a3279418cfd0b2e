"""Standard Webhooks signatures: ours, checked by hand and by the `standardwebhooks` package."""

import base64
import hashlib
import hmac
import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from storage.signing import SignatureError, new_secret, secret_key, sign, signature, verify

# The example of the Standard Webhooks specification's reference libraries.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_secrets_are_whsec_and_24_random_bytes() -> None:
    secrets = {new_secret() for _ in range(100)}
    assert len(secrets) == 100
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert len(secret_key(secret)) == 24


def test_the_signature_matches_the_specification_example() -> None:
    assert signature(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_the_signature_is_a_plain_hmac_over_id_timestamp_and_body() -> None:
    secret = new_secret()
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, b"msg_1.1700000000.{}", hashlib.sha256).digest()
    assert signature(secret, "msg_1", 1700000000, b"{}") == "v1," + base64.b64encode(digest).decode(
        "ascii"
    )


def test_several_secrets_give_space_separated_signatures_newest_first() -> None:
    new, old = new_secret(), new_secret()
    header = sign([new, old], "msg_1", 1, b"x")
    assert header.split(" ") == [signature(new, "msg_1", 1, b"x"), signature(old, "msg_1", 1, b"x")]
    with pytest.raises(ValueError, match="at least one"):
        sign([], "msg_1", 1, b"x")


def test_verify_accepts_any_listed_secret_and_refuses_tampering() -> None:
    new, old, other = new_secret(), new_secret(), new_secret()
    now = 1_700_000_000
    header = sign([new, old], "msg_1", now, b"body")
    verify(new, "msg_1", str(now), header, b"body", now=now)
    verify(old, "msg_1", str(now), header, b"body", now=now + 299)
    with pytest.raises(SignatureError, match="no signature"):
        verify(other, "msg_1", str(now), header, b"body", now=now)
    with pytest.raises(SignatureError, match="no signature"):
        verify(new, "msg_1", str(now), header, b"body!", now=now)
    with pytest.raises(SignatureError, match="no signature"):
        verify(new, "msg_2", str(now), header, b"body", now=now)
    with pytest.raises(SignatureError, match="tolerance"):
        verify(new, "msg_1", str(now), header, b"body", now=now + 301)
    with pytest.raises(SignatureError, match="tolerance"):
        verify(new, "msg_1", str(now), header, b"body", now=now - 301)
    with pytest.raises(SignatureError, match="integer"):
        verify(new, "msg_1", "soon", header, b"body", now=now)


def test_a_malformed_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="base64"):
        secret_key("whsec_not base64!")
    with pytest.raises(ValueError, match="empty"):
        secret_key("whsec_")


def test_the_standardwebhooks_package_verifies_our_signatures() -> None:
    new, old = new_secret(), new_secret()
    timestamp = int(time.time())
    body = b'{"type":"job.succeeded","data":{"id":"job_1"}}'
    headers = {
        "webhook-id": "msg_abc",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign([new, old], "msg_abc", timestamp, body),
    }
    for secret in (new, old):
        assert Webhook(secret).verify(body, headers) == {
            "type": "job.succeeded",
            "data": {"id": "job_1"},
        }
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)
