"""Signing secrets that rotate: a webhook endpoint's, and each tenant's callback secret.

Both are a document with a current `secret` and `previous_secrets` that still sign until
they expire (the grace period); `rotate` works on either collection. A tenant's callback
secret (collection `callback_secrets`, keyed by tenant) signs every delivery to its jobs'
and batches' `callback_url`s; it is created on first use by whichever of the gateway and
the worker needs it first, so nothing has to be configured for callbacks to be signed.
"""

from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from storage.jobs import utcnow
from storage.signing import new_secret

Document = dict[str, Any]


class PreviousSecret(BaseModel):
    secret: str
    expires_at: datetime


class SigningKey(BaseModel):
    secret: str
    # Rotated-out secrets that still sign until they expire (the grace period).
    previous_secrets: list[PreviousSecret] = Field(default_factory=list)

    def signing_secrets(self, now: datetime) -> list[str]:
        return [self.secret] + [p.secret for p in self.previous_secrets if p.expires_at > now]

    def previous_expires_at(self, now: datetime) -> datetime | None:
        """When the last rotated-out secret stops signing; None when none still signs."""
        valid = [p.expires_at for p in self.previous_secrets if p.expires_at > now]
        return max(valid, default=None)


async def rotate(
    collection: AsyncCollection[Document], key_id: str, new: str, grace_s: float
) -> Document | None:
    """Make `new` the current secret of document `key_id`; the old one keeps signing for
    `grace_s`. The updated document, or None if there is none."""
    for _ in range(3):  # conditional on the secret read: a concurrent rotation wins
        document = await collection.find_one({"_id": key_id})
        if document is None:
            return None
        key = SigningKey.model_validate(document)
        now = utcnow()
        kept = [p for p in key.previous_secrets if p.expires_at > now]
        if grace_s > 0:
            kept.insert(
                0, PreviousSecret(secret=key.secret, expires_at=now + timedelta(seconds=grace_s))
            )
        changes = {
            "secret": new,
            "previous_secrets": [p.model_dump() for p in kept],
            "updated_at": now,
        }
        outcome = await collection.update_one(
            {"_id": key_id, "secret": key.secret}, {"$set": changes}
        )
        if outcome.modified_count == 1:
            return {**document, **changes}
    return None


class CallbackSecret(SigningKey):
    tenant_id: str
    created_at: datetime
    updated_at: datetime


def _callback_secret(document: Document) -> CallbackSecret:
    return CallbackSecret.model_validate({**document, "tenant_id": document["_id"]})


class CallbackSecrets:
    """Each tenant's callback signing secret, keyed by tenant."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._secrets = database["callback_secrets"]

    async def get(self, tenant_id: str) -> CallbackSecret:
        """The tenant's secret, created on first use: concurrent first uses all get the one
        that was stored first."""
        document = await self._secrets.find_one({"_id": tenant_id})
        if document is None:
            now = utcnow()
            fresh = {"secret": new_secret(), "previous_secrets": [], "created_at": now}
            with suppress(DuplicateKeyError):  # a concurrent upsert inserted it first
                await self._secrets.update_one(
                    {"_id": tenant_id},
                    {"$setOnInsert": {**fresh, "updated_at": now}},
                    upsert=True,
                )
            document = await self._secrets.find_one({"_id": tenant_id})
            if document is None:  # pragma: no cover - deleted in between
                raise RuntimeError(f"the callback secret of tenant {tenant_id!r} vanished")
        return _callback_secret(document)

    async def rotate(self, tenant_id: str, new: str, grace_s: float) -> CallbackSecret:
        await self.get(tenant_id)
        document = await rotate(self._secrets, tenant_id, new, grace_s)
        if document is None:  # pragma: no cover - three concurrent rotations in a row
            raise RuntimeError(f"the callback secret of tenant {tenant_id!r} kept changing")
        return _callback_secret(document)
