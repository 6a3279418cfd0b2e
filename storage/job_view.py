"""A job as the API shows it: `GET /v1/jobs/{id}` and the `data` of webhook events."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from storage.jobs import (
    DetectionMode,
    Job,
    JobError,
    JobResult,
    JobStatus,
    ModelRef,
    SourceKind,
    Thresholds,
)
from storage.review_labels import ReviewSummary


class ImageOut(BaseModel):
    sha256: str
    size_bytes: int
    content_type: str | None


class JobLinks(BaseModel):
    self: str


class JobOut(BaseModel):
    id: str
    status: JobStatus
    source: SourceKind
    image_url: str | None
    image: ImageOut | None
    metadata: dict[str, Any]
    model: ModelRef | None
    thresholds: Thresholds | None
    mode: DetectionMode
    created_at: datetime
    updated_at: datetime
    timestamps: dict[str, datetime] = Field(
        description="When the job entered each status, keyed by status."
    )
    result: JobResult | None
    error: JobError | None
    callback_url: str | None = Field(
        default=None, description="Where this job's events are also delivered."
    )
    review: ReviewSummary | None = Field(
        default=None, description="The latest reviewer's label, and whether the model agrees."
    )
    review_count: int = Field(default=0, description="How many reviews the job has had.")
    links: JobLinks

    @classmethod
    def from_job(cls, job: Job) -> "JobOut":
        return cls(
            id=job.id,
            status=job.status,
            source=job.source,
            image_url=job.image_url,
            image=None if job.image is None else ImageOut.model_validate(job.image.model_dump()),
            metadata=job.metadata,
            model=job.model,
            thresholds=job.thresholds,
            mode=job.mode,
            created_at=job.created_at,
            updated_at=job.updated_at,
            timestamps=job.timestamps,
            result=job.result,
            error=job.error,
            callback_url=job.callback_url,
            review=job.review,
            review_count=job.review_count,
            links=JobLinks(self=job_path(job.id)),
        )


def job_path(job_id: str) -> str:
    return f"/v1/jobs/{job_id}"
