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


class ImageSettings(BaseModel):
    # Far below Pillow's default (~89 Mpx): a 40 Mpx RGB decode already needs 120 MB.
    max_pixels: int = Field(default=40_000_000, ge=1)
    formats: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF", "BMP")


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
    retry: RetrySettings = RetrySettings()
    # A task running longer is interrupted and retried as a transient failure: the fetch
    # read timeout is per read, so a server trickling bytes would otherwise hold a worker.
    task_time_limit_s: float = Field(default=120.0, gt=0)


@lru_cache
def get_settings() -> Settings:
    return Settings()
