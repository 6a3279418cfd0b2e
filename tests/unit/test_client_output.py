import csv
import io
from pathlib import Path

import pytest
from deepfake_client.cli.output import (
    BATCH_COLUMNS,
    SCAN_COLUMNS,
    RowWriter,
    rows_in,
    scan_row,
    table,
)
from deepfake_client.cli.scan import expand_sources
from deepfake_client.models import Job
from rich.console import Console


def _done() -> Job:
    return Job.model_validate(
        {
            "id": "job_1",
            "status": "succeeded",
            "result": {
                "fake_probability": 0.97,
                "verdict": "fake",
                "mode": "faces",
                "faces": [
                    {
                        "box": [1, 2, 3, 4],
                        "detection_score": 0.9,
                        "fake_probability": 0.97,
                        "verdict": "fake",
                    }
                ],
                "model_name": "deepfake_detector",
                "model_version": "1",
                "future_field": "kept",
            },
        }
    )


def _failed() -> Job:
    return Job.model_validate(
        {"id": "job_2", "status": "failed", "error": {"code": "image_not_found", "message": "404"}}
    )


def test_a_row_says_what_happened_to_each_source() -> None:
    assert scan_row("a.jpg", _done()) == {
        "source": "a.jpg",
        "job_id": "job_1",
        "status": "succeeded",
        "verdict": "fake",
        "fake_probability": 0.97,
        "faces": 1,
        "error": None,
    }
    assert scan_row("b.jpg", _failed())["error"] == "image_not_found: 404"
    refused = scan_row("c.jpg", None, "415 unsupported_media_type: not an image")
    assert (refused["status"], refused["job_id"]) == ("rejected", None)


def test_rows_are_appended_flushed_and_read_back(tmp_path: Path) -> None:
    out = tmp_path / "results.csv"
    first = RowWriter(out, "csv", SCAN_COLUMNS)
    first.write(scan_row("a.jpg", _done()))
    # Flushed at once: a run killed now keeps the row.
    assert "job_1" in out.read_text()
    first.close()
    second = RowWriter(out, "csv", SCAN_COLUMNS)  # a re-run appends, no second header
    second.write(scan_row("b.jpg", _failed()))
    second.close()
    lines = out.read_text().splitlines()
    assert lines[0] == ",".join(SCAN_COLUMNS)
    assert [row["source"] for row in rows_in(out, "csv")] == ["a.jpg", "b.jpg"]


def test_jsonl_keeps_the_whole_job_and_skips_a_torn_line(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    writer = RowWriter(out, "jsonl", SCAN_COLUMNS)
    writer.write(scan_row("a.jpg", _done()), {"job": _done().model_dump(mode="json")})
    writer.close()
    with out.open("a") as stream:
        stream.write('{"source": "b.jp')  # killed mid-line
    (record,) = rows_in(out, "jsonl")
    assert record["job"]["result"]["faces"][0]["box"] == [1, 2, 3, 4]
    assert record["job"]["result"]["future_field"] == "kept"


def test_csv_cells_a_spreadsheet_would_run_are_quoted_and_read_back(tmp_path: Path) -> None:
    out = tmp_path / "results.csv"
    writer = RowWriter(out, "csv", BATCH_COLUMNS)
    writer.write({"external_id": "=HYPERLINK(1)", "job_id": "j", "status": "failed"})
    writer.close()
    (written,) = csv.DictReader(io.StringIO(out.read_text()))
    assert written["external_id"] == "'=HYPERLINK(1)"
    assert rows_in(out, "csv")[0]["external_id"] == "=HYPERLINK(1)"


def test_stdout_gets_a_header_every_time(capsys: pytest.CaptureFixture[str]) -> None:
    print("something before")
    RowWriter(None, "csv", BATCH_COLUMNS).write({"job_id": "j", "status": "queued"})
    assert capsys.readouterr().out.splitlines()[1] == ",".join(BATCH_COLUMNS)


def test_the_table_lists_every_row() -> None:
    console = Console(file=io.StringIO(), width=200)
    rows = [scan_row("a.jpg", _done()), scan_row("c.jpg", None, "415")]
    console.print(table(rows, SCAN_COLUMNS))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "0.9700" in text
    assert "rejected" in text


def test_sources_expand_folders_and_url_files(tmp_path: Path) -> None:
    (tmp_path / "imgs" / "sub").mkdir(parents=True)
    for name in ("b.jpg", "a.PNG", "notes.txt", "sub/c.webp"):
        (tmp_path / "imgs" / name).write_bytes(b"x")
    urls = tmp_path / "urls.txt"
    urls.write_text("# comment\nhttps://x/1.jpg\n\nhttps://x/2.jpg\n")
    sources = expand_sources([str(tmp_path / "imgs"), "https://y/0.jpg"], urls)
    names = [Path(s).name if not s.startswith("http") else s for s in sources]
    assert names == [
        "a.PNG",
        "b.jpg",
        "c.webp",
        "https://y/0.jpg",
        "https://x/1.jpg",
        "https://x/2.jpg",
    ]
