"""The client's reviewer methods (reviews, the labelled set, explanations) and the job
fields they add, against scripted answers."""

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from deepfake_client import (
    AsyncDetectionClient,
    Conflict,
    DetectionClient,
    Job,
    JobTimeout,
    NotFound,
    RetryPolicy,
    TransportError,
)

from tests.unit.test_client_http import Script

FAST = RetryPolicy(max_attempts=4, backoff_base_s=0.01, backoff_max_s=0.02)
NOW = "2025-01-02T03:04:05+00:00"

REVIEW = {
    "id": "rev_1",
    "job_id": "job_1",
    "label": "fake",
    "face": 0,
    "note": "lips",
    "reviewer": "1a2b3c4d",
    "created_at": NOW,
    "agreement": "agree",
}
ROW = {
    "job_id": "job_1",
    "external_id": None,
    "batch_id": None,
    "image": "images/ab.jpg",
    "sha256": "ab",
    "content_type": "image/jpeg",
    "face": 0,
    "box": [1, 2, 3, 4],
    "label": "fake",
    "note": "",
    "reviewer": "1a2b3c4d",
    "reviewed_at": NOW,
    "agreement": "agree",
    "model_name": "mesonet",
    "model_version": "1",
    "model_verdict": "fake",
    "fake_probability": 0.97,
}


def _explanation(status: str = "pending") -> dict[str, Any]:
    ready = status == "ready"
    face = {
        "index": 0,
        "box": [10, 20, 110, 120],
        "region": [0, 10, 120, 130],
        "fake_probability": 0.9,
        "max_drop": 0.4,
        "image": "/v1/jobs/job_1/explanations/0.png",
    }
    method = {"input_size": [256, 256], "patch": [64, 64], "stride": [32, 32], "grid": [7, 7]}
    return {
        "job_id": "job_1",
        "model_name": "mesonet",
        "model_version": "1",
        "status": status,
        "created_at": NOW,
        "updated_at": NOW,
        "error": None,
        "method": method if ready else None,
        "faces": [face] if ready else [],
    }


def _client(script: Script) -> DetectionClient:
    transport = httpx.MockTransport(script)
    return DetectionClient("http://api.test", api_key="dfk_x", retries=FAST, transport=transport)


def test_a_review_is_sent_once_and_read_back_typed() -> None:
    script = Script(httpx.Response(201, json=REVIEW))
    with _client(script) as api:
        review = api.create_review("job 1", "fake", face=0, note="lips")
    assert (review.label, review.face, review.agreement) == ("fake", 0, "agree")
    (_, request), *_ = script.requests
    assert (request.method, request.url.raw_path) == ("POST", b"/v1/jobs/job%201/reviews")
    assert json.loads(request.content) == {"label": "fake", "face": 0, "note": "lips"}
    # A lost answer may have recorded it: a second send would record a second review.
    lost = Script(httpx.ReadTimeout("lost"))
    with _client(lost) as api, pytest.raises(TransportError):
        api.create_review("job_1", "real")
    assert len(lost.requests) == 1


def test_reviews_list_newest_first_and_errors_are_typed() -> None:
    older = {**REVIEW, "id": "rev_0", "label": "real", "face": None, "extra": "kept"}
    script = Script(httpx.Response(200, json={"items": [REVIEW, older]}))
    with _client(script) as api:
        reviews = api.list_reviews("job_1")
    assert [(r.id, r.face) for r in reviews] == [("rev_1", 0), ("rev_0", None)]
    not_judged = {"error": {"code": "job_not_judged", "message": "no result"}}
    refused = Script(httpx.Response(409, json=not_judged))
    with _client(refused) as api, pytest.raises(Conflict) as caught:
        api.create_review("job_1", "fake")
    assert caught.value.code == "job_not_judged"


def _chunks(parts: list[bytes], cut: bool = False) -> Iterator[bytes]:
    yield from parts
    if cut:
        raise httpx.ReadError("connection cut")


def test_the_export_is_streamed_to_a_file_a_chunk_at_a_time(tmp_path: Path) -> None:
    parts = [b"PK" + bytes(64 * 1024) for _ in range(4)]
    script = Script(httpx.Response(200, content=_chunks(parts)))
    out = tmp_path / "reviews.zip"
    with _client(script) as api:
        assert api.export_reviews(out, format="zip") == out
    assert out.read_bytes() == b"".join(parts)
    assert [p.name for p in tmp_path.iterdir()] == ["reviews.zip"]
    (_, request), *_ = script.requests
    assert (request.url.path, request.url.params["format"]) == ("/v1/reviews/export", "zip")


def test_a_cut_or_refused_export_leaves_no_file(tmp_path: Path) -> None:
    out = tmp_path / "reviews.jsonl"
    cut = Script(httpx.Response(200, content=_chunks([b'{"job_id":'], cut=True)))
    with _client(cut) as api, pytest.raises(TransportError):
        api.export_reviews(out)
    missing = {"error": {"code": "job_not_found", "message": "no"}}
    with _client(Script(httpx.Response(404, json=missing))) as api, pytest.raises(NotFound):
        api.export_reviews(out, format="csv")
    assert list(tmp_path.iterdir()) == []


