"""API keys: shown once, stored only as a SHA-256 hash, found by a short public prefix.

A key reads `dfk_<prefix>_<secret>`. The prefix (8 hex digits) is the key's id: it is
safe to log and to show in listings. The secret carries 256 random bits, so a plain
SHA-256 of the whole key is enough to store (no slow hash is needed against guessing).
"""

import contextlib
import hashlib
import hmac
import re
import secrets
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from storage.jobs import utcnow

Document = dict[str, Any]

KEY_PREFIX = "dfk_"
_KEY_PATTERN = re.compile(r"^dfk_([0-9a-f]{8})_[A-Za-z0-9_-]{43}$")
_TENANT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


class Scope(StrEnum):
    # Create jobs and batches, cancel and delete them.
    SUBMIT = "submit"
    # Read jobs, batches, results and the list of models.
    READ = "read"
    # Manage webhook endpoints and deliveries; implies every other scope.
    ADMIN = "admin"


class ApiKey(BaseModel):
    id: str = Field(description="The key's public prefix.")
    tenant_id: str
    name: str = ""
    scopes: list[Scope]
    key_hash: str
    # This key's own rate limit; None: the service's default.
    requests_per_s: float | None = Field(default=None, ge=0)
    burst: int | None = Field(default=None, ge=1)
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None

    def matches(self, digest: str) -> bool:
        """Whether `digest` (`hash_key` of the presented key) is this key's."""
        return hmac.compare_digest(self.key_hash, digest)


def valid_tenant(tenant_id: str) -> bool:
    return _TENANT_PATTERN.fullmatch(tenant_id) is not None


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def key_id(raw_key: str) -> str | None:
    """The prefix of a well-formed key, None for anything else."""
    match = _KEY_PATTERN.fullmatch(raw_key)
    return None if match is None else match.group(1)


def new_key(
    tenant_id: str,
    scopes: list[Scope],
    name: str = "",
    *,
    requests_per_s: float | None = None,
    burst: int | None = None,
) -> tuple[str, ApiKey]:
    """A new key and its stored record; the raw key exists only in the first."""
    if not valid_tenant(tenant_id):
        raise ValueError(f"invalid tenant id {tenant_id!r}: letters, digits, '_', '.', '-'")
    prefix = secrets.token_hex(4)
    raw_key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    record = ApiKey(
        id=prefix,
        tenant_id=tenant_id,
        name=name,
        scopes=sorted(set(scopes)),
        key_hash=hash_key(raw_key),
        requests_per_s=requests_per_s,
        burst=burst,
    )
    return raw_key, record


def _from_document(document: Document) -> ApiKey:
    document = dict(document)
    document["id"] = document.pop("_id")
    return ApiKey.model_validate(document)


class ApiKeyRepository:
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._keys = database["api_keys"]

    async def ensure_indexes(self) -> None:
        await self._keys.create_index([("tenant_id", ASCENDING)])

    async def insert(self, key: ApiKey) -> None:
        document = key.model_dump(mode="python", exclude={"id"})
        document["_id"] = key.id
        await self._keys.insert_one(document)

    async def get(self, prefix: str) -> ApiKey | None:
        document = await self._keys.find_one({"_id": prefix})
        return None if document is None else _from_document(document)

    async def list_keys(self, tenant_id: str | None = None) -> list[ApiKey]:
        query: Document = {} if tenant_id is None else {"tenant_id": tenant_id}
        cursor = self._keys.find(query).sort("created_at", ASCENDING)
        return [_from_document(document) async for document in cursor]

    async def revoke(self, prefix: str) -> bool:
        outcome = await self._keys.update_one(
            {"_id": prefix, "revoked_at": None}, {"$set": {"revoked_at": utcnow()}}
        )
        return outcome.modified_count == 1

    async def ensure(self, raw_key: str, tenant_id: str, scopes: list[Scope], name: str) -> None:
        """Record a key given from outside (a bootstrap key in the environment) once."""
        prefix = key_id(raw_key)
        if prefix is None:
            raise ValueError("not an API key: expected dfk_<8 hex digits>_<43 characters>")
        record = ApiKey(
            id=prefix, tenant_id=tenant_id, name=name, scopes=scopes, key_hash=hash_key(raw_key)
        )
        # Recorded before, or by another replica starting at the same time: nothing to do.
        with contextlib.suppress(DuplicateKeyError):
            await self.insert(record)
