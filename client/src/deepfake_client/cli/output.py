"""Where results go: JSONL or CSV rows appended and flushed one at a time (an interrupted
run keeps every row written, and a re-run skips them), or a table for people."""

import csv
import json
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Literal

from rich.console import Console
from rich.table import Table

from deepfake_client.models import Job

Format = Literal["table", "jsonl", "csv"]
FileFormat = Literal["jsonl", "csv"]

SCAN_COLUMNS = ["source", "job_id", "status", "verdict", "fake_probability", "faces", "error"]
BATCH_COLUMNS = ["external_id", "job_id", "status", "verdict", "fake_probability", "error_code"]

# A cell starting with one of these is a formula to a spreadsheet (a file name such as
# "=HYPERLINK(...).jpg" would run): it gets a leading quote, as the service's CSV does.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def _unquoted(value: str) -> str:
    if value.startswith("'") and value[1:].startswith(_FORMULA_STARTS):
        return value[1:]
    return value


def scan_row(source: str, job: Job | None, error: str | None = None) -> dict[str, Any]:
    """One scanned source: its job, or why it was not accepted (`status` "rejected")."""
    result = job.result if job else None
    if error is None and job is not None and job.error is not None:
        error = f"{job.error.code}: {job.error.message}"
    return {
        "source": source,
        "job_id": job.id if job else None,
        "status": job.status if job else "rejected",
        "verdict": result.verdict if result else None,
        "fake_probability": result.fake_probability if result else None,
        "faces": len(result.faces) if result else None,
        "error": error,
    }


class RowWriter:
    """Appends rows to a JSONL or CSV file (or stdout), flushing each; `rows_in` reads
    back what an earlier run wrote to the same file."""

    def __init__(self, path: Path | None, fmt: Format, columns: Sequence[str]) -> None:
        self.format = fmt
        self.stream: IO[str] = sys.stdout
        if path is not None:
            self.stream = path.open("a", newline="", encoding="utf-8")
        self._csv = csv.DictWriter(self.stream, fieldnames=list(columns), extrasaction="ignore")
        if fmt == "csv" and (path is None or self.stream.tell() == 0):
            self._csv.writeheader()

    def write(self, row: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
        if self.format == "csv":
            self._csv.writerow({name: text_cell(value) for name, value in row.items()})
        else:
            self.stream.write(json.dumps({**row, **(extra or {})}, default=str) + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.stream is not sys.stdout:
            self.stream.close()


def rows_in(path: Path | None, fmt: Format) -> list[dict[str, Any]]:
    """The rows an earlier run appended to `path` (a torn last line is ignored)."""
    if path is None or fmt == "table" or not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as stream:
        if fmt == "csv":
            return [
                {name: _unquoted(value or "") for name, value in row.items()}
                for row in csv.DictReader(stream)
            ]
        rows = []
        for line in stream:
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue
        return rows


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def table(
    rows: Iterable[dict[str, Any]], columns: Sequence[str], title: str | None = None
) -> Table:
    view = Table(title=title, show_edge=False, header_style="bold")
    for column in columns:
        view.add_column(column, overflow="fold")
    for row in rows:
        view.add_row(*(_cell(row.get(column)) for column in columns))
    return view


def print_table(
    rows: Iterable[dict[str, Any]], columns: Sequence[str], console: Console | None = None
) -> None:
    # Piped into another program: rows on one line each, however long.
    console = console or Console(width=None if sys.stdout.isatty() else 1000)
    console.print(table(rows, columns))
