"""The public shapes of the API (what `/docs` shows), separate from stored documents."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

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


class ThresholdsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fake: float | None = Field(
        default=None, ge=0.0, le=1.0, description="`fake` at or above this probability."
    )
    real: float | None = Field(
        default=None, ge=0.0, le=1.0, description="`real` below this probability."
    )


class JobOptions(BaseModel):
    """What a submission may ask for besides the image, by JSON or as form fields."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    metadata: dict[str, Any] = Field(
        default_factory=dict, description="Opaque data returned with the job."
    )
    model: str | None = Field(
        default=None, max_length=128, description="A detector from `GET /v1/models`."
    )
    model_version: str | None = Field(
        default=None, max_length=32, description="A version of that detector; default latest."
    )
    thresholds: ThresholdsIn | None = Field(
        default=None, description="Override the default verdict thresholds for this job."
    )
    mode: DetectionMode = Field(
        default=DetectionMode.FACES,
        description="`faces`: find faces and judge each; `whole_image`: judge the image "
        "as one input (for models trained on whole images).",
    )


class JobCreate(JobOptions):
    image_url: str = Field(description="http or https URL of the image to judge.")


class ModelOut(BaseModel):
    name: str
    versions: list[str]
    input_size: list[int] = Field(description="[height, width] the model takes.")
    default: bool


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
