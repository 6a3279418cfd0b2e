"""Webhook signatures as the Standard Webhooks specification defines them (pure).

A secret is `whsec_` + base64 of random bytes; the HMAC key is the decoded bytes. The
signed content is `{msg_id}.{timestamp}.{body}`; the header carries `v1,<base64 HMAC>`,
several separated by spaces while a rotated secret is still valid.
"""

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from secrets import token_bytes

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
SECRET_BYTES = 24
SIGNATURE_VERSION = "v1"
# The specification's suggested tolerance for the timestamp, in either direction.
DEFAULT_TOLERANCE_S = 300


class SignatureError(ValueError):
    """The headers are malformed, too old or too new, or no signature matches."""


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(token_bytes(SECRET_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except binascii.Error as error:
        raise ValueError("a webhook secret must be base64 after 'whsec_'") from error
    if not key:
        raise ValueError("a webhook secret must not be empty")
    return key


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64>` signature of the message."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def sign(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header: one signature per valid secret, newest first."""
    if not secrets:
        raise ValueError("at least one secret is needed to sign")
    return " ".join(signature(secret, msg_id, timestamp, body) for secret in secrets)


def verify(
    secret: str,
    msg_id: str,
    timestamp_header: str,
    signature_header: str,
    body: bytes,
    *,
    now: float,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> None:
    """Raise `SignatureError` unless one `v1` signature in the header matches `secret`."""
    try:
        timestamp = int(timestamp_header)
    except ValueError as error:
        raise SignatureError("webhook-timestamp is not an integer") from error
    if abs(now - timestamp) > tolerance_s:
        raise SignatureError("webhook-timestamp is outside the tolerance")
    expected = signature(secret, msg_id, timestamp, body).encode("ascii")
    for candidate in signature_header.split(" "):
        if candidate.startswith(f"{SIGNATURE_VERSION},") and hmac.compare_digest(
            candidate.encode("ascii", "replace"), expected
        ):
            return
    raise SignatureError("no signature matches")
