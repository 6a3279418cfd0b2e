"""Sample face crops through the whole stack, by URL and by upload."""

from pathlib import Path

import httpx
import pytest

from tests.e2e.jobs import ImageServer, submit_upload, submit_url, wait_for_job

pytestmark = pytest.mark.e2e

SAMPLES = [
    ("df/df00204.jpg", "fake"),
    ("df/df01254.jpg", "fake"),
    ("real/real00240.jpg", "real"),
    ("real/real00772.jpg", "real"),
]


@pytest.mark.parametrize(("name", "verdict"), SAMPLES)
def test_a_sample_by_url_gets_its_verdict(
    api: httpx.Client, image_server: ImageServer, name: str, verdict: str
) -> None:
    job_id = submit_url(api, image_server.url(name), post="p-1")
    job = wait_for_job(api, job_id)
    assert job["status"] == "succeeded", job["error"]
    assert job["result"]["verdict"] == verdict
    assert job["result"]["model_name"] == "deepfake_detector"
    assert job["result"]["model_version"] == "1"
    assert job["metadata"] == {"post": "p-1"}
    assert list(job["timestamps"]) == ["queued", "fetching", "inferring", "succeeded"]
    assert job["image"]["content_type"] == "image/jpeg"
    assert len(job["image"]["sha256"]) == 64


@pytest.mark.parametrize(("name", "verdict"), SAMPLES)
def test_a_sample_by_upload_gets_its_verdict(
    api: httpx.Client, samples_dir: Path, name: str, verdict: str
) -> None:
    job_id = submit_upload(api, (samples_dir / name).read_bytes())
    job = wait_for_job(api, job_id)
    assert job["status"] == "succeeded", job["error"]
    assert job["result"]["verdict"] == verdict
    assert list(job["timestamps"]) == ["queued", "inferring", "succeeded"]
    probability = job["result"]["fake_probability"]
    assert (probability > 0.9) if verdict == "fake" else (probability < 0.1)


def test_upload_and_url_of_the_same_bytes_agree(
    api: httpx.Client, image_server: ImageServer, samples_dir: Path
) -> None:
    name = "df/df00204.jpg"
    by_url = wait_for_job(api, submit_url(api, image_server.url(name)))
    by_upload = wait_for_job(api, submit_upload(api, (samples_dir / name).read_bytes()))
    assert by_url["image"]["sha256"] == by_upload["image"]["sha256"]
    assert by_url["result"] == by_upload["result"]


def test_the_type_comes_from_the_bytes_not_the_name(api: httpx.Client, samples_dir: Path) -> None:
    crop = (samples_dir / "real/real00240.jpg").read_bytes()
    job = wait_for_job(api, submit_upload(api, crop, filename="notes.txt"))
    assert job["status"] == "succeeded"
    response = api.post("/v1/jobs", files={"file": ("face.jpg", b"GIF8 not really", "image/jpeg")})
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
