"""Reviewers' labels: `POST/GET /v1/jobs/{id}/reviews` and `GET /v1/reviews/export`."""

from enum import StrEnum
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from gateway import review_export
from gateway.api.deps import ClientsDep, owned_job
from gateway.auth import ReadAccess, SubmitAccess
from gateway.errors import ApiError
from gateway.schemas import ErrorOut
from storage.errors import ErrorCode
from storage.review_labels import NOTE_MAX_CHARS, ReviewLabel
from storage.review_repository import Review, agreement, model_verdict

router = APIRouter(tags=["reviews"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut}}


class ReviewIn(BaseModel):
    # Strict: `"face": false` or `"note": 1` is refused, not read as 0 or "1".
    model_config = ConfigDict(extra="forbid")

    label: ReviewLabel
    face: StrictInt | None = Field(
        default=None, ge=0, le=1000, description="A face's index in the result; null: the image."
    )
    note: StrictStr = Field(default="", max_length=NOTE_MAX_CHARS)


class ReviewOut(BaseModel):
    id: str
    job_id: str
    label: ReviewLabel
    face: int | None
    note: str
    reviewer: str | None
    created_at: str
    agreement: str = Field(description="`agree`, `disagree`, or `n/a` (unsure, or no verdict).")

    @classmethod
    def from_review(cls, review: Review) -> "ReviewOut":
        return cls(
            id=review.id,
            job_id=review.job_id,
            label=review.label,
            face=review.face,
            note=review.note,
            reviewer=review.reviewer,
            created_at=review.created_at.isoformat(),
            agreement=review.agreement.value,
        )


class ReviewList(BaseModel):
    items: list[ReviewOut]


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"
    ZIP = "zip"


@router.post(
    "/v1/jobs/{job_id}/reviews",
    status_code=201,
    response_model=ReviewOut,
    responses={**_NOT_FOUND, 409: {"model": ErrorOut}, 422: {"model": ErrorOut}},
    summary="Record a reviewer's label for the image or one of its faces",
)
async def create_review(
    job_id: str, body: ReviewIn, clients: ClientsDep, principal: SubmitAccess
) -> ReviewOut:
    job = await owned_job(clients.jobs, job_id, principal.tenant_id)
    if not job.status.terminal or job.result is None:
        raise ApiError(409, ErrorCode.JOB_NOT_JUDGED, "the job has no result to review yet")
    if body.face is not None and body.face >= len(job.result.faces):
        raise ApiError(
            422, ErrorCode.INVALID_REQUEST, f"the result has {len(job.result.faces)} face(s)"
        )
    review = Review(
        tenant_id=principal.tenant_id,
        job_id=job.id,
        label=body.label,
        face=body.face,
        note=body.note,
        reviewer=principal.key_id,
        agreement=agreement(body.label, model_verdict(job.result, body.face)),
    )
    if not await clients.reviews.add(review):
        raise ApiError(404, ErrorCode.JOB_NOT_FOUND, f"no job with id {job_id!r}")
    return ReviewOut.from_review(review)


@router.get(
    "/v1/jobs/{job_id}/reviews",
    response_model=ReviewList,
    responses=_NOT_FOUND,
    summary="The job's reviews, newest first",
)
async def list_reviews(job_id: str, clients: ClientsDep, principal: ReadAccess) -> ReviewList:
    job = await owned_job(clients.jobs, job_id, principal.tenant_id)
    reviews = await clients.reviews.of_job(principal.tenant_id, job.id)
    return ReviewList(items=[ReviewOut.from_review(review) for review in reviews])


@router.get(
    "/v1/reviews/export",
    responses={
        200: {
            "content": {"application/x-ndjson": {}, "text/csv": {}, "application/zip": {}},
            "description": "The latest label of each reviewed job and face.",
        }
    },
    summary="The labelled set: a JSONL or CSV manifest, or a zip with the images",
)
async def export_reviews(
    clients: ClientsDep, principal: ReadAccess, format: ExportFormat = ExportFormat.JSONL
) -> StreamingResponse:
    items = review_export.labelled(clients.reviews.latest(principal.tenant_id), clients.jobs)
    name = f"reviews.{format.value}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if format is ExportFormat.CSV:
        return StreamingResponse(
            review_export.csv_text(items), media_type="text/csv", headers=headers
        )
    if format is ExportFormat.ZIP:
        content = review_export.zipped(items, clients.objects.get_image)
        return StreamingResponse(content, media_type="application/zip", headers=headers)
    content_type = "application/x-ndjson"
    return StreamingResponse(review_export.jsonl(items), media_type=content_type, headers=headers)
