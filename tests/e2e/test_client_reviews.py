"""The client's reviewer methods against the running service: reviews, the labelled set,
explanations and face crops, synchronous and asynchronous alike."""

import asyncio
import csv
import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from deepfake_client import (
    AsyncDetectionClient,
    Conflict,
    DetectionClient,
    InvalidRequest,
    Job,
    NotFound,
)
from PIL import Image

from tests.e2e.clients import CreateKey

pytestmark = pytest.mark.e2e

FAKE = Path("df") / "df00204.jpg"


@pytest.fixture
def key(create_key: CreateKey, worker: object) -> str:
    """A key of a tenant of its own: its labelled set holds only this test's reviews."""
    return create_key("submit", "read")


@pytest.fixture
def client(gateway: str, key: str) -> Iterator[DetectionClient]:
    with DetectionClient(gateway, api_key=key) as api:
        yield api


def _judged(client: DetectionClient, samples_dir: Path) -> Job:
    content = (samples_dir / FAKE).read_bytes() + uuid.uuid4().bytes
    job = client.wait(client.submit_file(content, filename="face.jpg").id, timeout_s=60)
    assert job.result is not None
    assert job.result.faces
    return job


def _png_size(content: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(content)) as image:
        assert image.format == "PNG"
        return image.size


def test_reviews_are_recorded_listed_shown_on_the_job_and_exported(
    client: DetectionClient, samples_dir: Path, tmp_path: Path
) -> None:
    job = _judged(client, samples_dir)
    assert (job.review, job.review_count) == (None, 0)
    assert job.result is not None
    assert job.result.image_size is not None
    assert job.result.provenance is not None
    assert job.result.provenance.hints  # at least `no_provenance`
    face = job.result.faces[0]

    first = client.create_review(job.id, "fake", face=0, note="lips")
    assert first.agreement == ("agree" if face.verdict == "fake" else "disagree")
    assert first.reviewer
    second = client.create_review(job.id, "unsure", note="<b>not sure</b>")
    assert (second.face, second.agreement) == (None, "n/a")
    assert [r.id for r in client.list_reviews(job.id)] == [second.id, first.id]
    shown = client.get_job(job.id)
    assert shown.review is not None
    assert (shown.review.label, shown.review.face, shown.review_count) == ("unsure", None, 2)
    assert _png_size(client.get_job_image(job.id, face=0))[0] > 0

    rows = sorted(client.iter_review_rows(), key=lambda row: row.face is None)
    assert [(r.job_id, r.face, r.label) for r in rows] == [
        (job.id, 0, "fake"),
        (job.id, None, "unsure"),
    ]
    assert rows[0].box == face.box
    assert rows[0].note == "lips"

    jsonl = client.export_reviews(tmp_path / "reviews.jsonl")
    assert len(jsonl.read_text().splitlines()) == 2
    written = client.export_reviews(tmp_path / "reviews.csv", format="csv")
    assert {row["label"] for row in csv.DictReader(written.read_text().splitlines())} == {
        "fake",
        "unsure",
    }
    zipped = client.export_reviews(path=tmp_path / "reviews.zip", format="zip")
    with zipfile.ZipFile(zipped) as archive:
        manifest = [json.loads(line) for line in archive.read("manifest.jsonl").splitlines()]
        assert archive.read(manifest[0]["image"]).startswith(b"\xff\xd8")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "reviews.csv",
        "reviews.jsonl",
        "reviews.zip",
    ]


def test_review_errors_are_typed(client: DetectionClient, samples_dir: Path) -> None:
    job = _judged(client, samples_dir)
    assert job.result is not None
    with pytest.raises(InvalidRequest):
        client.create_review(job.id, "fake", face=len(job.result.faces))
    with pytest.raises(InvalidRequest):
        client.create_review(job.id, "maybe")
    unfetched = client.wait(client.submit_url("http://127.0.0.1:9/nothing.jpg").id)
    with pytest.raises(Conflict) as not_judged:
        client.create_review(unfetched.id, "fake")
    assert not_judged.value.code == "job_not_judged"
    with pytest.raises(NotFound):
        client.list_reviews("job_doesnotexist")


def test_an_explanation_is_asked_for_waited_for_and_its_overlays_read(
    client: DetectionClient, samples_dir: Path
) -> None:
    job = _judged(client, samples_dir)
    assert job.result is not None
    with pytest.raises(NotFound) as never_asked:
        client.get_explanation(job.id)
    assert never_asked.value.code == "explanation_not_found"

    asked = client.request_explanation(job.id)
    assert (asked.job_id, asked.model_version) == (job.id, job.result.model_version)
    ready = client.wait_explanation(job.id, timeout_s=60)
    assert (ready.status, ready.error) == ("ready", None)
    assert ready.method is not None
    assert ready.method.patch == (64, 64)
    assert [f.box for f in ready.faces] == [f.box for f in job.result.faces]
    for face in ready.faces:
        assert _png_size(client.get_explanation_image(job.id, face.index)) == (256, 256)
    with pytest.raises(NotFound):
        client.get_explanation_image(job.id, len(ready.faces))
    # Asked again: the one there is (200), not a second computation.
    assert client.request_explanation(job.id) == ready


def test_the_async_client_reviews_and_explains(
    gateway: str, key: str, samples_dir: Path, tmp_path: Path
) -> None:
    content = (samples_dir / FAKE).read_bytes() + uuid.uuid4().bytes

    async def run() -> tuple[str, int, list[str], str, tuple[int, int], int]:
        async with AsyncDetectionClient(gateway, api_key=key) as api:
            job = await api.wait((await api.submit_file(content, filename="a.jpg")).id)
            review = await api.create_review(job.id, "real", face=0)
            listed = await api.list_reviews(job.id)
            labels = [row.label async for row in api.iter_review_rows()]
            await api.request_explanation(job.id)
            ready = await api.wait_explanation(job.id, timeout_s=60)
            overlay = await api.get_explanation_image(job.id, ready.faces[0].index)
            written = await api.export_reviews(tmp_path / "r.zip", format="zip")
            return (
                review.label,
                len(listed),
                labels,
                ready.status,
                _png_size(overlay),
                zipfile.ZipFile(written).namelist().count("manifest.jsonl"),
            )

    assert asyncio.run(run()) == ("real", 1, ["real"], "ready", (256, 256), 1)
