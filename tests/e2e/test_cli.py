"""The `deepfake` command against the running service."""

import csv
import json
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest
from deepfake_client import DetectionClient
from deepfake_client.cli import main

from tests.e2e.clients import ADMIN_KEY
from tests.e2e.jobs import ImageServer

pytestmark = pytest.mark.e2e

Capture = pytest.CaptureFixture[str]


def deepfake(gateway: str, *args: str) -> int:
    return main(["--api", gateway, "--api-key", ADMIN_KEY, *args])


def test_scan_a_folder_to_jsonl_and_resume(
    gateway: str, worker: object, samples_dir: Path, tmp_path: Path, capsys: Capture
) -> None:
    out = tmp_path / "results.jsonl"
    assert deepfake(gateway, "scan", str(samples_dir), "--format", "jsonl", "-o", str(out)) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    verdicts: dict[str, set[str]] = {Path(r["source"]).parent.name: set() for r in records}
    for record in records:
        verdicts[Path(record["source"]).parent.name].add(record["verdict"])
        assert record["job"]["id"] == record["job_id"]
    assert verdicts == {"df": {"fake"}, "real": {"real"}}
    assert "4/4" in capsys.readouterr().err  # the progress bar

    # A re-run (after an interruption, say) scans only what the file lacks.
    kept = out.read_text().splitlines()[:3]
    out.write_text("\n".join(kept) + "\n")
    assert deepfake(gateway, "scan", str(samples_dir), "--format", "jsonl", "-o", str(out)) == 0
    assert "3 already in" in capsys.readouterr().err
    sources = [json.loads(line)["source"] for line in out.read_text().splitlines()]
    assert sorted(sources) == sorted(str(p) for p in samples_dir.glob("*/*.jpg"))


def test_scan_prints_a_table_and_fails_on_a_failed_job(
    gateway: str, worker: object, capsys: Capture
) -> None:
    code = deepfake(gateway, "scan", "http://127.0.0.1:9/nothing.jpg", "--mode", "whole_image")
    assert code == 1
    assert "failed" in capsys.readouterr().out


def test_no_wait_writes_queued_jobs_as_csv(
    gateway: str, worker: object, samples_dir: Path, capsys: Capture
) -> None:
    code = deepfake(gateway, "scan", str(samples_dir / "df"), "--no-wait", "--format", "csv")
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("source,job_id,status")
    assert len(lines) == 3
    with DetectionClient(gateway, api_key=ADMIN_KEY) as api:
        for row in csv.DictReader(lines):
            api.wait(row["job_id"])


def test_batch_follows_and_appends_results_once(
    gateway: str, worker: object, image_server: ImageServer, tmp_path: Path, capsys: Capture
) -> None:
    url = image_server.url("real/real00240.jpg")
    rows = tmp_path / "rows.csv"
    rows.write_text("image_url,external_id\n" + "".join(f"{url},r{n}\n" for n in range(5)))
    out = tmp_path / "results.csv"
    args = ("batch", str(rows), "-o", str(out), "--format", "csv", "--mode", "whole_image")
    assert deepfake(gateway, *args, "--interval", "0.2") == 0
    first = capsys.readouterr().err
    assert "5/5" in first
    written = list(csv.DictReader(out.read_text().splitlines()))
    assert sorted(row["external_id"] for row in written) == [f"r{n}" for n in range(5)]
    assert {row["verdict"] for row in written} == {"real"}

    # The same file again: the same batch (Idempotency-Key), no row written twice.
    assert deepfake(gateway, *args) == 0
    batch_id = first.split("batch ", 1)[1].split()[0]
    assert f"batch {batch_id}" in capsys.readouterr().err
    assert len(out.read_text().splitlines()) == 6

    assert deepfake(gateway, "batches", "list", "--limit", "1") == 0
    assert batch_id in capsys.readouterr().out
    assert deepfake(gateway, "batches", "get", batch_id) == 0
    assert json.loads(capsys.readouterr().out)["total"] == 5
    assert deepfake(gateway, "jobs", "list", "--batch-id", batch_id) == 0
    assert capsys.readouterr().out.count("succeeded") == 5
    assert deepfake(gateway, "batches", "delete", batch_id) == 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _until_listening(port: int) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert time.monotonic() < deadline, "the receiver never listened"
            time.sleep(0.05)


