"""The job document, its status machine and the Celery routing names both sides share."""

import secrets
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from storage.errors import ErrorCode
from storage.provenance import Provenance
from storage.review_labels import ReviewSummary


class JobStatus(StrEnum):
    QUEUED = "queued"
    FETCHING = "fetching"
    INFERRING = "inferring"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED)


# Which states a job may move to from each state. A worker that is handed a message twice
# re-enters the state it is already in (FETCHING -> FETCHING), which is allowed so that a
# redelivered task can finish what a dead worker started. A micro-batch judges its jobs
# without recording the states in between (QUEUED -> SUCCEEDED, one write per job); it
# still records when each job started, in `timestamps`.
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset(
        {JobStatus.FETCHING, JobStatus.INFERRING, JobStatus.SUCCEEDED, JobStatus.FAILED}
    ),
    JobStatus.FETCHING: frozenset(
        {JobStatus.FETCHING, JobStatus.INFERRING, JobStatus.SUCCEEDED, JobStatus.FAILED}
    ),
    JobStatus.INFERRING: frozenset({JobStatus.INFERRING, JobStatus.SUCCEEDED, JobStatus.FAILED}),
    JobStatus.SUCCEEDED: frozenset(),
    JobStatus.FAILED: frozenset(),
}


def allowed_sources(target: JobStatus) -> list[JobStatus]:
    """The states from which `target` may be entered, for a conditional update."""
    return [source for source, targets in TRANSITIONS.items() if target in targets]


class Queue(StrEnum):
    FETCH = "fetch"
    INFERENCE = "inference"
    # Deliveries wait on receivers (up to the webhook timeout): never behind inference.
    WEBHOOKS = "webhooks"
    # Jobs of bulk batches: workers take from these only when the interactive queues are empty.
    FETCH_BULK = "fetch_bulk"
    INFERENCE_BULK = "inference_bulk"
    # Reading a submitted batch's rows into jobs: after interactive work, before bulk jobs.
    BATCHES = "batches"
    # The reconciler's periodic passes: short and bounded, so taken before everything else.
    MAINTENANCE = "maintenance"


class TaskName(StrEnum):
    # Micro-batches: many jobs per task run (worker.micro_batch_tasks), what the gateway and
    # batch reading send.
    FETCH_IMAGES = "worker.fetch_images"
    JUDGE_IMAGES = "worker.judge_images"
    # One job per task run: retries, and jobs a lost worker gave back (worker.tasks).
    FETCH_IMAGE = "worker.fetch_image"
    RUN_INFERENCE = "worker.run_inference"
    DELIVER_WEBHOOK = "worker.deliver_webhook"
    RECONCILE = "worker.reconcile"
    CHECK_MODELS = "worker.check_models"
    PURGE_EXPIRED = "worker.purge_expired"
    EXPAND_BATCH = "worker.expand_batch"
    RESUME_BATCHES = "worker.resume_batches"
    SWEEP_DELIVERIES = "worker.sweep_deliveries"
    EXPLAIN_JOB = "worker.explain_job"


class Verdict(StrEnum):
    FAKE = "fake"
    REAL = "real"
    UNCERTAIN = "uncertain"
    # Face mode found no face: there is nothing the detector can judge.
    NO_FACE = "no_face"


class DetectionMode(StrEnum):
    # Find faces, judge each crop; the image scores as its most suspicious face.
    FACES = "faces"
    # Judge the whole image as one input, for models trained on whole images.
    WHOLE_IMAGE = "whole_image"


class SourceKind(StrEnum):
    URL = "url"
    UPLOAD = "upload"


# The tenant of everything created while authentication is off (local development).
DEFAULT_TENANT = "default"


def new_job_id() -> str:
    """128 random bits, URL-safe: unguessable, so an ID is as good as a capability."""
    return "job_" + secrets.token_urlsafe(16)


def utcnow() -> datetime:
    return datetime.now(UTC)


class ImageRef(BaseModel):
    sha256: str
    object_key: str
    size_bytes: int
    content_type: str | None = None


class FaceResult(BaseModel):
    box: tuple[int, int, int, int] = Field(
        description="x0, y0, x1, y1 in pixels of the upright image (x1, y1 exclusive)."
    )
    detection_score: float = Field(
        ge=0.0, le=1.0, description="P(face); 0 when a tight crop was judged whole."
    )
    fake_probability: float = Field(ge=0.0, le=1.0)
    verdict: Verdict


class JobResult(BaseModel):
    # The maximum over faces; None when no face was found.
    fake_probability: float | None = Field(ge=0.0, le=1.0)
    verdict: Verdict
    mode: DetectionMode = DetectionMode.WHOLE_IMAGE
    faces: list[FaceResult] = Field(default_factory=list)
    image_size: tuple[int, int] | None = Field(
        default=None,
        description="Width and height of the upright image the face boxes are in (a very "
        "large image is judged shrunk): scale the boxes by the shown size over this.",
    )
    model_name: str
    model_version: str
    face_detector: str | None = Field(
        default=None, description="name:version of the face detector, in face mode."
    )
    reused_from: str | None = Field(
        default=None,
        description="The earlier job of the same tenant whose scores this result reuses: "
        "identical image bytes, judged by the same model version in the same mode.",
    )
    provenance: Provenance | None = Field(
        default=None,
        description="What the image's own metadata (C2PA manifest, EXIF) says of its "
        "origin: claims of whoever wrote the file, not findings of the detector.",
    )


