"""`Idempotency-Key` on the creating endpoints (IETF draft "The Idempotency-Key HTTP Header
Field"): a retried request gets the original answer instead of creating a second job.

- first use of a key: the request runs, and its response is kept for `ttl_s`;
- same key, same request: the kept response is replayed (`Idempotent-Replayed: true`);
- same key, another request: 422 `idempotency_key_mismatch`;
- same key while the first request still runs: 409 `idempotency_key_in_use`.

The caller is authorized (key, scope, rate limit) before a byte of the body is read: an
unauthenticated request must not make the gateway spool anything. Keys are scoped to the
credentials that sent them. A request is identified by its method,
path, media type and body; a multipart body's boundary is random per send, so it is
replaced before hashing. The body is spooled to a temporary file while it is hashed (a
batch file can be large), then handed to the route unchanged.
"""

import base64
import hashlib
import json
import logging
import tempfile
from collections.abc import Awaitable, Callable
from typing import IO, Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import ApiError, error_response
from storage.errors import ErrorCode

logger = logging.getLogger(__name__)

HEADER = "idempotency-key"
MAX_KEY_LENGTH = 255
_SPOOL_IN_MEMORY_BYTES = 1024 * 1024
_CHUNK_BYTES = 64 * 1024
# Answers that say nothing about the request itself are not kept: the client may retry.
_NOT_KEPT = {401, 403, 409, 429}


class Fingerprint:
    """SHA-256 of a request, fed its body chunk by chunk."""

    def __init__(self, method: str, path: str, content_type: str) -> None:
        media_type, _, params = content_type.partition(";")
        self._hash = hashlib.sha256(f"{method} {path} {media_type.strip().lower()}\n".encode())
        boundary = _boundary(params)
        self._marker = None if boundary is None else b"--" + boundary.encode("latin-1")
        self._tail = b""

    def update(self, chunk: bytes) -> None:
        if self._marker is None:
            self._hash.update(chunk)
            return
        data = (self._tail + chunk).replace(self._marker, b"--boundary")
        # Keep what could be the start of a marker split across chunks.
        keep = len(self._marker) - 1
        self._hash.update(data[:-keep])
        self._tail = data[-keep:]

    def hexdigest(self) -> str:
        self._hash.update(self._tail)
        self._tail = b""
        return self._hash.hexdigest()


def _boundary(params: str) -> str | None:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary" and value:
            return value.strip('"')
    return None


def _redis_key(scope: Scope, headers: Headers, key: str) -> str:
    caller = hashlib.sha256(headers.get("authorization", "").encode()).hexdigest()[:32]
    return f"idempotency:{caller}:{scope['path']}:{hashlib.sha256(key.encode()).hexdigest()}"


class Idempotency:
    def __init__(
        self,
        app: ASGIApp,
        paths: set[str],
        ttl_s: int,
        lease_s: int,
        redis: Callable[[Scope], aioredis.Redis],
        authorize: Callable[[Scope], Awaitable[None]] | None = None,
    ) -> None:
        self.app = app
        # Raises ApiError (401, 403, 429) for a caller that may not submit.
        self.authorize = authorize
        self.paths = paths
        self.ttl_s = ttl_s
        # How long a running request holds its key; past it, the key is free again.
        self.lease_s = lease_s
        self.redis = redis

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        key = headers.get(HEADER)
        if key is None:
            await self.app(scope, receive, send)
            return
        try:
            await self._handle(scope, receive, send, headers, key)
        except ApiError as error:
            response = error_response(error.status_code, error.code, error.message, error.headers)
            await response(scope, receive, send)

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, headers: Headers, key: str
    ) -> None:
        if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
            raise ApiError(
                422,
                ErrorCode.INVALID_REQUEST,
                f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters",
            )
        if self.authorize is not None:
            await self.authorize(scope)
        redis = self.redis(scope)
        redis_key = _redis_key(scope, headers, key)
        fingerprint = Fingerprint(scope["method"], scope["path"], headers.get("content-type", ""))
        with tempfile.SpooledTemporaryFile(_SPOOL_IN_MEMORY_BYTES) as spool:
            digest = await _spool_body(receive, spool, fingerprint)
            try:
                claimed, kept = await self._claim(redis, redis_key, digest)
            except RedisError as error:
                raise ApiError(
                    503, ErrorCode.SERVICE_UNAVAILABLE, "idempotency keys are unavailable"
                ) from error
            if not claimed:
                await _answer_again(kept, digest, scope, receive, send)
                return
            spool.seek(0)
            await self._run_and_keep(scope, _replay(spool, receive), send, redis, redis_key, digest)

    async def _claim(
        self, redis: aioredis.Redis, redis_key: str, digest: str
    ) -> tuple[bool, bytes | str | None]:
        """Take the key for this request, or read what holds it."""
        for _ in range(3):  # the holder may expire between our two calls
            if await redis.set(
                redis_key, json.dumps({"fingerprint": digest}), nx=True, ex=self.lease_s
            ):
                return True, None
            kept: bytes | str | None = await redis.get(redis_key)
            if kept is not None:
                return False, kept
        return False, None

    async def _run_and_keep(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        redis: aioredis.Redis,
        redis_key: str,
        digest: str,
    ) -> None:
        start: Message = {}
        body = bytearray()

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            status = int(start.get("status", 500))
            try:
                if status >= 500 or status in _NOT_KEPT:
                    await redis.delete(redis_key)
                else:
                    kept = {
                        "fingerprint": digest,
                        "status": status,
                        "headers": [
                            [name.decode("latin-1"), value.decode("latin-1")]
                            for name, value in start.get("headers", [])
                            if name.lower() != b"content-length"
                        ],
                        "body": base64.b64encode(bytes(body)).decode("ascii"),
                    }
                    await redis.set(redis_key, json.dumps(kept), ex=self.ttl_s)
            except RedisError:
                # The lease expires on its own; the request itself went through.
                logger.warning("could not keep the response for an idempotency key")


async def _spool_body(receive: Receive, spool: IO[bytes], fingerprint: Fingerprint) -> str:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ApiError(400, ErrorCode.INVALID_REQUEST, "the client went away")
        chunk = message.get("body", b"")
        fingerprint.update(chunk)
        spool.write(chunk)
        if not message.get("more_body", False):
            return fingerprint.hexdigest()


def _replay(spool: IO[bytes], receive: Receive) -> Callable[[], Awaitable[Message]]:
    done = False

    async def replay() -> Message:
        nonlocal done
        if done:
            return await receive()
        chunk = spool.read(_CHUNK_BYTES)
        done = len(chunk) < _CHUNK_BYTES
        return {"type": "http.request", "body": chunk, "more_body": not done}

    return replay


async def _answer_again(kept: Any, digest: str, scope: Scope, receive: Receive, send: Send) -> None:
    record = json.loads(kept) if kept else {}
    if record.get("fingerprint") != digest:
        raise ApiError(
            422,
            ErrorCode.IDEMPOTENCY_KEY_MISMATCH,
            "this Idempotency-Key was used for a different request",
        )
    if "status" not in record:
        raise ApiError(
            409,
            ErrorCode.IDEMPOTENCY_KEY_IN_USE,
            "a request with this Idempotency-Key is still being processed",
            {"Retry-After": "1"},
        )
    headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in record["headers"]]
    body = base64.b64decode(record["body"])
    headers.append((b"content-length", str(len(body)).encode()))
    headers.append((b"idempotent-replayed", b"true"))
    await send({"type": "http.response.start", "status": record["status"], "headers": headers})
    await send({"type": "http.response.body", "body": body})
