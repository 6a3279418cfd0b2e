"""`GET /v1/jobs`: the tenant's jobs, newest first, filtered, a page at a time."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from gateway.api.deps import ClientsDep
from gateway.auth import ReadAccess
from gateway.errors import ApiError
from gateway.schemas import ErrorOut, JobOut, JobPage
from storage.errors import ErrorCode
from storage.job_listing import CursorError, JobFilter
from storage.jobs import JobStatus, Verdict

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

_TEXT = {"min_length": 1, "max_length": 256}
_TIME: dict[str, Any] = {"max_length": 64, "json_schema_extra": {"format": "date-time"}}


def _moment(name: str, value: str | None) -> datetime | None:
    """An ISO 8601 time with a zone; numbers (which pydantic would read as Unix times) and
    times without a zone are refused."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ApiError(422, ErrorCode.INVALID_REQUEST, f"{name}: an ISO 8601 time with a zone")
    return moment


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
    cursor: Annotated[
        str | None, Query(max_length=256, description="`next_cursor` of the page before.")
    ] = None,
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
    created_after: Annotated[
        str | None, Query(description="Created at or after (ISO 8601, with a zone).", **_TIME)
    ] = None,
    created_before: Annotated[
        str | None, Query(description="Created before (ISO 8601, with a zone).", **_TIME)
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
        created_after=_moment("created_after", created_after),
        created_before=_moment("created_before", created_before),
    )
    try:
        jobs, next_cursor = await clients.jobs.page(
            principal.tenant_id, job_filter, limit=limit, cursor=cursor
        )
    except CursorError as error:
        raise ApiError(422, ErrorCode.INVALID_REQUEST, str(error)) from error
    return JobPage(items=[JobOut.from_job(job) for job in jobs], next_cursor=next_cursor)
