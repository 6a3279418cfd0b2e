"""`GET /v1/jobs` (a tenant's jobs, newest first, filtered, a page at a time) and
`GET /v1/jobs/{id}/image` (the bytes judged), through the whole stack."""

import hashlib
from pathlib import Path

import httpx
import pytest

from devstack.process import ServiceProcess
from tests.e2e.clients import CreateKey, api_client
from tests.e2e.jobs import ImageServer, wait_for_job

pytestmark = pytest.mark.e2e


def _submit(api: httpx.Client, content: bytes, post: str) -> str:
    response = api.post(
        "/v1/jobs",
        files={"file": ("a.jpg", content, "image/jpeg")},
        data={"metadata": f'{{"post": "{post}"}}', "mode": "whole_image"},
    )
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


def _all_pages(api: httpx.Client, **params: str | int) -> list[str]:
    ids: list[str] = []
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = api.get("/v1/jobs", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        ids += [job["id"] for job in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


def test_a_tenant_lists_its_jobs_newest_first_filtered_and_paged(
    gateway: str, worker: ServiceProcess, create_key: CreateKey, samples_dir: Path
) -> None:
    fake = (samples_dir / "df/df00204.jpg").read_bytes()
    real = (samples_dir / "real/real00240.jpg").read_bytes()
    with api_client(gateway, key=create_key("submit", "read")) as api:
        submitted = [_submit(api, fake if i % 2 else real, f"p{i}") for i in range(5)]
        for job_id in submitted:
            wait_for_job(api, job_id)
        newest_first = list(reversed(submitted))

        assert _all_pages(api) == newest_first
        assert _all_pages(api, limit=2) == newest_first  # pages of 2, 2 and 1
        first = api.get("/v1/jobs", params={"limit": 2}).json()
        # A job created after the first page does not shift the next one.
        _submit(api, real, "late")
        rest = _all_pages(api, limit=2, cursor=first["next_cursor"])
        assert rest == newest_first[2:]

        fakes = _all_pages(api, verdict="fake")
        assert fakes == [job_id for i, job_id in enumerate(submitted) if i % 2][::-1]
        assert _all_pages(api, metadata_key="post", metadata_value="p3") == [submitted[3]]
        assert _all_pages(api, status="failed") == []
        first_job = api.get(f"/v1/jobs/{submitted[0]}").json()
        after_first = _all_pages(api, created_after=first_job["created_at"], status="succeeded")
        assert after_first[-1] == submitted[0]

        for params in (
            {"cursor": "not-a-cursor"},
            {"limit": 0},
            {"status": "done"},
            {"metadata_key": "post"},
            {"created_after": "2026-01-01T00:00:00"},
        ):
            response = api.get("/v1/jobs", params=params)
            assert response.status_code == 422, params
            assert response.json()["error"]["code"] == "invalid_request"


def test_the_judged_image_comes_back_as_stored_and_only_to_its_tenant(
    gateway: str,
    worker: ServiceProcess,
    create_key: CreateKey,
    samples_dir: Path,
    image_server: ImageServer,
) -> None:
    content = (samples_dir / "df/df00204.jpg").read_bytes()
    with api_client(gateway, key=create_key("submit", "read")) as api:
        job_id = _submit(api, content, "img")
        image = api.get(f"/v1/jobs/{job_id}/image")
        assert image.status_code == 200
        assert image.content == content
        assert image.headers["content-type"] == "image/jpeg"
        assert image.headers["etag"] == f'"{hashlib.sha256(content).hexdigest()}"'
        assert image.headers["x-content-type-options"] == "nosniff"
        assert "immutable" in image.headers["cache-control"]
        wait_for_job(api, job_id)
        missing = api.get("/v1/jobs/job_nope/image")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "job_not_found"
        # A URL job whose fetch failed never stored an image.
        unfetched = api.post("/v1/jobs", json={"image_url": image_server.url("nope.jpg")})
        assert wait_for_job(api, unfetched.json()["id"])["status"] == "failed"
        none = api.get(f"/v1/jobs/{unfetched.json()['id']}/image")
        assert none.status_code == 409
        assert none.json()["error"]["code"] == "image_not_stored"
    with api_client(gateway, key=create_key("read")) as other:
        # Another tenant's job, listed or not, is as absent as one that never existed.
        assert other.get(f"/v1/jobs/{job_id}/image").status_code == 404
        assert job_id not in _all_pages(other)
