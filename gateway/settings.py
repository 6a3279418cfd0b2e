"""Gateway settings: environment variables prefixed `GATEWAY_`, groups nested with `__`."""

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from storage.settings import (
    CelerySettings,
    MongoSettings,
    ObjectStoreSettings,
    TritonSettings,
    VerdictSettings,
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GATEWAY_", env_nested_delimiter="__", extra="ignore"
    )

    mongo: MongoSettings = MongoSettings()
    object_store: ObjectStoreSettings = ObjectStoreSettings()
    celery: CelerySettings = CelerySettings()
    triton: TritonSettings = TritonSettings()
    verdict: VerdictSettings = VerdictSettings()
    # How long the list of served models is reused before Triton is asked again.
    models_cache_s: float = Field(default=10.0, ge=0)
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    max_url_length: int = Field(default=2048, ge=16)
    max_metadata_bytes: int = Field(default=16 * 1024, ge=0)
    # Rows a bulk batch may hold, and the size of its uploaded file (read as a stream).
    max_batch_items: int = Field(default=100_000, ge=1)
    max_batch_upload_bytes: int = Field(default=64 * 1024 * 1024, ge=1)
    # Seconds each dependency gets to answer /readyz.
    readiness_timeout_s: float = Field(default=2.0, gt=0)
    # How long a rotated-out webhook secret keeps signing next to the new one.
    webhook_secret_grace_s: float = Field(default=24 * 3600, ge=0)


@lru_cache
def get_settings() -> Settings:
    return Settings()
