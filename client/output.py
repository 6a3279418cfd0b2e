"""How scan results are shown: a table for people, JSONL or CSV for programs."""

import csv
import io
import json
import sys
from dataclasses import dataclass
from typing import IO, Any

from client.models import Job

CSV_COLUMNS = ["source", "job_id", "status", "verdict", "fake_probability", "faces", "error"]


@dataclass(frozen=True)
class Scanned:
    source: str  # the path or URL given on the command line
    job: Job | None
    error: str | None = None  # the submission itself failed


def row(item: Scanned) -> dict[str, Any]:
    job, result = item.job, item.job.result if item.job else None
    error = item.error or (f"{job.error.code}: {job.error.message}" if job and job.error else None)
    return {
        "source": item.source,
        "job_id": job.id if job else None,
        "status": job.status if job else "rejected",
        "verdict": result.verdict if result else None,
        "fake_probability": result.fake_probability if result else None,
        "faces": len(result.faces) if result else None,
        "error": error,
    }


def write_jsonl(items: list[Scanned], stream: IO[str]) -> None:
    for item in items:
        record = row(item)
        if item.job is not None:
            record["job"] = item.job.model_dump(mode="json")
        stream.write(json.dumps(record) + "\n")


# A cell starting with one of these is a formula to a spreadsheet (a file name such as
# "=HYPERLINK(...).jpg" would run): it gets a leading quote, as the service's CSV does.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _text_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def write_csv(items: list[Scanned], stream: IO[str]) -> None:
    writer = csv.DictWriter(stream, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for item in items:
        writer.writerow({name: _text_cell(value) for name, value in row(item).items()})


def table(items: list[Scanned]) -> str:
    rows = [row(item) for item in items]
    headers = ["source", "status", "verdict", "fake_probability", "faces", "error"]
    cells = [
        [
            str(r["source"]),
            str(r["status"]),
            str(r["verdict"] or "-"),
            "-" if r["fake_probability"] is None else f"{r['fake_probability']:.4f}",
            "-" if r["faces"] is None else str(r["faces"]),
            str(r["error"] or ""),
        ]
        for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    out = io.StringIO()
    for line in [headers, ["-" * w for w in widths], *cells]:
        out.write("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())
        out.write("\n")
    return out.getvalue()


class Progress:
    """A one-line progress bar on stderr, redrawn in place when stderr is a terminal."""

    def __init__(self, total: int, label: str, stream: IO[str] | None = None) -> None:
        self.total, self.label, self.done = total, label, 0
        self.stream = stream or sys.stderr  # looked up now: it may have been replaced
        self._tty = self.stream.isatty()

    def advance(self) -> None:
        self.done += 1
        if self._tty or self.done == self.total:
            width = 30
            filled = width * self.done // max(self.total, 1)
            bar = "#" * filled + "." * (width - filled)
            end = "\n" if self.done == self.total else ""
            self.stream.write(f"\r{self.label} [{bar}] {self.done}/{self.total}{end}")
            self.stream.flush()
