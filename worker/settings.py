"""Worker settings: environment variables prefixed `WORKER_`, groups nested with `__`."""

from functools import lru_cache

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from storage.settings import (
    CelerySettings,
    MongoSettings,
    ObjectStoreSettings,
    TritonSettings,
    VerdictSettings,
)
from worker.fetch import FetchSettings
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
    # A task running longer is interrupted and retried as a transient failure: the fetch
    # read timeout is per read, so a server trickling bytes would otherwise hold a worker.
    task_time_limit_s: float = Field(default=120.0, gt=0)


@lru_cache
def get_settings() -> Settings:
    return Settings()
