"""Reviews (`POST/GET /v1/jobs/{id}/reviews`, `GET /v1/reviews/export`), face crops
(`GET /v1/jobs/{id}/image?face=N`) and the batch listing, through the whole stack."""

import csv
import hashlib
import io
import json
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from devstack.process import ServiceProcess
from tests.e2e.clients import CreateKey, api_client
from tests.e2e.jobs import ImageServer, submit_upload, wait_for_job

pytestmark = pytest.mark.e2e


def _export(api: httpx.Client, fmt: str = "jsonl") -> httpx.Response:
    response = api.get("/v1/reviews/export", params={"format": fmt})
    assert response.status_code == 200, response.text
    return response


def _rows(api: httpx.Client) -> list[dict[str, Any]]:
    return [json.loads(line) for line in _export(api).text.splitlines()]


def _ids(api: httpx.Client, **params: str) -> list[str]:
    response = api.get("/v1/jobs", params={"limit": 200, **params})
    assert response.status_code == 200, response.text
    return [job["id"] for job in response.json()["items"]]


def test_reviews_record_labels_show_agreement_filter_the_listing_and_export(
    gateway: str, worker: ServiceProcess, create_key: CreateKey, samples_dir: Path
) -> None:
    fake = (samples_dir / "df/df00204.jpg").read_bytes()
    real = (samples_dir / "real/real00240.jpg").read_bytes()
    with api_client(gateway, key=create_key("submit", "read")) as api:
        reviewed_id, other_id = submit_upload(api, fake), submit_upload(api, real)
        job = wait_for_job(api, reviewed_id)
        wait_for_job(api, other_id)
        assert job["review"] is None
        assert job["review_count"] == 0
        face = job["result"]["faces"][0]
        model_says = face["verdict"]

        first = api.post(
            f"/v1/jobs/{reviewed_id}/reviews", json={"label": "fake", "face": 0, "note": "lips"}
        )
        assert first.status_code == 201, first.text
        assert first.json()["agreement"] == ("agree" if model_says == "fake" else "disagree")
        assert first.json()["reviewer"]
        second = api.post(
            f"/v1/jobs/{reviewed_id}/reviews",
            json={"label": "unsure", "note": "<img src=x onerror=alert(1)>"},
        )
        assert second.status_code == 201
        assert second.json()["agreement"] == "n/a"

        shown = api.get(f"/v1/jobs/{reviewed_id}").json()
        assert shown["review"]["label"] == "unsure"
        assert shown["review_count"] == 2
        listed = api.get(f"/v1/jobs/{reviewed_id}/reviews").json()["items"]
        assert [r["label"] for r in listed] == ["unsure", "fake"]  # newest first
        assert listed[0]["note"] == "<img src=x onerror=alert(1)>"

        assert _ids(api, reviewed="true") == [reviewed_id]
        assert _ids(api, reviewed="false") == [other_id]

        # A later label of the same face replaces it in the labelled set.
        api.post(f"/v1/jobs/{reviewed_id}/reviews", json={"label": "real", "face": 0})
        rows = _rows(api)
        assert sorted((r["face"] is None, r["label"]) for r in rows) == [
            (False, "real"),
            (True, "unsure"),
        ]
        by_face = next(r for r in rows if r["face"] == 0)
        assert by_face["box"] == face["box"]
        assert by_face["sha256"] == hashlib.sha256(fake).hexdigest()
        assert by_face["model_verdict"] == model_says

        table = list(csv.DictReader(io.StringIO(_export(api, "csv").text)))
        assert {row["label"] for row in table} == {"real", "unsure"}
        assert next(r for r in table if r["face"] == "")["note"] == "<img src=x onerror=alert(1)>"

        archive = zipfile.ZipFile(io.BytesIO(_export(api, "zip").content))
        manifest = [json.loads(line) for line in archive.read("manifest.jsonl").splitlines()]
        assert len(manifest) == 2
        assert archive.read(manifest[0]["image"]) == fake  # each image once, under its hash
        assert len(archive.namelist()) == 2

        # A deleted job takes its reviews with it.
        assert api.delete(f"/v1/jobs/{reviewed_id}").status_code == 204
        assert _rows(api) == []


