"""`/v1/batches`: many URL jobs at once (JSON items, or a CSV/JSONL file streamed in)."""

import csv
import io
import itertools
import json
from collections.abc import AsyncIterator, Iterator
from enum import StrEnum
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.datastructures import UploadFile

from gateway.api.deps import ClientsDep
from gateway.api.forms import options_from_form, validated
from gateway.batch_rows import (
    BatchFileError,
    Row,
    RowLimits,
    check_row,
    guess_format,
    parse_rows,
)
from gateway.batch_schemas import BatchCreate, BatchOut, batch_path
from gateway.batches import Chunk
from gateway.errors import ApiError
from gateway.schemas import ErrorOut, JobOptions
from storage.batches import Batch, RowError
from storage.errors import ErrorCode

router = APIRouter(prefix="/v1/batches", tags=["batches"])

CHUNK_ROWS = 500
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut}}
_RESULT_FIELDS = ["external_id", "status", "result", "error"]
_CSV_COLUMNS = ["external_id", "job_id", "status", "verdict", "fake_probability", "error_code"]


class ResultFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


@router.post(
    "",
    status_code=202,
    response_model=BatchOut,
    responses={status: {"model": ErrorOut} for status in (413, 415, 422, 503)},
    summary="Submit many image URLs: JSON `items`, or a CSV/JSONL `file` (multipart)",
)
async def create_batch(request: Request, response: Response, clients: ClientsDep) -> BatchOut:
    settings = clients.settings
    limits = RowLimits(settings.max_url_length, settings.max_metadata_bytes)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    batches = clients.batch_submitter
    if content_type == "application/json":
        body = validated(BatchCreate, await request.body())
        options = JobOptions.model_validate(body.model_dump(exclude={"items"}))
        items = [item.model_dump() for item in body.items]
        chunks = _inline_chunks(items, limits)
        batch = await batches.create(options, chunks)
    elif content_type == "multipart/form-data":
        # Starlette spools the file part to disk past 1 MiB; rows are read from it lazily.
        async with request.form(max_files=1) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise ApiError(422, ErrorCode.INVALID_REQUEST, "the form needs a 'file' part")
            options = options_from_form(form)
            row_format = guess_format(upload.filename, upload.content_type)
            text = io.TextIOWrapper(upload.file, encoding="utf-8-sig", errors="replace", newline="")
            rows = parse_rows(text, row_format, limits)
            try:
                batch = await batches.create(options, _file_chunks(rows))
            except BatchFileError as error:
                raise ApiError(422, ErrorCode.INVALID_REQUEST, str(error)) from error
            finally:
                text.detach()
    else:
        raise ApiError(
            415,
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            "send application/json with items, or multipart/form-data with a CSV or JSONL file",
        )
    response.headers["Location"] = batch_path(batch.id)
    return BatchOut.from_batch(batch, await clients.jobs.count_batch_by_status(batch.id))


async def _inline_chunks(items: list[dict[str, Any]], limits: RowLimits) -> AsyncIterator[Chunk]:
    for start in range(0, len(items), CHUNK_ROWS):
        part = items[start : start + CHUNK_ROWS]
        yield [check_row(start + i + 1, item, limits) for i, item in enumerate(part)]


async def _file_chunks(rows: Iterator[Row | RowError]) -> AsyncIterator[Chunk]:
    # Reading and parsing block on the spooled file: one chunk at a time off the event loop.
    while chunk := await anyio.to_thread.run_sync(lambda: list(itertools.islice(rows, CHUNK_ROWS))):
        yield chunk


async def _batch(clients: ClientsDep, batch_id: str) -> Batch:
    batch = await clients.batches.get(batch_id) if len(batch_id) <= 64 else None
    if batch is None:
        raise ApiError(404, ErrorCode.BATCH_NOT_FOUND, f"no batch with id {batch_id!r}")
    return batch


@router.get("/{batch_id}", response_model=BatchOut, responses=_NOT_FOUND)
async def get_batch(batch_id: str, clients: ClientsDep) -> BatchOut:
    batch = await _batch(clients, batch_id)
    return BatchOut.from_batch(batch, await clients.jobs.count_batch_by_status(batch.id))


@router.post("/{batch_id}/cancel", response_model=BatchOut, responses=_NOT_FOUND)
async def cancel_batch(batch_id: str, clients: ClientsDep) -> BatchOut:
    """Jobs still queued fail with `cancelled`; jobs already running finish."""
    await _batch(clients, batch_id)
    await clients.batch_submitter.cancel(batch_id)
    batch = await _batch(clients, batch_id)
    return BatchOut.from_batch(batch, await clients.jobs.count_batch_by_status(batch.id))


@router.get(
    "/{batch_id}/results",
    responses={**_NOT_FOUND, 200: {"content": {"application/x-ndjson": {}, "text/csv": {}}}},
    summary="Every job of the batch, streamed: one JSON object per line, or CSV",
)
async def batch_results(
    batch_id: str, clients: ClientsDep, format: ResultFormat = ResultFormat.JSONL
) -> StreamingResponse:
    await _batch(clients, batch_id)
    documents = clients.jobs.batch_jobs(batch_id, _RESULT_FIELDS)
    if format is ResultFormat.CSV:
        return StreamingResponse(_csv_lines(documents), media_type="text/csv")
    return StreamingResponse(_jsonl_lines(documents), media_type="application/x-ndjson")


def _result_row(document: dict[str, Any]) -> dict[str, Any]:
    result = document.get("result") or {}
    error = document.get("error") or {}
    return {
        "external_id": document.get("external_id"),
        "job_id": document["_id"],
        "status": document.get("status"),
        "verdict": result.get("verdict"),
        "fake_probability": result.get("fake_probability"),
        "error_code": error.get("code"),
    }


async def _jsonl_lines(documents: AsyncIterator[dict[str, Any]]) -> AsyncIterator[str]:
    async for document in documents:
        yield json.dumps(_result_row(document), separators=(",", ":")) + "\n"


async def _csv_lines(documents: AsyncIterator[dict[str, Any]]) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=_CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    async for document in documents:
        writer.writerow(_result_row(document))
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