class JobError(BaseModel):
    code: ErrorCode
    message: str


class ModelRef(BaseModel):
    model_config = ConfigDict(frozen=True)  # hashable: clients cache per model

    name: str
    # Empty: the version Triton serves.
    version: str = ""


class Thresholds(BaseModel):
    """`fake` at or above `fake`, `real` below `real`, `uncertain` in between."""

    fake: float = Field(ge=0.0, le=1.0)
    real: float = Field(ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> "Thresholds":
        if self.real > self.fake:
            raise ValueError("the real threshold must not exceed the fake threshold")
        return self

    def verdict(self, fake_probability: float) -> "Verdict":
        if fake_probability >= self.fake:
            return Verdict.FAKE
        if fake_probability < self.real:
            return Verdict.REAL
        return Verdict.UNCERTAIN


class Job(BaseModel):
    id: str = Field(default_factory=new_job_id)
    tenant_id: str = DEFAULT_TENANT
    status: JobStatus = JobStatus.QUEUED
    source: SourceKind
    image_url: str | None = None
    image: ImageRef | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    # None: the worker's default model and thresholds (jobs from before they were recorded).
    model: ModelRef | None = None
    thresholds: Thresholds | None = None
    mode: DetectionMode = DetectionMode.FACES
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    # When the job entered each status, keyed by status value.
    timestamps: dict[str, datetime] = Field(default_factory=dict)
    # Time spent in each stage's work (fetch, load_and_decode, inference), for benchmarks.
    durations_ms: dict[str, float] = Field(default_factory=dict)
    result: JobResult | None = None
    error: JobError | None = None
    # Also receives this job's terminal event, signed with its tenant's callback secret.
    callback_url: str | None = None
    # Set on jobs created by a bulk batch (`POST /v1/batches`).
    batch_id: str | None = None
    external_id: str | None = None
    # The outbox flag: set by the terminal transition, cleared once the job's event (its
    # deliveries, its batch's completion) is recorded; the reconciler emits what a dead
    # worker left set.
    event_pending: bool = False
    event_emitted_at: datetime | None = None
    # Deliveries of this job's tasks that a lost worker gave back (its process died mid-task)
    # or that the reconciler sent again: past a bound the job fails `worker_lost`, so one
    # image that kills its worker cannot be redelivered forever.
    lost_deliveries: int = 0
    # The latest reviewer's label (storage.review_repository) and how many the job has had.
    review: ReviewSummary | None = None
    review_count: int = 0


# Where each task runs: fetching and inference scale on their own.
TASK_QUEUES: dict[TaskName, Queue] = {
    TaskName.FETCH_IMAGES: Queue.FETCH,
    TaskName.JUDGE_IMAGES: Queue.INFERENCE,
    TaskName.FETCH_IMAGE: Queue.FETCH,
    TaskName.RUN_INFERENCE: Queue.INFERENCE,
    TaskName.DELIVER_WEBHOOK: Queue.WEBHOOKS,
    TaskName.RECONCILE: Queue.MAINTENANCE,
    TaskName.CHECK_MODELS: Queue.MAINTENANCE,
    TaskName.PURGE_EXPIRED: Queue.MAINTENANCE,
    TaskName.EXPAND_BATCH: Queue.BATCHES,
    TaskName.RESUME_BATCHES: Queue.MAINTENANCE,
    TaskName.SWEEP_DELIVERIES: Queue.MAINTENANCE,
    TaskName.EXPLAIN_JOB: Queue.INFERENCE,
}

# Where a batch job's tasks run instead: behind every interactive job.
BULK_TASK_QUEUES: dict[TaskName, Queue] = {
    TaskName.FETCH_IMAGES: Queue.FETCH_BULK,
    TaskName.JUDGE_IMAGES: Queue.INFERENCE_BULK,
    TaskName.FETCH_IMAGE: Queue.FETCH_BULK,
    TaskName.RUN_INFERENCE: Queue.INFERENCE_BULK,
}


# The order a worker consumes its queues in (`-Q`): with the Redis transport's "priority"
# queue order strategy a worker takes from a queue only when every queue before it is empty,
# so batch jobs run only in capacity the interactive ones leave idle.
CONSUME_ORDER: tuple[Queue, ...] = (
    Queue.MAINTENANCE,
    Queue.WEBHOOKS,
    Queue.INFERENCE,
    Queue.FETCH,
    Queue.BATCHES,
    Queue.INFERENCE_BULK,
    Queue.FETCH_BULK,
)


def task_queue(task: TaskName, *, bulk: bool) -> Queue:
    return BULK_TASK_QUEUES.get(task, TASK_QUEUES[task]) if bulk else TASK_QUEUES[task]
