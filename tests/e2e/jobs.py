"""Helpers shared by the end-to-end tests."""

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

TERMINAL = {"succeeded", "failed"}


@dataclass(frozen=True)
class ImageServer:
    root: Path
    base_url: str

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"


def wait_for_job(api: httpx.Client, job_id: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        response = api.get(f"/v1/jobs/{job_id}")
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        if job["status"] in TERMINAL:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job['status']} after {timeout_s}s")
        time.sleep(0.1)


def submit_url(api: httpx.Client, url: str, **metadata: Any) -> str:
    response = api.post("/v1/jobs", json={"image_url": url, "metadata": metadata})
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    assert response.headers["location"] == f"/v1/jobs/{job_id}"
    return job_id


def submit_upload(api: httpx.Client, content: bytes, filename: str = "image.jpg") -> str:
    response = api.post("/v1/jobs", files={"file": (filename, content, "image/jpeg")})
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id
