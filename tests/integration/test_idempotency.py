"""The Idempotency-Key middleware over a real Redis, around a small app whose requests can
be held open, so that a second request arrives while the first still runs."""

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Message, Scope

from devstack.servers import RedisServer
from gateway.errors import ApiError
from gateway.idempotency import Fingerprint, Idempotency
from storage.errors import ErrorCode

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Held:
    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.entered = asyncio.Event()
        self.calls = 0
        self.status = 202


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[tuple[httpx.AsyncClient, Held]]:
    held = Held()

    async def create(request: Request) -> JSONResponse:
        body = await request.body()
        held.calls += 1
        held.entered.set()
        await held.release.wait()
        digest = hashlib.sha256(body).hexdigest()
        return JSONResponse({"n": held.calls, "body": digest}, status_code=held.status)

    redis = aioredis.from_url(redis_server.url)
    app = Starlette(routes=[Route("/v1/jobs", create, methods=["POST"])])
    wrapped = Idempotency(app, {"/v1/jobs"}, ttl_s=60, lease_s=30, redis=lambda _: redis)
    transport = httpx.ASGITransport(app=wrapped)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http, held
    await redis.aclose()


async def test_a_request_in_flight_answers_409_then_the_first_answer_replays(
    client: tuple[httpx.AsyncClient, Held],
) -> None:
    http, held = client
    key = {"Idempotency-Key": uuid.uuid4().hex, "Authorization": "Bearer a"}
    first = asyncio.create_task(http.post("/v1/jobs", content=b"x" * 200_000, headers=key))
    await held.entered.wait()
    busy = await http.post("/v1/jobs", content=b"x" * 200_000, headers=key)
    assert busy.status_code == 409
    assert busy.json()["error"]["code"] == "idempotency_key_in_use"
    held.release.set()
    answered = await first
    replayed = await http.post("/v1/jobs", content=b"x" * 200_000, headers=key)
    assert (answered.status_code, replayed.status_code) == (202, 202)
    assert replayed.json() == answered.json() == {"n": 1, "body": answered.json()["body"]}
    assert held.calls == 1
    # The same key from other credentials is another key.
    other = await http.post("/v1/jobs", content=b"y", headers={**key, "Authorization": "Bearer b"})
    assert other.json()["n"] == 2


async def test_server_errors_are_not_kept_so_a_retry_runs_again(
    client: tuple[httpx.AsyncClient, Held],
) -> None:
    http, held = client
    held.release.set()
    held.status = 503
    key = {"Idempotency-Key": uuid.uuid4().hex}
    assert (await http.post("/v1/jobs", content=b"a", headers=key)).status_code == 503
    held.status = 202
    retried = await http.post("/v1/jobs", content=b"a", headers=key)
    assert retried.status_code == 202
    assert held.calls == 2


async def test_a_malformed_key_is_refused(client: tuple[httpx.AsyncClient, Held]) -> None:
    http, _ = client
    response = await http.post("/v1/jobs", content=b"a", headers={"Idempotency-Key": "x" * 300})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"


def test_a_multipart_boundary_does_not_change_the_fingerprint() -> None:
    def digest(boundary: str, chunk_size: int) -> str:
        body = (
            f"--{boundary}\r\nContent-Disposition: form-data; name=file\r\n\r\nDATA\r\n"
            f"--{boundary}--\r\n"
        ).encode()
        fingerprint = Fingerprint("POST", "/v1/jobs", f"multipart/form-data; boundary={boundary}")
        for start in range(0, len(body), chunk_size):
            fingerprint.update(body[start : start + chunk_size])
        return fingerprint.hexdigest()

    reference = digest("a" * 32, 1000)
    # Split anywhere, including through a boundary.
    assert {digest("b" * 32, size) for size in (1, 3, 7, 33, 1000)} == {reference}
    changed = Fingerprint("POST", "/v1/jobs", "multipart/form-data; boundary=zz")
    changed.update(b"--zz\r\nother\r\n--zz--\r\n")
    assert changed.hexdigest() != reference


async def test_the_caller_is_refused_before_any_body_is_read(redis_server: RedisServer) -> None:
    redis = aioredis.from_url(redis_server.url)
    reached: list[str] = []

    async def create(request: Request) -> JSONResponse:
        reached.append(request.url.path)
        return JSONResponse({}, status_code=202)

    async def authorize(scope: Scope) -> None:
        if dict(scope["headers"]).get(b"authorization") != b"Bearer good":
            raise ApiError(401, ErrorCode.UNAUTHORIZED, "no")

    app = Starlette(routes=[Route("/v1/jobs", create, methods=["POST"])])
    wrapped = Idempotency(
        app, {"/v1/jobs"}, ttl_s=60, lease_s=30, redis=lambda _: redis, authorize=authorize
    )
    received = 0

    async def receive() -> Message:
        nonlocal received
        received += 1
        return {"type": "http.request", "body": b"x" * 65536, "more_body": True}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/jobs",
        "headers": [(b"idempotency-key", b"k1"), (b"authorization", b"Bearer bad")],
        "query_string": b"",
    }
    await wrapped(scope, receive, send)
    assert sent[0]["status"] == 401
    assert (received, reached) == (0, [])
    await redis.aclose()
