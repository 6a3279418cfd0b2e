"""Worker settings: environment variables prefixed `WORKER_`, groups nested with `__`."""

from functools import lru_cache

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from storage.settings import (
    CelerySettings,
    MongoSettings,
    ObjectStoreSettings,
    TritonSettings,
    VerdictSettings,
)
from worker.fetch import FetchSettings
from worker.provenance import ProvenanceSettings
from worker.webhooks import WebhookSettings


class ImageSettings(BaseModel):
    # Far below Pillow's default (~89 Mpx): a 40 Mpx RGB decode already needs 120 MB.
    max_pixels: int = Field(default=40_000_000, ge=1)
    formats: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF", "BMP")
    # Larger images are shrunk after decoding: bounds memory and detection time.
    max_side: int = Field(default=4096, ge=256)


class FaceSettings(BaseModel):
    score_threshold: float = Field(default=0.6, gt=0.0, le=1.0)
    iou_threshold: float = Field(default=0.3, gt=0.0, le=1.0)
    # The crop is the face box's longer side x (1 + 2 * margin).
    crop_margin: float = Field(default=0.3, ge=0.0, le=2.0)
    # Faces judged per image, largest detector scores first (one request to the detector).
    max_faces: int = Field(default=32, ge=1, le=64)
    # When no face is found, a small, roughly square image is judged whole: it is most
    # likely a face crop cut tighter than the face detector recognises.
    whole_image_fallback_max_side: int = Field(default=512, ge=0)
    whole_image_fallback_max_aspect: float = Field(default=1.25, ge=1.0)


class RetrySettings(BaseModel):
    max_retries: int = Field(default=5, ge=0)
    backoff_base_s: float = Field(default=1.0, ge=0)
    backoff_max_s: float = Field(default=60.0, ge=0)


class MetricsSettings(BaseModel):
    # The main process serves Prometheus metrics here; 0 turns worker metrics off.
    port: int = Field(default=9808, ge=0, le=65535)
    # Loopback by default; containers set 0.0.0.0 so that Prometheus can reach it.
    host: str = "127.0.0.1"


class ReconcilerSettings(BaseModel):
    """The periodic passes that recover what a crash lost (see worker.reconciler)."""

    interval_s: float = Field(default=30.0, gt=0)
    # A queued or running job untouched this long, whose queue is drained, lost its task.
    # Keep it above the longest task plus its retry waits (the retry backoff bounds them).
    stuck_after_s: float = Field(default=600.0, gt=0)
    # A terminal job whose event is still pending this long: its worker died emitting it.
    event_after_s: float = Field(default=60.0, gt=0)
    # A pending delivery due and untouched this long lost its task; keep it above the
    # webhook timeout, or an attempt still being sent is sent twice.
    delivery_after_s: float = Field(default=300.0, gt=0)
    # A stuck job whose queue is not drained may still have its message in that backlog;
    # past this longer deadline it is enqueued again anyway (a second message is harmless:
    # every transition is conditional), so a busy queue cannot hide a lost job for good.
    stuck_under_backlog_after_s: float = Field(default=3600.0, gt=0)
    # Documents of each kind handled per pass: a backlog is worked off over several passes.
    batch_limit: int = Field(default=500, ge=1)
    # How often every loaded model is probed with one request (and reloaded when it fails).
    model_check_interval_s: float = Field(default=15.0, gt=0)


class RetentionSettings(BaseModel):
    """How long data is kept, counted from the job's creation; 0 keeps it forever.

    Images go first (they are only needed to score the job); results, batches and webhook
    deliveries go when `results_days` have passed. `DELETE` on a job or batch removes it
    at once.
    """

    images_days: float = Field(default=7.0, ge=0)
    results_days: float = Field(default=30.0, ge=0)
    interval_s: float = Field(default=300.0, gt=0)
    # Jobs handled per pass; a backlog is worked off over several passes.
    batch_limit: int = Field(default=5000, ge=1)


class MicroBatchSettings(BaseModel):
    """How jobs are grouped: one task run takes up to `size` ready jobs, reads them in one
    query, fetches and loads their images in parallel, sends one Triton request per model
    and writes every result in one bulk write (worker.micro_batch_tasks)."""

    size: int = Field(default=16, ge=1, le=256)
    # Jobs of bulk batches one micro-batch takes at most: fewer, so that a pool process is
    # free again sooner for an interactive job (on a worker that serves both lanes).
    bulk_size: int = Field(default=4, ge=1, le=256)
    # A partial micro-batch waits this long for more jobs before it runs.
    flush_ms: float = Field(default=10.0, gt=0)
    # A download not done after this long leaves its micro-batch and runs alone (its own
    # task, its own time limit): a slow server does not hold up the other jobs.
    fetch_wait_s: float = Field(default=5.0, gt=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="WORKER_", env_nested_delimiter="__", extra="ignore"
    )

    mongo: MongoSettings = MongoSettings()
    object_store: ObjectStoreSettings = ObjectStoreSettings()
    celery: CelerySettings = CelerySettings()
    triton: TritonSettings = TritonSettings()
    fetch: FetchSettings = FetchSettings()
    image: ImageSettings = ImageSettings()
    verdict: VerdictSettings = VerdictSettings()
    faces: FaceSettings = FaceSettings()
    retry: RetrySettings = RetrySettings()
    webhook: WebhookSettings = WebhookSettings()
    reconciler: ReconcilerSettings = ReconcilerSettings()
    retention: RetentionSettings = RetentionSettings()
    metrics: MetricsSettings = MetricsSettings()
    micro_batch: MicroBatchSettings = MicroBatchSettings()
    provenance: ProvenanceSettings = ProvenanceSettings()
    # A task running longer is interrupted and retried as a transient failure: the fetch
    # read timeout is per read, so a server trickling bytes would otherwise hold a worker.
    task_time_limit_s: float = Field(default=120.0, gt=0)
    # Identical bytes of a tenant, judged by the same model version: reuse the earlier scores.
    reuse_results: bool = True
    # A job whose task a lost worker gave back (its process killed mid-task: out of memory,
    # a decoder crash, the hard time limit) this many times fails `worker_lost`.
    max_lost_deliveries: int = Field(default=5, ge=1)
    # Address-space limit of each pool process (RLIMIT_AS), in MiB; 0: none. Size the
    # worker's memory limit to at least concurrency x this plus ~300 MiB for the main process:
    # an image that needs more fails its own job (MemoryError) instead of the whole pod.
    memory_limit_mb: int = Field(default=2048, ge=0)
    # Chunks of 500 rows one task reads from a submitted batch before handing on.
    batch_chunks_per_task: int = Field(default=20, ge=1)

    @model_validator(mode="after")
    def _webhook_countdowns_within_visibility(self) -> "Settings":
        # A countdown the broker holds past its visibility timeout is handed out again.
        if self.webhook.countdown_max_s * 2 > self.celery.visibility_timeout_s:
            raise ValueError(
                "webhook.countdown_max_s must stay under half of celery.visibility_timeout_s"
            )
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
