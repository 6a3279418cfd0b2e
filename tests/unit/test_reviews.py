"""A reviewer's label against the model's verdict, and the export's rows and zip."""

import asyncio
import io
import json
import zipfile
from collections.abc import AsyncIterator

import pytest

from gateway.review_export import Row, row, zipped
from storage.errors import ErrorCode, PermanentError
from storage.jobs import FaceResult, ImageRef, Job, JobResult, SourceKind, Verdict
from storage.review_labels import Agreement, ReviewLabel
from storage.review_repository import Review, agreement, model_verdict


def _face(verdict: Verdict, probability: float) -> FaceResult:
    return FaceResult(
        box=(1, 2, 3, 4), detection_score=0.9, fake_probability=probability, verdict=verdict
    )


def _job(job_id: str = "job_1", sha256: str = "ab") -> Job:
    result = JobResult(
        fake_probability=0.9,
        verdict=Verdict.FAKE,
        faces=[_face(Verdict.FAKE, 0.9), _face(Verdict.REAL, 0.1)],
        model_name="mesonet",
        model_version="1",
    )
    image = ImageRef(sha256=sha256, object_key=sha256, size_bytes=3, content_type="image/png")
    return Job(id=job_id, source=SourceKind.UPLOAD, result=result, image=image)


@pytest.mark.parametrize(
    ("label", "verdict", "expected"),
    [
        (ReviewLabel.FAKE, Verdict.FAKE, Agreement.AGREE),
        (ReviewLabel.REAL, Verdict.REAL, Agreement.AGREE),
        (ReviewLabel.FAKE, Verdict.REAL, Agreement.DISAGREE),
        (ReviewLabel.REAL, Verdict.FAKE, Agreement.DISAGREE),
        (ReviewLabel.UNSURE, Verdict.FAKE, Agreement.NOT_APPLICABLE),
        (ReviewLabel.FAKE, Verdict.UNCERTAIN, Agreement.NOT_APPLICABLE),
        (ReviewLabel.REAL, Verdict.NO_FACE, Agreement.NOT_APPLICABLE),
        (ReviewLabel.FAKE, None, Agreement.NOT_APPLICABLE),
    ],
)
def test_agreement(label: ReviewLabel, verdict: Verdict | None, expected: Agreement) -> None:
    assert agreement(label, verdict) is expected


def test_the_verdict_reviewed_is_the_image_s_or_the_face_s() -> None:
    result = _job().result
    assert model_verdict(result, None) is Verdict.FAKE
    assert model_verdict(result, 1) is Verdict.REAL
    assert model_verdict(result, 2) is None
    assert model_verdict(None, 0) is None


def _review(face: int | None, job_id: str = "job_1") -> Review:
    return Review(
        tenant_id="t",
        job_id=job_id,
        label=ReviewLabel.REAL,
        face=face,
        agreement=Agreement.DISAGREE,
        reviewer="key_1",
    )


def test_a_row_carries_the_face_s_box_and_score_or_the_image_s() -> None:
    face_row = row(_review(1), _job())
    assert (face_row["box"], face_row["fake_probability"]) == ([1, 2, 3, 4], 0.1)
    assert face_row["model_verdict"] == "real"
    assert face_row["image"] == "images/ab.png"
    image_row = row(_review(None), _job())
    assert (image_row["box"], image_row["fake_probability"]) == (None, 0.9)


def test_the_zip_holds_each_image_once_and_says_which_are_gone() -> None:
    jobs = [_job("job_1", "aa"), _job("job_2", "aa"), _job("job_3", "gone")]

    async def items() -> AsyncIterator[tuple[Row, Job]]:
        for job in jobs:
            yield row(_review(0, job.id), job), job

    def read(image: ImageRef) -> bytes:
        if image.sha256 == "gone":
            raise PermanentError(ErrorCode.IMAGE_MISSING, "deleted")
        return b"png-" + image.sha256.encode()

    async def collect() -> bytes:
        return b"".join([chunk async for chunk in zipped(items(), read)])

    archive = zipfile.ZipFile(io.BytesIO(asyncio.run(collect())))
    assert sorted(archive.namelist()) == ["images/aa.png", "manifest.jsonl"]
    assert archive.read("images/aa.png") == b"png-aa"
    manifest = [json.loads(line) for line in archive.read("manifest.jsonl").splitlines()]
    assert [m["image"] for m in manifest] == ["images/aa.png", "images/aa.png", None]
