"""Hostile batch files through `POST /v1/batches` on the real stack: every batch ends, its
good rows run, its bad rows are row errors with stable codes, and the services live on."""

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from devstack.process import ServiceProcess
from tests.e2e.clients import CreateKey, api_client
from tests.e2e.jobs import ImageServer
from tests.hostile.batch_files import BATCH_FILE_CASES, BatchFileCase

pytestmark = pytest.mark.e2e


def _completed(api: httpx.Client, batch_id: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        batch: dict[str, Any] = api.get(f"/v1/batches/{batch_id}").json()
        if batch["completed_at"] is not None:
            return batch
        assert time.monotonic() < deadline, f"batch {batch_id} unfinished: {batch}"
        time.sleep(0.2)


@pytest.fixture
def tenant_api(api: httpx.Client, create_key: CreateKey) -> Iterator[httpx.Client]:
    """A tenant of its own: a file of few rows but many bytes reserves room for the rows
    it could hold in its tenant's open-jobs quota until it is read."""
    with api_client(str(api.base_url), key=create_key("submit", "read")) as client:
        yield client


@pytest.mark.parametrize("case", BATCH_FILE_CASES, ids=lambda case: case.name)
def test_a_hostile_batch_file_ends_with_its_rows_run_and_coded_errors(
    tenant_api: httpx.Client,
    image_server: ImageServer,
    worker: ServiceProcess,
    case: BatchFileCase,
) -> None:
    api = tenant_api
    content = case.content(image_server.url("df/df00204.jpg"))
    response = api.post(
        "/v1/batches",
        files={"file": (case.filename, content, "application/octet-stream")},
        data={"mode": "whole_image"},
    )
    if case.refused:
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "invalid_request"
        return
    assert response.status_code == 202, response.text
    batch = _completed(api, response.json()["id"])
    assert batch["reading"] is False
    assert (batch["total"], batch["invalid_rows"]) == (case.good, len(case.errors))
    assert [(e["row"], e["code"]) for e in batch["row_errors"]] == [
        (row, code.value) for row, code in case.errors
    ]
    assert batch["counts"]["succeeded"] == case.good
    assert worker.running
    assert api.get("/healthz").status_code == 200
