import csv
import io
import json
from pathlib import Path

from client.cli import expand_sources
from client.models import Job
from client.output import Progress, Scanned, table, write_csv, write_jsonl


def _items() -> list[Scanned]:
    done = Job.model_validate(
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
                "future_field": "ignored",
            },
        }
    )
    failed = Job.model_validate(
        {"id": "job_2", "status": "failed", "error": {"code": "image_not_found", "message": "404"}}
    )
    return [
        Scanned("a.jpg", done),
        Scanned("https://x/b.jpg", failed),
        Scanned("c.jpg", None, "415"),
    ]


def test_table_lists_every_source() -> None:
    lines = table(_items()).splitlines()
    assert lines[0].split() == ["source", "status", "verdict", "fake_probability", "faces", "error"]
    assert lines[2].split() == ["a.jpg", "succeeded", "fake", "0.9700", "1"]
    assert "image_not_found: 404" in lines[3]
    assert lines[4].split()[:2] == ["c.jpg", "rejected"]


def test_csv_and_jsonl_carry_the_same_rows() -> None:
    text = io.StringIO()
    write_csv(_items(), text)
    rows = list(csv.DictReader(io.StringIO(text.getvalue())))
    assert [r["status"] for r in rows] == ["succeeded", "failed", "rejected"]
    lines = io.StringIO()
    write_jsonl(_items(), lines)
    records = [json.loads(line) for line in lines.getvalue().splitlines()]
    assert records[0]["job"]["result"]["faces"][0]["box"] == [1, 2, 3, 4]
    assert records[2]["error"] == "415"


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


def test_progress_ends_with_the_count() -> None:
    stream = io.StringIO()
    progress = Progress(3, "waiting", stream)
    for _ in range(3):
        progress.advance()
    assert stream.getvalue().endswith("3/3\n")


def test_csv_cells_a_spreadsheet_would_run_are_quoted() -> None:
    text = io.StringIO()
    write_csv([Scanned('=HYPERLINK("http://x").jpg', None, "-1 rejected")], text)
    (written,) = csv.DictReader(io.StringIO(text.getvalue()))
    assert written["source"] == '\'=HYPERLINK("http://x").jpg'
    assert written["error"] == "'-1 rejected"
    assert written["status"] == "rejected"