def test_reviews_are_refused_for_other_tenants_unjudged_jobs_and_unknown_faces(
    gateway: str,
    worker: ServiceProcess,
    create_key: CreateKey,
    samples_dir: Path,
    image_server: ImageServer,
) -> None:
    content = (samples_dir / "df/df01254.jpg").read_bytes()
    with api_client(gateway, key=create_key("submit", "read")) as api:
        job_id = submit_upload(api, content)
        faces = len(wait_for_job(api, job_id)["result"]["faces"])
        for body in (
            {"label": "fake", "face": faces},
            {"label": "maybe"},
            {"label": "fake", "note": "x" * 2001},
            {"label": "fake", "face": -1},
            {"label": "fake", "face": False},
            {"label": "fake", "face": "0"},
            {"label": "fake", "note": 1},
            {"label": "fake", "reviewer": "someone else"},
        ):
            response = api.post(f"/v1/jobs/{job_id}/reviews", json=body)
            assert response.status_code == 422, body
            assert response.json()["error"]["code"] == "invalid_request"
        failed = api.post("/v1/jobs", json={"image_url": image_server.url("nope.jpg")})
        assert wait_for_job(api, failed.json()["id"])["status"] == "failed"
        refused = api.post(f"/v1/jobs/{failed.json()['id']}/reviews", json={"label": "fake"})
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "job_not_judged"
        assert api.post(f"/v1/jobs/{job_id}/reviews", json={"label": "real"}).status_code == 201
    with api_client(gateway, key=create_key("submit", "read")) as other:
        for response in (
            other.post(f"/v1/jobs/{job_id}/reviews", json={"label": "fake"}),
            other.get(f"/v1/jobs/{job_id}/reviews"),
            other.get(f"/v1/jobs/{job_id}/image", params={"face": 0}),
        ):
            assert response.status_code == 404
            assert response.json()["error"]["code"] == "job_not_found"
        assert _rows(other) == []
    with api_client(gateway, key=create_key("read")) as reader:
        # Recording a label is a write: a read-only key may look, not label.
        assert reader.get("/v1/reviews/export").status_code == 200
        assert reader.post(f"/v1/jobs/{job_id}/reviews", json={"label": "x"}).status_code in (
            403,
            404,
        )


def test_a_face_comes_back_cut_out_upright_as_png(
    gateway: str, worker: ServiceProcess, create_key: CreateKey, samples_dir: Path
) -> None:
    face = Image.open(samples_dir / "real/real00772.jpg").convert("RGB")
    upright = Image.new("RGB", (face.width * 2, face.height), (128, 128, 128))
    upright.paste(face, (face.width, 0))
    # Stored sideways with an EXIF orientation: boxes and crops are of the upright image.
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to view
    upright.rotate(90, expand=True).save(buffer, format="JPEG", quality=95, exif=exif)
    with api_client(gateway, key=create_key("submit", "read")) as api:
        job_id = submit_upload(api, buffer.getvalue())
        result = wait_for_job(api, job_id)["result"]
        assert result["image_size"] == list(upright.size)
        x0, y0, x1, y1 = result["faces"][0]["box"]
        response = api.get(f"/v1/jobs/{job_id}/image", params={"face": 0})
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"
        crop = Image.open(io.BytesIO(response.content)).convert("RGB")
        mx, my = (x1 - x0) / 4, (y1 - y0) / 4
        region = (
            max(0, round(x0 - mx)),
            max(0, round(y0 - my)),
            min(upright.width, round(x1 + mx)),
            min(upright.height, round(y1 + my)),
        )
        expected = upright.crop(region)
        assert crop.size == expected.size
        pixels = np.asarray(crop, dtype=np.int16) - np.asarray(expected, dtype=np.int16)
        difference = float(np.abs(pixels).mean())
        assert difference < 12  # JPEG noise, not a turned or shifted crop
        assert response.headers["etag"] != api.get(f"/v1/jobs/{job_id}/image").headers["etag"]
        beyond = api.get(f"/v1/jobs/{job_id}/image", params={"face": len(result["faces"])})
        assert beyond.status_code == 422


def test_batches_are_listed_newest_first_with_progress_and_only_to_their_tenant(
    gateway: str, worker: ServiceProcess, create_key: CreateKey, image_server: ImageServer
) -> None:
    with api_client(gateway, key=create_key("submit", "read")) as api:
        created = []
        for name in ("a", "b", "c"):
            items = [{"image_url": image_server.url("not-an-image.jpg"), "external_id": name}]
            response = api.post("/v1/batches", json={"items": items})
            assert response.status_code == 202, response.text
            created.append(response.json()["id"])
        deadline = time.monotonic() + 60
        while True:
            page = api.get("/v1/batches").json()
            if all(b["completed_at"] for b in page["items"]) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert [b["id"] for b in page["items"]] == created[::-1]
        assert all(b["counts"]["failed"] == 1 and b["progress"] == 1.0 for b in page["items"])
        first = api.get("/v1/batches", params={"limit": 2}).json()
        rest = api.get("/v1/batches", params={"limit": 2, "cursor": first["next_cursor"]}).json()
        assert [b["id"] for b in first["items"] + rest["items"]] == created[::-1]
        assert rest["next_cursor"] is None
        assert api.get("/v1/batches", params={"cursor": "nope"}).status_code == 422
    with api_client(gateway, key=create_key("read")) as other:
        assert other.get("/v1/batches").json()["items"] == []
