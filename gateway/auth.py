"""Who is calling: API keys resolved to a tenant and its scopes, and a rate limit per key.

Routes declare the scope they need (`SubmitAccess`, `ReadAccess`, `AdminAccess`); the
dependency authenticates the `Authorization: Bearer <key>` header, checks the scope, then
takes a token from the key's bucket. Everything a route creates or reads belongs to the
principal's tenant: another tenant's IDs answer 404, exactly like IDs that do not exist.
"""

import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

import redis.asyncio as aioredis
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pymongo.asynchronous.database import AsyncDatabase
from redis.exceptions import RedisError
from starlette.datastructures import Headers
from starlette.types import Scope as AsgiScope

from gateway.errors import ApiError
from gateway.settings import AuthSettings, RateLimitSettings, Settings
from storage.api_key_repository import ApiKey, ApiKeyRepository, Document, Scope, hash_key, key_id
from storage.errors import ErrorCode

logger = logging.getLogger(__name__)

_bearer = HTTPBearer(auto_error=False, description="An API key: `Bearer dfk_...`")
_CACHE_ENTRIES = 10_000


@dataclass(frozen=True)
class Principal:
    tenant_id: str
    # None when authentication is off (local development).
    key_id: str | None
    scopes: frozenset[Scope]
    # The key's own rate limit, if it has one.
    requests_per_s: float | None = None
    burst: int | None = None

    def allows(self, scope: Scope) -> bool:
        return Scope.ADMIN in self.scopes or scope in self.scopes


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, ErrorCode.UNAUTHORIZED, message, {"WWW-Authenticate": "Bearer"})


class Authenticator:
    """Looks keys up in MongoDB, trusting each answer for `cache_s` seconds.

    Known keys and refused keys are cached apart, each bounded and least recently used
    first out: a flood of made-up keys evicts only other made-up keys, never a tenant's.
    """

    def __init__(
        self, keys: ApiKeyRepository, settings: AuthSettings, max_entries: int = _CACHE_ENTRIES
    ) -> None:
        self._keys = keys
        self._settings = settings
        self._known: _Lru[ApiKey] = _Lru(max_entries)
        self._refused: _Lru[bool] = _Lru(max_entries)

    async def authenticate(self, raw_key: str | None) -> Principal:
        if self._settings.disabled:
            return Principal(self._settings.bootstrap_tenant, None, frozenset(Scope))
        if not raw_key:
            raise _unauthorized("send an API key: Authorization: Bearer dfk_...")
        key = await self._lookup(raw_key)
        if key is None:
            raise _unauthorized("the API key is invalid or has been revoked")
        return Principal(
            key.tenant_id, key.id, frozenset(key.scopes), key.requests_per_s, key.burst
        )

    async def _lookup(self, raw_key: str) -> ApiKey | None:
        prefix = key_id(raw_key)
        if prefix is None:  # not shaped like a key: refused without a lookup
            return None
        digest = hash_key(raw_key)
        now = time.monotonic()
        known = self._known.get(digest, now)
        if known is not None:
            return known
        if self._refused.get(digest, now) is not None:
            return None
        key = await self._keys.get(prefix)
        if key is not None and (key.revoked_at is not None or not key.matches(digest)):
            key = None
        expires = now + self._settings.cache_s
        if key is None:
            self._refused.put(digest, expires, True)
        else:
            self._known.put(digest, expires, key)
        return key


_Value = TypeVar("_Value")


class _Lru(Generic[_Value]):
    """At most `max_entries` answers, each until its expiry; the least recently used go first."""

    def __init__(self, max_entries: int) -> None:
        self._max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, _Value]] = OrderedDict()

    def get(self, digest: str, now: float) -> _Value | None:
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if entry[0] <= now:
            del self._entries[digest]
            return None
        self._entries.move_to_end(digest)
        return entry[1]

    def put(self, digest: str, expires: float, value: _Value) -> None:
        self._entries[digest] = (expires, value)
        self._entries.move_to_end(digest)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


