"""The hostile corpus through the whole stack: the right code, and a worker that lives on."""

from pathlib import Path

import httpx
import pytest

from devstack.process import ServiceProcess
from tests.e2e.jobs import ImageServer, submit_upload, submit_url, wait_for_job
from tests.hostile.images import CASES_BY_NAME
from tests.hostile.urls import URL_CASES, Layer, UrlCase

pytestmark = pytest.mark.e2e

SUBMIT_CASES = [case for case in URL_CASES if case.layer is Layer.SUBMIT]
# The test worker may fetch from loopback (the image server lives there); nothing else.
FETCH_CASES = [case for case in URL_CASES if case.layer is Layer.FETCH and not case.loopback]

# Refused whatever the stack's lowered limits; the rest decode (first frame, 8-bit RGB).
IMAGE_FAILURES = [
    "png-bomb",
    "jpeg-huge-header",
    "png-text-bomb",
    "png-truncated",
    "gif-corrupt",
    "svg",
    "zero-bytes",
]
IMAGE_SUCCESSES = ["gif-3000-frames", "cmyk-jpeg", "png-16bit-gray", "exif-ifd-loop"]
# Extreme geometries by URL too (test_hostile_geometry runs them all, in both modes).
IMAGE_SUCCESSES += ["column-4-mpx", "jpeg-strip-exif-6"]


@pytest.mark.parametrize("case", SUBMIT_CASES, ids=lambda case: case.id)
def test_a_malformed_url_is_refused_at_submission(api: httpx.Client, case: UrlCase) -> None:
    response = api.post("/v1/jobs", json={"image_url": case.url})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == case.code


def test_forbidden_addresses_fail_their_jobs(api: httpx.Client) -> None:
    submitted = {submit_url(api, case.url): case for case in FETCH_CASES}
    codes = {
        case.id: (wait_for_job(api, job_id)["error"] or {}).get("code")
        for job_id, case in submitted.items()
    }
    assert codes == {case.id: case.code.value for case in FETCH_CASES}


def _expected_image_code(name: str) -> str | None:
    code = CASES_BY_NAME[name].code
    return None if code is None else code.value


@pytest.mark.parametrize("name", IMAGE_FAILURES + IMAGE_SUCCESSES)
def test_a_hostile_image_by_url(api: httpx.Client, image_server: ImageServer, name: str) -> None:
    path = Path(image_server.root, f"hostile-{name}.png")  # names and types prove nothing
    path.write_bytes(CASES_BY_NAME[name].make())
    job = wait_for_job(api, submit_url(api, image_server.url(path.name)))
    expected = _expected_image_code(name)
    assert job["status"] == ("failed" if expected else "succeeded"), job
    assert (job["error"] or {}).get("code") == expected


@pytest.mark.parametrize("name", IMAGE_FAILURES + IMAGE_SUCCESSES)
def test_a_hostile_image_upload(api: httpx.Client, name: str) -> None:
    content = CASES_BY_NAME[name].make()
    expected = _expected_image_code(name)
    if expected == "unsupported_image_format":  # the gateway sniffs uploads itself
        response = api.post("/v1/jobs", files={"file": ("image.jpg", content, "image/jpeg")})
        assert response.status_code == 415, response.text
        assert response.json()["error"]["code"] == "unsupported_media_type"
        return
    job = wait_for_job(api, submit_upload(api, content))
    assert job["status"] == ("failed" if expected else "succeeded"), job
    assert (job["error"] or {}).get("code") == expected


def test_the_worker_lives_on(api: httpx.Client, worker: ServiceProcess, samples_dir: Path) -> None:
    nasty = ["png-bomb", "png-text-bomb", "jpeg-huge-header", "png-truncated"]
    hostile = [submit_upload(api, CASES_BY_NAME[name].make()) for name in nasty]
    sample = next((samples_dir / "real").glob("*.jpg")).read_bytes()
    normal = submit_upload(api, sample)
    assert [wait_for_job(api, job_id)["status"] for job_id in hostile] == ["failed"] * len(nasty)
    assert wait_for_job(api, normal)["status"] == "succeeded"
    assert worker.running
