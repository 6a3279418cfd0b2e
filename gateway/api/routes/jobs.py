"""`/v1/jobs`: submit an image by URL or upload, then read its status and result."""

import json
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from gateway import jobs as job_service
from gateway.api.deps import ClientsDep, JobsDep
from gateway.errors import ApiError
from gateway.schemas import ErrorOut, JobCreate, JobOut, job_path
from storage.errors import ErrorCode

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut} for status in (413, 415, 422, 503)
}

_REQUEST_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": JobCreate.model_json_schema()},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "metadata": {"type": "string", "description": "a JSON object"},
                },
            }
        },
    },
}


@router.post(
    "",
    status_code=202,
    response_model=JobOut,
    responses=_ERRORS,
    openapi_extra={"requestBody": _REQUEST_BODY},
    summary="Submit an image by URL (JSON) or as an upload (multipart)",
)
async def create_job(request: Request, response: Response, clients: ClientsDep) -> JobOut:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        job = await _create_from_json(request, clients)
    elif content_type == "multipart/form-data":
        job = await _create_from_upload(request, clients)
    else:
        raise ApiError(
            415,
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            "send application/json with image_url, or multipart/form-data with a file",
        )
    response.headers["Location"] = job_path(job.id)
    return JobOut.from_job(job)


async def _create_from_json(request: Request, clients: ClientsDep) -> Any:
    try:
        body = JobCreate.model_validate_json(await request.body())
    except ValidationError as error:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
            for e in error.errors()[:5]
        )
        raise ApiError(422, ErrorCode.INVALID_REQUEST, details) from error
    return await job_service.submit_url(
        body.image_url,
        body.metadata,
        settings=clients.settings,
        jobs=clients.jobs,
        celery=clients.celery,
    )


async def _create_from_upload(request: Request, clients: ClientsDep) -> Any:
    async with request.form(max_files=1, max_fields=4) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ApiError(422, ErrorCode.INVALID_REQUEST, "the form needs a 'file' part")
        metadata = _parse_metadata(form.get("metadata"))
        # The body limit already bounds this read.
        content = await upload.read()
    return await job_service.submit_upload(
        content,
        metadata,
        settings=clients.settings,
        jobs=clients.jobs,
        objects=clients.objects,
        celery=clients.celery,
    )


def _parse_metadata(raw: object) -> dict[str, Any]:
    if raw is None or raw == "":
        return {}
    try:
        metadata = json.loads(str(raw))
    except ValueError as error:
        raise ApiError(422, ErrorCode.INVALID_REQUEST, "metadata must be a JSON object") from error
    if not isinstance(metadata, dict):
        raise ApiError(422, ErrorCode.INVALID_REQUEST, "metadata must be a JSON object")
    return metadata


@router.get("/{job_id}", response_model=JobOut, responses={404: {"model": ErrorOut}})
async def get_job(job_id: str, jobs: JobsDep) -> JobOut:
    job = await jobs.get(job_id) if len(job_id) <= 64 else None
    if job is None:
        raise ApiError(404, ErrorCode.JOB_NOT_FOUND, f"no job with id {job_id!r}")
    return JobOut.from_job(job)
