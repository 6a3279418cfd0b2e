"""Bad input and broken dependencies end in the right, stable error code."""

import httpx
import pytest

from tests.e2e.conftest import MAX_BYTES
from tests.e2e.jobs import ImageServer, submit_url, wait_for_job

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("missing.jpg", "image_not_found"),
        ("not-an-image.jpg", "unsupported_image_format"),
        ("too-large.jpg", "image_too_large"),
        ("too-many-pixels.png", "image_too_many_pixels"),
    ],
)
def test_a_bad_url_fails_the_job_with_its_code(
    api: httpx.Client, image_server: ImageServer, name: str, code: str
) -> None:
    job = wait_for_job(api, submit_url(api, image_server.url(name)))
    assert job["status"] == "failed"
    assert job["error"]["code"] == code
    assert job["result"] is None
    assert "failed" in job["timestamps"]


def test_private_addresses_are_refused(api: httpx.Client) -> None:
    job = wait_for_job(api, submit_url(api, "http://169.254.169.254/latest/meta-data/"))
    assert job["error"]["code"] == "url_forbidden"


def _error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_an_oversize_upload_is_refused(api: httpx.Client) -> None:
    content = b"\xff\xd8\xff\xe0" + b"\x00" * (MAX_BYTES + 1)
    response = api.post("/v1/jobs", files={"file": ("big.jpg", content, "image/jpeg")})
    assert _error(response) == (413, "payload_too_large")


def test_an_oversize_chunked_upload_is_refused_while_streaming(api: httpx.Client) -> None:
    def chunks() -> object:
        yield b"--b\r\nContent-Disposition: form-data; name=file; filename=a.jpg\r\n\r\n"
        for _ in range(40):
            yield b"\xff" * 65536
        yield b"\r\n--b--\r\n"

    response = api.post(
        "/v1/jobs",
        content=chunks(),  # type: ignore[arg-type]
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert _error(response) == (413, "payload_too_large")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"image_url": "ftp://example.com/a.jpg"}, 422, "invalid_url"),
        ({"image_url": "http://user:pw@example.com/a.jpg"}, 422, "invalid_url"),
        ({"image_url": "https://example.com/" + "a" * 3000}, 422, "invalid_url"),
        ({"image_url": 5}, 422, "invalid_request"),
        ({"url": "https://example.com/a.jpg"}, 422, "invalid_request"),
        ({"image_url": "https://a.example/", "metadata": {"x": "y" * 20000}}, 422, "invalid_request"),  # noqa: E501
    ],
)  # fmt: skip
def test_bad_requests_are_refused_at_once(
    api: httpx.Client, body: object, status: int, code: str
) -> None:
    assert _error(api.post("/v1/jobs", json=body)) == (status, code)


def _post_raw(api: httpx.Client, content: bytes, content_type: str) -> httpx.Response:
    return api.post("/v1/jobs", content=content, headers={"content-type": content_type})


def test_other_request_errors(api: httpx.Client) -> None:
    assert _error(_post_raw(api, b"{", "application/json")) == (422, "invalid_request")
    assert _error(_post_raw(api, b"x", "text/plain")) == (415, "unsupported_media_type")
    assert _error(api.post("/v1/jobs", files={"other": ("a", b"x")})) == (422, "invalid_request")
    assert _error(api.get("/v1/jobs/job_doesnotexist")) == (404, "job_not_found")
    assert _error(api.get("/v1/nothing")) == (404, "not_found")
    assert _error(api.delete("/v1/jobs")) == (405, "method_not_allowed")


def test_readiness_reports_every_dependency(api: httpx.Client) -> None:
    response = api.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {
        "mongodb": "ok",
        "redis": "ok",
        "object_store": "ok",
        "triton": "ok",
    }
    assert api.get("/healthz").json() == {"status": "ok"}


def test_the_openapi_document_describes_both_submissions(api: httpx.Client) -> None:
    spec = api.get("/openapi.json").json()
    body = spec["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "multipart/form-data"}
    assert api.get("/docs").status_code == 200
