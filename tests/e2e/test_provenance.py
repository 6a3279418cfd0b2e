"""A C2PA-signed image's provenance shows on its job, uploaded or fetched."""

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.c2pa_signing import make_signing_chain, sign
from tests.e2e.jobs import ImageServer, submit_upload, submit_url, wait_for_job

pytestmark = pytest.mark.e2e

SAMPLE = "df/df00204.jpg"


@pytest.fixture(scope="module")
def signed_sample(samples_dir: Path) -> bytes:
    return sign((samples_dir / SAMPLE).read_bytes(), make_signing_chain())


def _assert_signed_ai_image(job: dict[str, Any]) -> None:
    assert job["status"] == "succeeded", job["error"]
    provenance = job["result"]["provenance"]
    assert provenance["hints"] == [
        "c2pa_manifest",
        "c2pa_signature_untrusted",
        "c2pa_ai_generated",
    ]
    c2pa = provenance["c2pa"]
    assert c2pa["claim_generator"] == "test-generator 1.0"
    assert c2pa["signature"] == "untrusted"
    assert c2pa["ai_generated"] is True
    assert c2pa["digital_source_type"].endswith("/trainedAlgorithmicMedia")
    assert job["result"]["verdict"] == "fake"  # the detector's own finding is unchanged


def test_an_uploaded_signed_image_shows_its_provenance(
    api: httpx.Client, signed_sample: bytes
) -> None:
    _assert_signed_ai_image(wait_for_job(api, submit_upload(api, signed_sample)))


def test_a_fetched_signed_image_shows_its_provenance(
    api: httpx.Client, image_server: ImageServer, signed_sample: bytes
) -> None:
    (image_server.root / "signed.jpg").write_bytes(signed_sample)
    _assert_signed_ai_image(wait_for_job(api, submit_url(api, image_server.url("signed.jpg"))))


def test_an_image_without_provenance_says_so(api: httpx.Client, samples_dir: Path) -> None:
    job = wait_for_job(api, submit_upload(api, (samples_dir / "real/real00240.jpg").read_bytes()))
    assert job["status"] == "succeeded", job["error"]
    provenance = job["result"]["provenance"]
    assert provenance["c2pa"] is None
    assert "c2pa_manifest" not in provenance["hints"]