def test_webhooks_listen_verifies_a_real_delivery(
    gateway: str, worker: object, samples_dir: Path, tmp_path: Path, capsys: Capture
) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/hooks"
    assert deepfake(gateway, "webhooks", "create", url, "--event", "job.succeeded") == 0
    created = json.loads(capsys.readouterr().out)
    events = tmp_path / "events.jsonl"
    listen = ("webhooks", "listen", "--port", str(port), "--secret", created["secret"])
    codes: list[int] = []
    listener = threading.Thread(
        target=lambda: codes.append(
            deepfake(gateway, *listen, "--max-events", "1", "-o", str(events))
        )
    )
    listener.start()
    try:
        _until_listening(port)
        with DetectionClient(gateway, api_key=ADMIN_KEY) as api:
            job = api.wait(api.submit_file(samples_dir / "df" / "df00204.jpg").id)
        listener.join(timeout=60)
        assert codes == [0]
        (event,) = [json.loads(line) for line in events.read_text().splitlines()]
        assert (event["type"], event["data"]["id"]) == ("job.succeeded", job.id)
        assert f"job.succeeded  {event['message_id']}  {job.id}" in capsys.readouterr().out

        assert deepfake(gateway, "webhooks", "deliveries", "--endpoint-id", created["id"]) == 0
        assert "job.succeeded" in capsys.readouterr().out
        assert deepfake(gateway, "webhooks", "list") == 0
        assert created["id"] in capsys.readouterr().out
    finally:
        assert deepfake(gateway, "webhooks", "delete", created["id"]) == 0


def test_reviews_add_list_export_and_explain(
    gateway: str, worker: object, samples_dir: Path, tmp_path: Path, capsys: Capture
) -> None:
    with DetectionClient(gateway, api_key=ADMIN_KEY) as api:
        content = (samples_dir / "df" / "df01254.jpg").read_bytes() + uuid.uuid4().bytes
        job = api.wait(api.submit_file(content, filename="face.jpg").id)
    assert deepfake(gateway, "reviews", "add", job.id, "--label", "fake", "--face", "0") == 0
    added = json.loads(capsys.readouterr().out)
    assert (added["job_id"], added["face"], added["label"]) == (job.id, 0, "fake")
    assert deepfake(gateway, "reviews", "add", job.id, "--label", "real", "--note", "n") == 0
    capsys.readouterr()
    assert deepfake(gateway, "reviews", "list", job.id) == 0
    listed = capsys.readouterr().out
    assert listed.index("real") < listed.index("fake")  # newest first
    assert deepfake(gateway, "reviews", "add", job.id, "--label", "maybe") == 2

    out = tmp_path / "labelled.csv"
    assert deepfake(gateway, "reviews", "export", "-o", str(out)) == 0  # csv, from the suffix
    rows = [row for row in csv.DictReader(out.read_text().splitlines()) if row["job_id"] == job.id]
    assert sorted(row["label"] for row in rows) == ["fake", "real"]
    zipped = tmp_path / "labelled.bin"
    assert deepfake(gateway, "reviews", "export", "-o", str(zipped), "--format", "zip") == 0
    assert zipped.read_bytes().startswith(b"PK")

    overlays = tmp_path / "overlays"
    assert deepfake(gateway, "explain", job.id, "-o", str(overlays)) == 0
    assert f"{job.id}-face0.png" in capsys.readouterr().out
    written = sorted(path.name for path in overlays.iterdir())
    assert written[0] == f"{job.id}-face0.png"
    assert (overlays / written[0]).read_bytes().startswith(b"\x89PNG")
    assert deepfake(gateway, "explain", "job_doesnotexist") == 1
    assert "job_not_found" in capsys.readouterr().err


def test_models_and_errors(gateway: str, worker: object, capsys: Capture) -> None:
    assert deepfake(gateway, "models") == 0
    assert "(default)" in capsys.readouterr().out
    assert deepfake(gateway, "jobs", "get", "job_missing") == 1
    assert "job_not_found" in capsys.readouterr().err
    assert main(["scan"]) == 2
