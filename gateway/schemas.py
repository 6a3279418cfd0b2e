"""The public shapes of the API (what `/docs` shows), separate from stored documents."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from storage.jobs import Job, JobError, JobResult, JobStatus, SourceKind


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image_url: str = Field(description="http or https URL of the image to judge.")
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="Opaque data returned with the job."
    )


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
    created_at: datetime
    updated_at: datetime
    timestamps: dict[str, datetime] = Field(
        description="When the job entered each status, keyed by status."
    )
    result: JobResult | None
    error: JobError | None
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
            created_at=job.created_at,
            updated_at=job.updated_at,
            timestamps=job.timestamps,
            result=job.result,
            error=job.error,
            links=JobLinks(self=job_path(job.id)),
        )


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorDetail


class ReadinessOut(BaseModel):
    status: str
    checks: dict[str, str]


def job_path(job_id: str) -> str:
    return f"/v1/jobs/{job_id}"
