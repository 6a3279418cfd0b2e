"""The client library and the `deepfake` command against the running service."""

import asyncio
import json
from pathlib import Path

import pytest

from client.api import ApiError, AsyncDetectionClient, DetectionClient
from client.cli import main
from tests.e2e.clients import ADMIN_KEY

pytestmark = pytest.mark.e2e

Capture = pytest.CaptureFixture[str]


def test_scan_a_folder_to_jsonl(
    gateway: str,
    worker: object,
    samples_dir: Path,
    tmp_path: Path,
    capsys: Capture,
) -> None:
    out = tmp_path / "results.jsonl"
    code = main(
        [
            "--api",
            gateway,
            "--api-key",
            ADMIN_KEY,
            "scan",
            str(samples_dir),
            "--format",
            "jsonl",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    verdicts: dict[str, set[str]] = {Path(r["source"]).parent.name: set() for r in records}
    for record in records:
        verdicts[Path(record["source"]).parent.name].add(record["verdict"])
    assert verdicts == {"df": {"fake"}, "real": {"real"}}
    assert "4/4" in capsys.readouterr().err  # the progress bar


def test_scan_prints_a_table_and_fails_on_a_failed_job(
    gateway: str, worker: object, capsys: Capture
) -> None:
    code = main(
        [
            *("--api", gateway, "--api-key", ADMIN_KEY),
            *("scan", "http://127.0.0.1:9/nothing.jpg", "--mode", "whole_image"),
        ]
    )
    assert code == 1
    assert "failed" in capsys.readouterr().out


def test_no_wait_returns_queued_jobs(
    gateway: str, worker: object, samples_dir: Path, capsys: Capture
) -> None:
    assert (
        main(
            [
                "--api",
                gateway,
                "--api-key",
                ADMIN_KEY,
                "scan",
                str(samples_dir / "df"),
                "--no-wait",
                "--format",
                "csv",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("source,job_id,status")
    assert len(lines) == 3


def test_the_clients_submit_wait_and_report_errors(
    gateway: str, worker: object, samples_dir: Path
) -> None:
    crop = samples_dir / "real" / "real00240.jpg"
    with DetectionClient(gateway, api_key=ADMIN_KEY) as client:
        job = client.wait(client.submit_file(crop, mode="whole_image").id)
        assert job.result is not None
        assert job.result.verdict == "real"
        assert {m.name for m in client.list_models()} >= {"deepfake_detector"}
        with pytest.raises(ApiError) as caught:
            client.get_job("job_missing")
        assert (caught.value.status_code, caught.value.code) == (404, "job_not_found")
        once = client.submit_file(crop, idempotency_key="client-once", mode="whole_image")
        again = client.submit_file(crop, idempotency_key="client-once", mode="whole_image")
        assert again.id == once.id
        client.delete_job(once.id)
        with pytest.raises(ApiError):
            client.get_job(once.id)

    async def run() -> str:
        async with AsyncDetectionClient(gateway, api_key=ADMIN_KEY) as client:
            submitted = await client.submit_file(crop.read_bytes(), filename="x.jpg")
            done = await client.wait(submitted.id)
            return done.result.verdict if done.result else "none"

    assert asyncio.run(run()) == "real"