def test_review_rows_are_typed_as_they_stream() -> None:
    body = "".join(json.dumps(row) + "\n" for row in (ROW, {**ROW, "face": None, "box": None}))
    with _client(Script(httpx.Response(200, text=body))) as api:
        rows = list(api.iter_review_rows())
    assert [(r.face, r.box) for r in rows] == [(0, (1, 2, 3, 4)), (None, None)]
    assert rows[0].reviewed_at.year == 2025


def test_an_explanation_is_asked_for_waited_for_and_its_overlays_read() -> None:
    script = Script(
        httpx.Response(202, json=_explanation()),
        httpx.Response(200, json=_explanation()),
        httpx.Response(200, json=_explanation()),
        httpx.Response(200, json=_explanation("ready")),
        httpx.Response(200, content=b"\x89PNG", headers={"Content-Type": "image/png"}),
    )
    with _client(script) as api:
        asked = api.request_explanation("job_1")
        assert (asked.status, asked.done) == ("pending", False)
        ready = api.wait_explanation("job_1", timeout_s=30)
        assert ready.method is not None
        assert ready.method.grid == (7, 7)
        assert ready.faces[0].region == (0, 10, 120, 130)
        assert api.get_explanation_image("job_1", 0) == b"\x89PNG"
    paths = [(r.method, r.url.path) for _, r in script.requests]
    assert paths[0] == ("POST", "/v1/jobs/job_1/explanations")
    assert paths[-1] == ("GET", "/v1/jobs/job_1/explanations/0.png")
    polls = [at for at, r in script.requests if r.url.path.endswith("/explanations")][1:]
    gaps = [b - a for a, b in itertools.pairwise(polls)]
    assert gaps[-1] > gaps[0]  # growing


def test_waiting_for_an_explanation_times_out() -> None:
    pending = Script(httpx.Response(200, json=_explanation()))
    with _client(pending) as api, pytest.raises(JobTimeout, match="still pending"):
        api.wait_explanation("job_1", timeout_s=0.3)
    failed = {**_explanation("failed"), "error": {"code": "inference_failed", "message": "x"}}
    with _client(Script(httpx.Response(200, json=failed))) as api:
        done = api.wait_explanation("job_1")
    assert done.error is not None
    assert done.error.code == "inference_failed"


def test_a_job_carries_its_review_size_and_provenance() -> None:
    job = Job.model_validate(
        {
            "id": "job_1",
            "status": "succeeded",
            "review": {
                "label": "real",
                "face": None,
                "agreement": "disagree",
                "reviewer": "1a2b3c4d",
                "created_at": NOW,
                "from_a_newer_server": 1,
            },
            "review_count": 3,
            "result": {
                "fake_probability": 0.2,
                "verdict": "real",
                "model_name": "mesonet",
                "model_version": "1",
                "image_size": [640, 480],
                "provenance": {
                    "c2pa": {"present": True, "signature": "untrusted", "ai_generated": True},
                    "exif": {"software": "GIMP"},
                    "hints": ["c2pa_manifest", "c2pa_ai_generated"],
                },
            },
        }
    )
    assert job.review is not None
    assert (job.review.label, job.review.agreement, job.review_count) == ("real", "disagree", 3)
    assert job.result is not None
    assert job.result.image_size == (640, 480)
    provenance = job.result.provenance
    assert provenance is not None
    assert provenance.c2pa is not None
    assert (provenance.c2pa.signature, provenance.c2pa.ai_generated) == ("untrusted", True)
    assert provenance.exif is not None
    assert provenance.exif.software == "GIMP"
    assert "c2pa_ai_generated" in provenance.hints
    assert Job.model_validate({"id": "job_2", "status": "queued"}).review is None


async def _achunks(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def test_the_async_client_has_the_reviewer_methods_alike(tmp_path: Path) -> None:
    rows = "".join(json.dumps(row) + "\n" for row in (ROW, ROW))

    def answer(request: httpx.Request) -> httpx.Response:
        path, fmt = request.url.path, request.url.params.get("format")
        if path.endswith("/reviews"):
            if request.method == "POST":
                return httpx.Response(201, json=REVIEW)
            return httpx.Response(200, json={"items": [REVIEW]})
        if path == "/v1/reviews/export" and fmt == "csv":
            return httpx.Response(200, content=_achunks([b"job_id\r\n", b"job_1\r\n"]))
        if path == "/v1/reviews/export":
            return httpx.Response(200, text=rows)
        if path.endswith(".png"):
            return httpx.Response(200, content=b"\x89PNG")
        status = "pending" if request.method == "POST" else "ready"
        return httpx.Response(202 if status == "pending" else 200, json=_explanation(status))

    async def run() -> tuple[Any, ...]:
        transport = httpx.MockTransport(answer)
        async with AsyncDetectionClient(
            "http://api.test", retries=FAST, transport=transport
        ) as api:
            review = await api.create_review("job_1", "fake", face=0)
            listed = await api.list_reviews("job_1")
            written = await api.export_reviews(tmp_path / "r.csv", format="csv")
            labels = [row.label async for row in api.iter_review_rows()]
            asked = await api.request_explanation("job_1")
            ready = await api.wait_explanation("job_1", timeout_s=10)
            overlay = await api.get_explanation_image("job_1", ready.faces[0].index)
            return review.id, len(listed), written.read_bytes(), labels, asked.status, overlay

    assert asyncio.run(run()) == (
        "rev_1",
        1,
        b"job_id\r\njob_1\r\n",
        ["fake", "fake"],
        "pending",
        b"\x89PNG",
    )
