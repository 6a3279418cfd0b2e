"""`deepfake batch FILE`: submit a CSV or JSONL file of image URLs as one batch, follow its
progress, and append each finished job's row to the output as it ends.

The submission's `Idempotency-Key` is derived from the file and the options, so running
the same command again (within the server's idempotency TTL, 24 h by default) follows the
same batch instead of creating another, and rows already in the output are not repeated.
"""

import hashlib
import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from deepfake_client.calls import BatchOptions
from deepfake_client.cli.app import app, service
from deepfake_client.cli.output import BATCH_COLUMNS, FileFormat, RowWriter, rows_in, table
from deepfake_client.cli.scan import progress_bar
from deepfake_client.client import DetectionClient
from deepfake_client.models import Batch

# Results are read again once this share of the batch finished since the last read...
_COLLECT_SHARE = 0.05
# ...or this long after it, if anything finished meanwhile.
_COLLECT_EVERY_S = 15.0


def batch_key(file: Path, options: BatchOptions) -> str:
    digest = hashlib.sha256(json.dumps(options, sort_keys=True).encode() + b"\n")
    with file.open("rb") as stream:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
    return f"deepfake-batch-{digest.hexdigest()[:40]}"


class ResultCollector:
    """Writes the batch's finished jobs not written yet, reading the results stream
    again only once enough has finished since the last read."""

    def __init__(
        self, api: DetectionClient, batch_id: str, writer: RowWriter, written: set[str]
    ) -> None:
        self.api, self.batch_id, self.writer, self.written = api, batch_id, writer, written
        self._finished_seen = -1
        self._read_at = 0.0

    def due(self, batch: Batch) -> bool:
        fresh = batch.finished - self._finished_seen
        if batch.done or fresh >= max(1, int(batch.total * _COLLECT_SHARE)):
            return True
        return fresh > 0 and time.monotonic() - self._read_at >= _COLLECT_EVERY_S

    def collect(self, batch: Batch) -> None:
        self._finished_seen, self._read_at = batch.finished, time.monotonic()
        for result in self.api.iter_batch_results(self.batch_id):
            if result.done and result.job_id not in self.written:
                self.writer.write(result.model_dump(include=set(BATCH_COLUMNS)))
                self.written.add(result.job_id)


def _options(
    model: str | None, mode: str | None, model_version: str | None, callback_url: str | None
) -> BatchOptions:
    options: BatchOptions = {}
    if model is not None:
        options["model"] = model
    if model_version is not None:
        options["model_version"] = model_version
    if mode is not None:
        options["mode"] = mode
    if callback_url is not None:
        options["callback_url"] = callback_url
    return options


@app.command()
def batch(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, help="CSV (image_url, ...) or .jsonl file."),
    ],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Append result rows here.")
    ] = None,
    fmt: Annotated[FileFormat, typer.Option("--format")] = "jsonl",
    model: Annotated[str | None, typer.Option(help="A detector (`deepfake models`).")] = None,
    model_version: Annotated[str | None, typer.Option()] = None,
    mode: Annotated[str | None, typer.Option(help="faces or whole_image")] = None,
    callback_url: Annotated[str | None, typer.Option(help="Gets batch.completed.")] = None,
    wait: Annotated[bool, typer.Option(help="Follow the batch to its end.")] = True,
    resume: Annotated[
        bool, typer.Option(help="The same file and options follow the same batch.")
    ] = True,
    timeout: Annotated[float | None, typer.Option(help="Give up after seconds.")] = None,
    interval: Annotated[float, typer.Option(help="Seconds between progress reads.")] = 1.0,
) -> int:
    """Submit a batch file; exits 1 if any row was invalid or any job failed."""
    options = _options(model, mode, model_version, callback_url)
    key = batch_key(file, options) if resume else None
    console = Console(stderr=True)
    with service(ctx).client() as api:
        submitted = api.submit_batch_file(file, idempotency_key=key, **options)
        console.print(f"batch {submitted.id}")
        if not wait:
            typer.echo(submitted.id)
            return 0
        written = {str(row.get("job_id")) for row in rows_in(output, fmt)}
        writer = RowWriter(output, fmt, BATCH_COLUMNS)
        try:
            collector = ResultCollector(api, submitted.id, writer, written)
            snapshot = submitted
            with progress_bar("batch") as progress:
                task = progress.add_task("batch", total=None)
                following = api.follow_batch(submitted.id, interval_s=interval, timeout_s=timeout)
                for snapshot in following:
                    progress.update(task, total=snapshot.total or None, completed=snapshot.finished)
                    if collector.due(snapshot):
                        collector.collect(snapshot)
        finally:
            writer.close()
    _summary(console, snapshot)
    failed = snapshot.counts.get("failed", 0)
    return 1 if failed or snapshot.invalid_rows else 0


def _summary(console: Console, batch: Batch) -> None:
    counts = [{"status": status, "jobs": n} for status, n in batch.counts.items() if n]
    console.print(table(counts, ["status", "jobs"], title=f"batch {batch.id}"))
    if batch.invalid_rows:
        errors = [error.model_dump() for error in batch.row_errors[:10]]
        console.print(f"{batch.invalid_rows} invalid rows; the first:")
        console.print(table(errors, ["row", "code", "message"]))
