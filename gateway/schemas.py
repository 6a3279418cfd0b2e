"""The public shapes of the API (what `/docs` shows), separate from stored documents."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from storage.batch_values import check_value
from storage.job_view import ImageOut as ImageOut
from storage.job_view import JobLinks as JobLinks
from storage.job_view import JobOut as JobOut
from storage.job_view import job_path as job_path
from storage.jobs import DetectionMode

# What a URL the service fetches or posts to looks like, for clients and fuzzers; the
# service checks more (a public address, an allowed port) when it uses the URL.
URL_SCHEMA: dict[str, Any] = {
    "format": "uri",
    "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^\\s/?#]+",
    "maxLength": 2048,
}


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
    callback_url: str | None = Field(
        default=None,
        json_schema_extra=URL_SCHEMA,
        description="http(s) URL that also receives this job's signed `job.succeeded` or "
        "`job.failed` event.",
    )

    @field_validator("metadata")
    @classmethod
    def _storable(cls, metadata: dict[str, Any]) -> dict[str, Any]:
        # What JSON allows and the database or a JSON response would refuse later.
        if (problem := check_value(metadata)) is not None:
            raise ValueError(f"metadata {problem.message}")
        return metadata


class JobCreate(JobOptions):
    image_url: str = Field(
        description="http or https URL of the image to judge.", json_schema_extra=URL_SCHEMA
    )


class ModelOut(BaseModel):
    name: str
    versions: list[str]
    input_size: list[int] = Field(description="[height, width] the model takes.")
    default: bool


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorDetail


class ReadinessOut(BaseModel):
    status: str
    checks: dict[str, str]
    execution_providers: dict[str, str] = Field(
        default_factory=dict,
        description="Where each served model runs, by model name, as Triton's model config "
        "says: an ONNX Runtime execution provider such as `CUDAExecutionProvider` or "
        "`CPUExecutionProvider`. Empty while Triton's check fails.",
    )


class JobPage(BaseModel):
    """A page of `GET /v1/jobs`, newest first."""

    items: list[JobOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page. Stable: "
        "jobs created meanwhile never shift a page or repeat a job."
    )
