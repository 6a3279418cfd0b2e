"""`/v1/batches`: many URL jobs at once (JSON items, or a CSV/JSONL file streamed in)."""

import csv
import io
import json
from collections.abc import AsyncIterator
from enum import StrEnum
from typing import Any, BinaryIO

import anyio.to_thread
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.datastructures import UploadFile

from gateway.api.deps import ClientsDep
from gateway.api.forms import options_from_form, validated
from gateway.auth import Principal, ReadAccess, SubmitAccess
from gateway.batch_schemas import BatchOut, batch_create_model, batch_path
from gateway.csv_cells import safe_row
from gateway.errors import ApiError
from gateway.openapi import submission_body
from gateway.schemas import ErrorOut, JobOptions
from gateway.settings import get_settings
from storage.batch_repository import Batch
from storage.batch_rows import RowFormat, csv_header_refusal, guess_format
from storage.errors import ErrorCode
from storage.jobs import JobStatus

router = APIRouter(prefix="/v1/batches", tags=["batches"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut}}
_RESULT_FIELDS = ["external_id", "status", "result", "error"]
_CSV_COLUMNS = ["external_id", "job_id", "status", "verdict", "fake_probability", "error_code"]


_REQUEST_BODY = submission_body(
    batch_create_model(get_settings().max_batch_json_items).model_json_schema(),
    {
        "items": [
            {"image_url": "https://images.example.com/a.jpg", "external_id": "post-1"},
            {"image_url": "https://images.example.com/b.jpg", "metadata": {"lang": "fr"}},
        ],
        "mode": "faces",
    },
    "BatchUpload",
    {"description": "CSV with an image_url column (external_id, metadata optional), or JSONL"},
    "text/csv, application/x-ndjson, application/jsonl",
    metadata=False,
)


class ResultFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


@router.post(
    "",
    status_code=202,
    response_model=BatchOut,
    responses={status: {"model": ErrorOut} for status in (413, 415, 422, 503)},
    openapi_extra={"requestBody": _REQUEST_BODY},
    summary="Submit many image URLs: JSON `items`, or a CSV/JSONL `file` (multipart)",
)
async def create_batch(
    request: Request, response: Response, clients: ClientsDep, principal: SubmitAccess
) -> BatchOut:
    tenant_id = principal.tenant_id
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    batches = clients.batch_submitter
    if content_type == "application/json":
        max_items = clients.settings.max_batch_json_items
        body = validated(batch_create_model(max_items), await request.body())
        options = JobOptions.model_validate(body.model_dump(exclude={"items"}))
        # One item per line: the item's position is its row number, as in a JSONL file.
        lines = b"".join(
            json.dumps(item.model_dump(), separators=(",", ":")).encode() + b"\n"
            for item in body.items
        )
        batch = await batches.create(
            options, io.BytesIO(lines), len(lines), RowFormat.JSONL, tenant_id, len(body.items)
        )
    elif content_type == "multipart/form-data":
        # Starlette spools the file part to disk past 1 MiB; it is streamed on to storage.
        async with request.form(max_files=1) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise ApiError(422, ErrorCode.INVALID_REQUEST, "the form needs a 'file' part")
            options = options_from_form(form)
            row_format = guess_format(upload.filename, upload.content_type)
            length, rows = await anyio.to_thread.run_sync(_checked_length, upload.file, row_format)
            batch = await batches.create(options, upload.file, length, row_format, tenant_id, rows)
    else:
        raise ApiError(
            415,
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            "send application/json with items, or multipart/form-data with a CSV or JSONL file",
        )
    response.headers["Location"] = batch_path(batch.id)
    # Just recorded: its rows become jobs in a worker, so there is nothing to count yet.
    return BatchOut.from_batch(batch, {status.value: 0 for status in JobStatus})


def _checked_length(file: BinaryIO, row_format: RowFormat) -> tuple[int, int]:
    """The file's size and the most rows it can hold (the quota reserves no more); a CSV
    without an image_url column is refused before it is stored."""
    if row_format is RowFormat.CSV and (refusal := csv_header_refusal(file.read(64 * 1024))):
        raise ApiError(422, ErrorCode.INVALID_REQUEST, refusal)
    file.seek(0)
    length, line_ends = 0, 0
    while chunk := file.read(1024 * 1024):
        length += len(chunk)
        # Lines may end in "\r\n", "\n" or "\r" alone: an upper bound on the rows (a
        # "\r\n" split between two chunks counts twice).
        line_ends += chunk.count(b"\n") + chunk.count(b"\r") - chunk.count(b"\r\n")
    file.seek(0)
    return length, line_ends + 1


async def _batch(clients: ClientsDep, batch_id: str, principal: Principal) -> Batch:
    batch = await clients.batches.get(batch_id) if len(batch_id) <= 64 else None
    if batch is None or batch.tenant_id != principal.tenant_id:
        raise ApiError(404, ErrorCode.BATCH_NOT_FOUND, f"no batch with id {batch_id!r}")
    return batch


@router.get("/{batch_id}", response_model=BatchOut, responses=_NOT_FOUND)
async def get_batch(batch_id: str, clients: ClientsDep, principal: ReadAccess) -> BatchOut:
    batch = await _batch(clients, batch_id, principal)
    return BatchOut.from_batch(batch, await clients.jobs.count_batch_by_status(batch.id))


@router.delete(
    "/{batch_id}",
    status_code=204,
    responses=_NOT_FOUND,
    summary="Delete the batch and every job of it, with results, deliveries and images",
)
async def delete_batch(batch_id: str, clients: ClientsDep, principal: SubmitAccess) -> Response:
    deleted = None
    if len(batch_id) <= 64:
        deleted = await clients.purger.delete_batch(principal.tenant_id, batch_id)
    if deleted is None:
        raise ApiError(404, ErrorCode.BATCH_NOT_FOUND, f"no batch with id {batch_id!r}")
    return Response(status_code=204)


@router.post("/{batch_id}/cancel", response_model=BatchOut, responses=_NOT_FOUND)
async def cancel_batch(batch_id: str, clients: ClientsDep, principal: SubmitAccess) -> BatchOut:
    """Jobs still queued fail with `cancelled`; jobs already running finish."""
    await _batch(clients, batch_id, principal)
    await clients.batch_submitter.cancel(batch_id)
    batch = await _batch(clients, batch_id, principal)
    return BatchOut.from_batch(batch, await clients.jobs.count_batch_by_status(batch.id))


@router.get(
    "/{batch_id}/results",
    responses={**_NOT_FOUND, 200: {"content": {"application/x-ndjson": {}, "text/csv": {}}}},
    summary="Every job of the batch, streamed: one JSON object per line, or CSV",
)
async def batch_results(
    batch_id: str,
    clients: ClientsDep,
    principal: ReadAccess,
    format: ResultFormat = ResultFormat.JSONL,
) -> StreamingResponse:
    await _batch(clients, batch_id, principal)
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
    # RFC 4180 line ends: a value holding a lone CR or LF is then quoted, never a row break.
    writer = csv.DictWriter(buffer, fieldnames=_CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    async for document in documents:
        writer.writerow(safe_row(_result_row(document)))
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
