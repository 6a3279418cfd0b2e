"""`GET /v1/jobs`: the tenant's jobs, newest first, filtered, a page at a time."""

from typing import Annotated

from fastapi import APIRouter, Query

from gateway.api.deps import ClientsDep
from gateway.api.forms import CreatedAfter, CreatedBefore, Cursor, iso_moment
from gateway.auth import ReadAccess
from gateway.errors import ApiError
from gateway.schemas import ErrorOut, JobOut, JobPage
from storage.errors import ErrorCode
from storage.job_listing import CursorError, JobFilter
from storage.jobs import JobStatus, Verdict

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

_TEXT = {"min_length": 1, "max_length": 256}


@router.get(
    "",
    response_model=JobPage,
    responses={422: {"model": ErrorOut}},
    summary="The tenant's jobs, newest first, a page at a time",
)
async def list_jobs(
    clients: ClientsDep,
    principal: ReadAccess,
    limit: Annotated[int, Query(ge=1, le=200, description="Jobs per page.")] = 50,
    cursor: Cursor = None,
    status: JobStatus | None = None,
    verdict: Verdict | None = None,
    model: Annotated[str | None, Query(**_TEXT, description="Detector name.")] = None,
    batch_id: Annotated[str | None, Query(**_TEXT)] = None,
    external_id: Annotated[str | None, Query(**_TEXT)] = None,
    metadata_key: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=128,
            pattern=r"^[A-Za-z0-9_\-]+$",
            description="With `metadata_value`: jobs whose metadata has this key...",
        ),
    ] = None,
    metadata_value: Annotated[
        str | None, Query(**_TEXT, description="...with this text value.")
    ] = None,
    created_after: CreatedAfter = None,
    created_before: CreatedBefore = None,
    reviewed: Annotated[
        bool | None, Query(description="Only jobs a reviewer labelled (true) or none did.")
    ] = None,
) -> JobPage:
    if (metadata_key is None) != (metadata_value is None):
        raise ApiError(
            422, ErrorCode.INVALID_REQUEST, "give metadata_key and metadata_value together"
        )
    job_filter = JobFilter(
        status=status,
        verdict=verdict,
        model=model,
        batch_id=batch_id,
        external_id=external_id,
        metadata=None if metadata_key is None else (metadata_key, metadata_value or ""),
        created_after=iso_moment("created_after", created_after),
        created_before=iso_moment("created_before", created_before),
        reviewed=reviewed,
    )
    try:
        jobs, next_cursor = await clients.jobs.page(
            principal.tenant_id, job_filter, limit=limit, cursor=cursor
        )
    except CursorError as error:
        raise ApiError(422, ErrorCode.INVALID_REQUEST, str(error)) from error
    return JobPage(items=[JobOut.from_job(job) for job in jobs], next_cursor=next_cursor)
