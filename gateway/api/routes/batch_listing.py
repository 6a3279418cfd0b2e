"""`GET /v1/batches`: the tenant's batches, newest first, with their progress."""

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from gateway.api.deps import ClientsDep
from gateway.api.forms import CreatedAfter, CreatedBefore, Cursor, iso_moment
from gateway.auth import ReadAccess
from gateway.batch_schemas import BatchOut
from gateway.errors import ApiError
from gateway.schemas import ErrorOut
from storage.batch_listing import list_batches as batch_page
from storage.errors import ErrorCode
from storage.job_listing import CursorError

router = APIRouter(prefix="/v1/batches", tags=["batches"])


class BatchPage(BaseModel):
    """A page of `GET /v1/batches`, newest first."""

    items: list[BatchOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


@router.get(
    "",
    response_model=BatchPage,
    responses={422: {"model": ErrorOut}},
    summary="The tenant's batches, newest first, a page at a time",
)
async def list_batches(
    clients: ClientsDep,
    principal: ReadAccess,
    limit: Annotated[int, Query(ge=1, le=100, description="Batches per page.")] = 20,
    cursor: Cursor = None,
    created_after: CreatedAfter = None,
    created_before: CreatedBefore = None,
) -> BatchPage:
    try:
        page, next_cursor = await batch_page(
            clients.batches.database,
            principal.tenant_id,
            limit=limit,
            cursor=cursor,
            created_after=iso_moment("created_after", created_after),
            created_before=iso_moment("created_before", created_before),
        )
    except CursorError as error:
        raise ApiError(422, ErrorCode.INVALID_REQUEST, str(error)) from error
    items = [BatchOut.from_batch(batch, counts) for batch, counts in page]
    return BatchPage(items=items, next_cursor=next_cursor)
