"""`deepfake scan`: judge image files, folders and URLs, one job each.

Results are written as each job ends; with `-o`, rows are appended, and sources the file
already holds a finished row for are skipped, so a re-run after an interruption does only
the rest.
"""

from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from deepfake_client.calls import JobOptions
from deepfake_client.cli.app import app, service
from deepfake_client.cli.output import (
    SCAN_COLUMNS,
    Format,
    RowWriter,
    print_table,
    rows_in,
    scan_row,
)
from deepfake_client.client import DetectionClient
from deepfake_client.errors import ClientError
from deepfake_client.models import TERMINAL_STATUSES, Job

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp"}


def expand_sources(inputs: list[str], urls_file: Path | None) -> list[str]:
    """URLs as given; files as given; folders walked for images, in sorted order."""
    sources: list[str] = []
    for item in inputs:
        if item.startswith(("http://", "https://")):
            sources.append(item)
        elif Path(item).is_dir():
            sources += sorted(
                str(p) for p in Path(item).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
            )
        else:
            sources.append(item)
    if urls_file is not None:
        lines = urls_file.read_text().splitlines()
        sources += [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return sources


def progress_bar(label: str) -> Progress:
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    )


def scan_one(
    api: DetectionClient, source: str, options: JobOptions, wait: bool, timeout_s: float
) -> tuple[dict[str, Any], Job | None]:
    """The source's row, and its job unless it was refused."""
    try:
        if source.startswith(("http://", "https://")):
            job = api.submit_url(source, **options)
        else:
            job = api.submit_file(Path(source), **options)
        if wait:
            job = api.wait(job.id, timeout_s=timeout_s)
    except (ClientError, OSError) as error:
        return scan_row(source, None, str(error)), None
    return scan_row(source, job), job


def _options(model: str | None, mode: str | None, webhook: str | None) -> JobOptions:
    options: JobOptions = {}
    if model is not None:
        options["model"] = model
    if mode is not None:
        options["mode"] = mode
    if webhook is not None:
        options["callback_url"] = webhook
    return options


@app.command()
def scan(
    ctx: typer.Context,
    inputs: Annotated[list[str] | None, typer.Argument(help="Image files, folders, URLs.")] = None,
    urls_file: Annotated[Path | None, typer.Option(help="A file with one URL a line.")] = None,
    model: Annotated[str | None, typer.Option(help="A detector (`deepfake models`).")] = None,
    mode: Annotated[str | None, typer.Option(help="faces or whole_image")] = None,
    webhook: Annotated[str | None, typer.Option(help="Callback URL of each job.")] = None,
    wait: Annotated[bool, typer.Option(help="Wait for each job to end.")] = True,
    fmt: Annotated[Format, typer.Option("--format", help="table, jsonl or csv")] = "table",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Append rows here, not to stdout.")
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=64)] = 8,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each job.")] = 300.0,
) -> int:
    """Judge images; exits 1 if any was refused or failed."""
    sources = expand_sources(inputs or [], urls_file)
    done = {row["source"] for row in rows_in(output, fmt) if row["status"] in TERMINAL_STATUSES}
    todo = [source for source in sources if source not in done]
    if not sources:
        Console(stderr=True).print("nothing to scan")
        return 2
    if len(todo) < len(sources):
        Console(stderr=True).print(f"{len(sources) - len(todo)} already in {output}: skipped")
    options = _options(model, mode, webhook)
    writer = RowWriter(output, fmt, SCAN_COLUMNS) if fmt != "table" else None
    rows: list[dict[str, Any]] = []
    with (
        service(ctx).client() as api,
        ThreadPoolExecutor(concurrency) as pool,
        progress_bar("waiting" if wait else "submitting") as progress,
    ):
        task = progress.add_task("scan", total=len(todo))
        futures = [pool.submit(scan_one, api, s, options, wait, timeout) for s in todo]
        try:
            for future in as_completed(futures):
                row, job = future.result()
                rows.append(row)
                if writer is not None:
                    extra = {"job": job.model_dump(mode="json")} if job is not None else None
                    writer.write(row, extra)
                progress.advance(task)
        except KeyboardInterrupt:
            # What was written stays; nothing more is submitted.
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            if writer is not None:
                writer.close()
    if fmt == "table":
        order = {source: index for index, source in enumerate(todo)}
        print_table(sorted(rows, key=lambda row: order[row["source"]]), SCAN_COLUMNS)
    return 1 if any(row["status"] in ("failed", "rejected") for row in rows) else 0
