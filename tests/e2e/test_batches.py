"""Bulk batches through the whole stack: a CSV file in, counts, streamed results, cancel,
and the `batch.completed` event."""

import csv
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from tests.e2e.jobs import ImageServer
from tests.e2e.receiver import Receiver

pytestmark = pytest.mark.e2e

ROWS = 200
BAD_ROWS = {7: "ftp://example.com/a.jpg", 50: "", 120: "not a url"}


def _crop_urls(image_server: ImageServer, samples_dir: Path) -> list[str]:
    crops = sorted(samples_dir.glob("*/*.jpg"))
    return [image_server.url(f"{crop.parent.name}/{crop.name}") for crop in crops]


def _csv_file(urls: list[str], rows: int, bad: dict[int, str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["image_url", "external_id", "metadata"])
    for index in range(rows):
        line = index + 2  # the header is line 1
        url = bad.get(line, urls[index % len(urls)])
        writer.writerow([url, f"ext-{line}", json.dumps({"line": line})])
    return buffer.getvalue().encode()


def _wait_for_completion(api: httpx.Client, batch_id: str, timeout_s: float = 45) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        batch: dict[str, Any] = api.get(f"/v1/batches/{batch_id}").json()
        if batch["completed_at"] is not None:
            return batch
        if time.monotonic() > deadline:
            raise AssertionError(f"batch {batch_id} unfinished: {batch['counts']}")
        time.sleep(0.2)


@pytest.fixture
def batch_endpoint(api: httpx.Client, receiver: Receiver) -> Iterator[tuple[str, str]]:
    path = receiver.new_path()
    body = {"url": receiver.url(path), "event_types": ["batch.completed"]}
    endpoint = api.post("/v1/webhooks", json=body).json()
    yield path, endpoint["secret"]
    api.delete(f"/v1/webhooks/{endpoint['id']}")


def test_a_csv_batch_completes_with_counts_results_and_its_event(
    api: httpx.Client,
    image_server: ImageServer,
    samples_dir: Path,
    receiver: Receiver,
    batch_endpoint: tuple[str, str],
) -> None:
    content = _csv_file(_crop_urls(image_server, samples_dir), ROWS, BAD_ROWS)
    started = time.perf_counter()
    response = api.post(
        "/v1/batches",
        files={"file": ("rows.csv", content, "text/csv")},
        data={"mode": "whole_image"},
    )
    submit_s = time.perf_counter() - started
    assert response.status_code == 202, response.text
    created = response.json()
    assert response.headers["location"] == f"/v1/batches/{created['id']}"
    # Answered before the rows are read: a worker turns them into jobs.
    assert created["reading"] is True
    print(f"batch of {ROWS} rows accepted in {submit_s:.2f}s")

    batch = _wait_for_completion(api, created["id"])
    assert batch["reading"] is False
    assert batch["rows_read"] == ROWS
    assert batch["total"] == ROWS - len(BAD_ROWS)
    assert batch["invalid_rows"] == len(BAD_ROWS)
    assert [(e["row"], e["code"]) for e in batch["row_errors"]] == [
        (7, "invalid_url"),
        (50, "invalid_request"),
        (120, "invalid_url"),
    ]
    assert batch["counts"]["succeeded"] == ROWS - len(BAD_ROWS)
    assert batch["progress"] == 1.0

    lines = api.get(f"/v1/batches/{batch['id']}/results").text.splitlines()
    results = [json.loads(line) for line in lines]
    assert len(results) == batch["total"]
    assert {r["external_id"] for r in results} == {
        f"ext-{line}" for line in range(2, ROWS + 2) if line not in BAD_ROWS
    }
    assert all(r["verdict"] in {"fake", "real", "uncertain"} for r in results)
    job = api.get(f"/v1/jobs/{results[0]['job_id']}").json()
    assert job["status"] == "succeeded"

    table = list(
        csv.DictReader(io.StringIO(api.get(f"/v1/batches/{batch['id']}/results?format=csv").text))
    )
    assert [row["external_id"] for row in table] == [r["external_id"] for r in results]
    assert {row["status"] for row in table} == {"succeeded"}

    path, secret = batch_endpoint
    (request,) = receiver.wait_for(path, batch["id"])
    event = Webhook(secret).verify(request.body, request.headers)
    assert event["type"] == "batch.completed"
    assert event["data"]["counts"]["succeeded"] == batch["total"]
    time.sleep(0.5)
    assert len(receiver.received(path, batch["id"])) == 1


def test_cancel_fails_the_queued_jobs_with_their_events_and_completes_the_batch(
    api: httpx.Client, image_server: ImageServer, samples_dir: Path, receiver: Receiver
) -> None:
    path = receiver.new_path()
    body = {"url": receiver.url(path), "event_types": ["job.failed", "batch.completed"]}
    endpoint = api.post("/v1/webhooks", json=body).json()
    urls = _crop_urls(image_server, samples_dir)
    lines = [
        json.dumps({"image_url": urls[i % len(urls)], "external_id": str(i)}) for i in range(1500)
    ]
    response = api.post(
        "/v1/batches",
        files={"file": ("rows.jsonl", "\n".join(lines).encode(), "application/x-ndjson")},
        data={"mode": "whole_image"},
    )
    assert response.status_code == 202, response.text
    batch_id = response.json()["id"]
    deadline = time.monotonic() + 30
    while api.get(f"/v1/batches/{batch_id}").json()["rows_read"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    cancelled = api.post(f"/v1/batches/{batch_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["cancelled_at"] is not None

    batch = _wait_for_completion(api, batch_id)
    counts = batch["counts"]
    # Rows not read yet when the batch was cancelled are never read.
    assert counts["succeeded"] + counts["failed"] == batch["total"] <= 1500
    results = [json.loads(line) for line in api.get(f"/v1/batches/{batch_id}/results").text.split()]
    failed = {r["job_id"] for r in results if r["status"] == "failed"}
    assert {r["error_code"] for r in results if r["status"] == "failed"} == {"cancelled"}
    assert len(failed) == counts["failed"] > 0

    # Each cancelled job sends its `job.failed`; the batch its `batch.completed`, once.
    received = receiver.wait_for(path, count=len(failed) + 1, timeout_s=60)
    events = [json.loads(request.body) for request in received]
    job_events = [e["data"]["id"] for e in events if e["type"] == "job.failed"]
    assert sorted(job_events) == sorted(failed)
    assert [e["data"]["error"]["code"] for e in events if e["type"] == "job.failed"] == [
        "cancelled"
    ] * len(failed)
    completed = [e for e in events if e["type"] == "batch.completed"]
    assert len(completed) == 1
    assert completed[0]["data"]["counts"]["failed"] == counts["failed"]
    api.delete(f"/v1/webhooks/{endpoint['id']}")


def test_an_inline_batch_and_unknown_batches(api: httpx.Client, image_server: ImageServer) -> None:
    items = [{"image_url": image_server.url("not-an-image.jpg"), "external_id": "x"}, {}]
    response = api.post("/v1/batches", json={"items": items})
    assert response.status_code == 202, response.text
    done = _wait_for_completion(api, response.json()["id"])
    assert (done["total"], done["invalid_rows"]) == (1, 1)
    assert done["row_errors"][0]["row"] == 2
    assert done["counts"]["failed"] == 1

    missing = api.get("/v1/batches/bat_nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "batch_not_found"
    assert api.post("/v1/batches/bat_nope/cancel").status_code == 404
    bad = api.post(
        "/v1/batches", files={"file": ("rows.csv", b"url\nhttp://x/a.jpg\n", "text/csv")}
    )
    assert bad.status_code == 422
