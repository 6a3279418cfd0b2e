"""Checking the events the service sends, as Standard Webhooks specifies them.

    event = verify_webhook(raw_body, request.headers, "whsec_...")

Each request carries `webhook-id`, `webhook-timestamp` (unix seconds) and
`webhook-signature`: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed with the
base64-decoded part of the secret after `whsec_`; during a rotation, two signatures
separated by a space. Verify the raw body, before parsing it.
"""

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from deepfake_client.errors import ClientError
from deepfake_client.models import ApiModel, Job

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
# The specification's suggested tolerance for the timestamp, in either direction.
DEFAULT_TOLERANCE_S = 300.0


class WebhookVerificationError(ClientError):
    """Missing or malformed headers, a timestamp outside the tolerance, or no signature
    that matches: answer the request with a 4xx and ignore it."""


class WebhookEvent(ApiModel):
    """`{"type", "timestamp", "data"}`: `data` is the job (as `GET /v1/jobs/{id}` shows it)
    for `job.*` events, the batch's summary for `batch.completed`."""

    type: str
    timestamp: datetime
    data: dict[str, Any]
    # The `webhook-id` header: the same on every attempt; use it to drop duplicates.
    message_id: str = ""

    @property
    def job(self) -> Job | None:
        return Job.model_validate(self.data) if self.type.startswith("job.") else None


def _key(secret: str) -> bytes:
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error as error:
        raise ValueError("a webhook secret is 'whsec_' and base64") from error
    if not key:
        raise ValueError("a webhook secret must not be empty")
    return key


def sign_webhook(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64>` signature: what the service sends, for testing a receiver."""
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    raise WebhookVerificationError(f"the {name} header is missing")


def verify_signature(
    body: bytes,
    headers: Mapping[str, str],
    secret: str | Sequence[str],
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> str:
    """The `webhook-id` of a request signed with `secret` (or any of several, while you
    rotate) within `tolerance_s` of `now`; else `WebhookVerificationError`."""
    message_id = _header(headers, "webhook-id")
    timestamp_text = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature").split()
    try:
        timestamp = int(timestamp_text)
    except ValueError as error:
        raise WebhookVerificationError("webhook-timestamp is not an integer") from error
    moment = time.time() if now is None else now
    if abs(moment - timestamp) > tolerance_s:
        raise WebhookVerificationError("webhook-timestamp is outside the tolerance (a replay?)")
    secrets = [secret] if isinstance(secret, str) else list(secret)
    for candidate_secret in secrets:
        expected = sign_webhook(candidate_secret, message_id, timestamp, body).encode()
        for candidate in signatures:
            # Every candidate is compared, in constant time.
            if hmac.compare_digest(candidate.encode("utf-8", "replace"), expected):
                return message_id
    raise WebhookVerificationError("no signature matches the secret")


def verify_webhook(
    body: bytes,
    headers: Mapping[str, str],
    secret: str | Sequence[str],
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> WebhookEvent:
    """The event, once its signature and timestamp check out (see `verify_signature`)."""
    message_id = verify_signature(body, headers, secret, tolerance_s=tolerance_s, now=now)
    try:
        event = WebhookEvent.model_validate_json(body)
    except ValidationError as error:
        raise WebhookVerificationError(f"the body is not an event: {error}") from error
    return event.model_copy(update={"message_id": message_id})
