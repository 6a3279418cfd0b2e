"""`/v1/jobs`: submit an image by URL or upload, then read its status and result."""

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from starlette.datastructures import UploadFile

from gateway.api.deps import ClientsDep
from gateway.api.forms import FORM_FIELDS, options_from_form, validated
from gateway.auth import Principal, ReadAccess, SubmitAccess
from gateway.errors import ApiError
from gateway.job_polling import job_answer
from gateway.openapi import submission_body
from gateway.schemas import ErrorOut, JobCreate, JobOptions, JobOut, job_path
from storage.errors import ErrorCode
from storage.jobs import Job

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut} for status in (413, 415, 422, 503)
}

_REQUEST_BODY = submission_body(
    JobCreate.model_json_schema(),
    {
        "image_url": "https://images.example.com/upload/42.jpg",
        "metadata": {"post_id": "p_9f2c"},
        "mode": "faces",
    },
    "JobUpload",
    {"description": "the image: JPEG, PNG, WebP, GIF or BMP"},
    "image/jpeg, image/png, image/webp, image/gif, image/bmp",
    metadata=True,
)


@router.post(
    "",
    status_code=202,
    response_model=JobOut,
    responses=_ERRORS,
    openapi_extra={"requestBody": _REQUEST_BODY},
    summary="Submit an image by URL (JSON) or as an upload (multipart)",
)
async def create_job(
    request: Request, response: Response, clients: ClientsDep, principal: SubmitAccess
) -> JobOut:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        body = validated(JobCreate, await request.body())
        options = JobOptions.model_validate(body.model_dump(exclude={"image_url"}))
        job = await clients.submitter.submit_url(body.image_url, options, principal.tenant_id)
    elif content_type == "multipart/form-data":
        job = await _create_from_upload(request, clients, principal)
    else:
        raise ApiError(
            415,
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            "send application/json with image_url, or multipart/form-data with a file",
        )
    response.headers["Location"] = job_path(job.id)
    return JobOut.from_job(job)


async def _create_from_upload(request: Request, clients: ClientsDep, principal: Principal) -> Job:
    async with request.form(max_files=1, max_fields=len(FORM_FIELDS)) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ApiError(422, ErrorCode.INVALID_REQUEST, "the form needs a 'file' part")
        options = options_from_form(form)
        # The body limit already bounds this read.
        content = await upload.read()
    return await clients.submitter.submit_upload(content, options, principal.tenant_id)


@router.delete(
    "/{job_id}",
    status_code=204,
    responses={404: {"model": ErrorOut}},
    summary="Delete the job, its result, its webhook deliveries and its image, for good",
)
async def delete_job(job_id: str, clients: ClientsDep, principal: SubmitAccess) -> Response:
    if len(job_id) > 64 or not await clients.purger.delete_job(principal.tenant_id, job_id):
        raise ApiError(404, ErrorCode.JOB_NOT_FOUND, f"no job with id {job_id!r}")
    return Response(status_code=204)


@router.get(
    "/{job_id}",
    response_model=JobOut,
    responses={
        304: {"description": "Not modified: the job is still as the `If-None-Match` ETag."},
        404: {"model": ErrorOut},
    },
    summary="A job: at once, or once it ends (`wait`)",
)
async def get_job(
    job_id: str,
    clients: ClientsDep,
    principal: ReadAccess,
    wait: Annotated[
        float,
        Query(
            ge=0,
            le=300,
            description="Hold the answer up to this many seconds (at most the server's "
            "GATEWAY_MAX_WAIT_S, 30 by default) while the job is unfinished and, with "
            "`If-None-Match`, unchanged: long-polling instead of polling.",
        ),
    ] = 0,
    if_none_match: Annotated[
        str | None,
        Header(description="The ETag of the state the client has: `304` while it holds."),
    ] = None,
) -> Response:
    settings = clients.settings
    return await job_answer(
        clients.jobs,
        clients.job_ends,
        job_id,
        principal.tenant_id,
        wait_s=min(wait, settings.max_wait_s),
        recheck_s=settings.wait_recheck_s,
        if_none_match=if_none_match,
    )
