"""Error mapping and the body limit, on a bare FastAPI app (no services)."""

from collections.abc import Iterator

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel

from gateway.errors import ApiError, install_error_handlers
from gateway.limits import BodySizeLimit
from storage.errors import ErrorCode, PermanentError, TransientError


class Body(BaseModel):
    count: int


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=100)

    @app.get("/api-error")
    async def api_error() -> None:
        raise ApiError(404, ErrorCode.JOB_NOT_FOUND, "no job")

    @app.get("/invalid-url")
    async def invalid_url() -> None:
        raise PermanentError(ErrorCode.INVALID_URL, "bad url")

    @app.get("/transient")
    async def transient() -> None:
        raise TransientError(ErrorCode.FETCH_UNAVAILABLE, "later")

    @app.get("/bug")
    async def bug() -> None:
        raise RuntimeError("secret detail")

    @app.post("/validated")
    async def validated(body: Body) -> int:
        return body.count

    @app.post("/echo")
    async def echo(request: Request) -> int:
        return len(await request.body())

    return app


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(_app(), raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/api-error", 404, "job_not_found"),
        ("GET", "/invalid-url", 422, "invalid_url"),
        ("GET", "/transient", 503, "fetch_unavailable"),
        ("GET", "/bug", 500, "internal_error"),
        ("GET", "/nowhere", 404, "not_found"),
        ("DELETE", "/api-error", 405, "method_not_allowed"),
    ],
)
def test_errors_map_to_status_and_code(
    client: TestClient, method: str, path: str, status: int, code: str
) -> None:
    response = client.request(method, path)
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert "secret detail" not in response.text


def test_validation_errors_name_the_field(client: TestClient) -> None:
    response = client.post("/validated", json={"count": "many"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"
    assert "count" in response.json()["error"]["message"]


def test_bodies_under_the_limit_pass(client: TestClient) -> None:
    assert client.post("/echo", content=b"x" * 100).json() == 100


def test_a_declared_oversize_body_is_refused_unread(client: TestClient) -> None:
    response = client.post("/echo", content=b"x" * 101)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_a_streamed_oversize_body_is_refused(client: TestClient) -> None:
    response = client.post("/echo", content=iter([b"x" * 60, b"x" * 60]))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
