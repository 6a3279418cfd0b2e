"""What the API returns, as the client sees it.

Lenient on purpose: fields a newer server adds are kept (`extra="allow"`), and enumerations
are plain strings, so an older client keeps reading a newer service. Each model's fields
are those of the OpenAPI schema named in its docstring (a unit test holds them so).
"""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# Job statuses; `succeeded` and `failed` are final.
TERMINAL_STATUSES = frozenset({"succeeded", "failed"})


class ApiModel(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())


class Face(ApiModel):
    """`FaceResult`: one face found in the image, judged on its own."""

    box: tuple[int, int, int, int]
    detection_score: float
    fake_probability: float
    verdict: str


class C2pa(ApiModel):
    """`C2paInfo`: the image's C2PA manifest (Content Credentials), as the worker read it."""

    present: bool
    error: str | None = None
    claim_generator: str | None = None
    title: str | None = None
    signature: str = "unknown"  # trusted, untrusted, invalid or unknown
    validation_failures: list[str] = []
    issuer: str | None = None
    signer: str | None = None
    signed_at: str | None = None
    digital_source_type: str | None = None
    ai_generated: bool = False
    actions: list[str] = []


class Exif(ApiModel):
    """`ExifInfo`."""

    software: str | None = None
    make: str | None = None
    model: str | None = None
    datetime_original: str | None = None
    artist: str | None = None


class Provenance(ApiModel):
    """`Provenance`: what the file claims of its origin (claims, not findings)."""

    c2pa: C2pa | None = None
    exif: Exif | None = None
    hints: list[str] = []


class Result(ApiModel):
    """`JobResult`."""

    fake_probability: float | None
    verdict: str  # fake, real, uncertain or no_face
    mode: str = "faces"
    faces: list[Face] = []
    model_name: str
    model_version: str
    face_detector: str | None = None
    reused_from: str | None = None
    # Width and height of the upright image the face boxes are in.
    image_size: tuple[int, int] | None = None
    provenance: Provenance | None = None


class ErrorInfo(ApiModel):
    """`JobError`: why a job failed (or a batch stopped reading), with a stable code."""

    code: str
    message: str


class Image(ApiModel):
    """`ImageOut`: the stored image a job was judged on."""

    sha256: str
    size_bytes: int
    content_type: str | None = None


class ModelRef(ApiModel):
    """`ModelRef`."""

    name: str
    version: str | None = None


class Thresholds(ApiModel):
    """`Thresholds`."""

    fake: float
    real: float


class ReviewSummary(ApiModel):
    """`ReviewSummary`: a job's latest review."""

    label: str  # fake, real or unsure
    face: int | None  # None: the whole image
    agreement: str  # agree, disagree or n/a
    reviewer: str | None
    created_at: datetime


class Job(ApiModel):
    """`JobOut`."""

    id: str
    status: str  # queued, fetching, inferring, succeeded or failed
    source: str | None = None  # url or upload
    image_url: str | None = None
    image: Image | None = None
    metadata: dict[str, Any] = {}
    model: ModelRef | None = None
    thresholds: Thresholds | None = None
    mode: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    timestamps: dict[str, datetime] = {}
    result: Result | None = None
    error: ErrorInfo | None = None
    callback_url: str | None = None
    review: ReviewSummary | None = None
    review_count: int = 0
    links: dict[str, str] = {}

    @property
    def done(self) -> bool:
        return self.status in TERMINAL_STATUSES


class JobPage(ApiModel):
    """`JobPage`: newest first; pass `next_cursor` back for the next page."""

    items: list[Job]
    next_cursor: str | None = None


class Model(ApiModel):
    """`ModelOut`: a detector a job may name."""

    name: str
    versions: list[str]
    input_size: list[int]
    default: bool


class RowError(ApiModel):
    """`RowError`: a batch row that did not become a job."""

    row: int
    code: str
    message: str


class Batch(ApiModel):
    """`BatchOut`."""

    id: str
    reading: bool
    rows_read: int
    total: int
    invalid_rows: int
    row_errors: list[RowError] = []
    counts: dict[str, int] = {}
    progress: float
    error: ErrorInfo | None = None
    cancelled_at: datetime | None = None
    completed_at: datetime | None = None
    created_at: datetime
    results: str

    @property
    def done(self) -> bool:
        return self.completed_at is not None

    @property
    def finished(self) -> int:
        """Jobs of the batch that ended, successfully or not."""
        return sum(n for status, n in self.counts.items() if status in TERMINAL_STATUSES)


class BatchPage(ApiModel):
    """`BatchPage`: newest first; pass `next_cursor` back for the next page."""

    items: list[Batch]
    next_cursor: str | None = None


class BatchResult(ApiModel):
    """One line of `GET /v1/batches/{id}/results` (JSONL)."""

    external_id: str | None = None
    job_id: str
    status: str
    verdict: str | None = None
    fake_probability: float | None = None
    error_code: str | None = None

    @property
    def done(self) -> bool:
        return self.status in TERMINAL_STATUSES


class Webhook(ApiModel):
    """`WebhookOut`: a registered endpoint (never its secret)."""

    id: str
    url: str
    event_types: list[str]
    description: str | None = None
    disabled: bool = False
    disabled_reason: str | None = None
    disabled_at: datetime | None = None
    failing_since: datetime | None = None
    created_at: datetime
    updated_at: datetime


class WebhookWithSecret(Webhook):
    """`WebhookSecretOut`: the answer to creating or rotating; the only time the secret shows."""

    secret: str


class CallbackSecret(ApiModel):
    """`CallbackSecretOut`: signs the tenant's `callback_url` deliveries."""

    secret: str
    previous_secret_expires_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class Attempt(ApiModel):
    """`Attempt`: one try at delivering an event."""

    series: int
    number: int
    at: datetime
    status_code: int | None = None
    latency_ms: float | None = None
    error: str | None = None


class Delivery(ApiModel):
    """`DeliveryOut`."""

    id: str
    message_id: str
    event_type: str
    destination: str  # endpoint or callback
    endpoint_id: str | None = None
    url: str
    job_id: str | None = None
    batch_id: str | None = None
    status: str  # pending, succeeded or failed
    series: int
    attempt_count: int
    next_attempt_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class DeliveryDetail(Delivery):
    """`DeliveryDetailOut`: a delivery with every attempt and the event as sent."""

    attempts: list[Attempt] = []
    payload: dict[str, Any] = Field(default_factory=dict)