# Refill, then take `cost` tokens if there are enough; else say how long until there are.
# Redis's own clock, so that every gateway replica agrees.
_BUCKET_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
else
  wait = (cost - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return tostring(wait)
"""


class RateLimiter:
    def __init__(self, redis: aioredis.Redis, settings: RateLimitSettings) -> None:
        self._redis = redis
        self._settings = settings
        self._script = redis.register_script(_BUCKET_SCRIPT)

    async def take(self, principal: Principal) -> None:
        """Raises 429 with `Retry-After` when the key's bucket is empty."""
        settings = self._settings
        rate = (
            settings.requests_per_s
            if principal.requests_per_s is None
            else principal.requests_per_s
        )
        burst = settings.burst if principal.burst is None else principal.burst
        if rate <= 0 or principal.key_id is None:
            return
        try:
            wait = float(
                await self._script(
                    keys=[f"ratelimit:{principal.key_id}"],
                    args=[rate, burst, 1],
                )
            )
        except RedisError:
            # The limit protects the service; Redis being away must not stop it too.
            logger.warning("rate limit not checked: Redis unavailable")
            return
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            raise ApiError(
                429,
                ErrorCode.RATE_LIMITED,
                f"too many requests for this API key; retry in {retry_after}s",
                {"Retry-After": str(retry_after)},
            )


@dataclass
class Access:
    authenticator: Authenticator
    rate_limiter: RateLimiter


def _access(request: Request) -> Access:
    access: Access = request.app.state.access
    return access


# Where a middleware that authorized the request before reading its body (Idempotency)
# leaves the principal, so that the route neither looks the key up nor takes a token again.
PRINCIPAL_SCOPE_KEY = "gateway.principal"


async def authorize(access: Access, raw_key: str | None, scope: Scope) -> Principal:
    """Authenticate, check the scope, take a token from the key's bucket: 401/403/429."""
    principal = await access.authenticator.authenticate(raw_key)
    if not principal.allows(scope):
        raise ApiError(403, ErrorCode.FORBIDDEN, f"this API key lacks the {scope.value!r} scope")
    await access.rate_limiter.take(principal)
    return principal


def bearer_key(authorization: str | None) -> str | None:
    """The credentials of an `Authorization: Bearer <key>` header, as HTTPBearer reads it."""
    scheme, _, credentials = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


async def authorize_submission(asgi_scope: AsgiScope) -> None:
    """For middleware that must know the caller before reading a body: raises 401/403/429,
    else leaves the principal where the route's dependency finds it."""
    access: Access = asgi_scope["app"].state.access
    raw_key = bearer_key(Headers(scope=asgi_scope).get("authorization"))
    asgi_scope[PRINCIPAL_SCOPE_KEY] = await authorize(access, raw_key, Scope.SUBMIT)


def _require(scope: Scope) -> object:
    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        earlier = request.scope.get(PRINCIPAL_SCOPE_KEY)
        if isinstance(earlier, Principal) and earlier.allows(scope):
            return earlier
        raw_key = None if credentials is None else credentials.credentials
        return await authorize(_access(request), raw_key, scope)

    return Depends(dependency)


SubmitAccess = Annotated[Principal, _require(Scope.SUBMIT)]
ReadAccess = Annotated[Principal, _require(Scope.READ)]
AdminAccess = Annotated[Principal, _require(Scope.ADMIN)]


async def open_access(
    settings: Settings, database: AsyncDatabase[Document], redis: aioredis.Redis
) -> Access:
    """Key lookups and rate limits for the app; records the bootstrap key if one is set."""
    auth = settings.auth
    keys = ApiKeyRepository(database)
    await keys.ensure_indexes()
    if auth.disabled:
        logger.warning(
            "authentication is OFF (GATEWAY_AUTH__DISABLED): every request acts for tenant %r "
            "with every scope; for local development only",
            auth.bootstrap_tenant,
        )
    elif auth.bootstrap_admin_key is not None:
        await keys.ensure(
            auth.bootstrap_admin_key.get_secret_value(),
            auth.bootstrap_tenant,
            [Scope.ADMIN],
            name="bootstrap",
        )
    return Access(Authenticator(keys, auth), RateLimiter(redis, settings.rate_limit))
