"""Gateway settings: environment variables prefixed `GATEWAY_`, groups nested with `__`."""

from functools import lru_cache

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from storage.jobs import DEFAULT_TENANT
from storage.settings import (
    CelerySettings,
    MongoSettings,
    ObjectStoreSettings,
    TritonSettings,
    VerdictSettings,
)


class AuthSettings(BaseModel):
    # Local development only: every request acts for `bootstrap_tenant` with every scope.
    disabled: bool = False
    # Recorded at startup as an admin key of `bootstrap_tenant` (first deployment, tests).
    bootstrap_admin_key: SecretStr | None = None
    bootstrap_tenant: str = DEFAULT_TENANT
    # How long a looked-up key is trusted before MongoDB is asked again (revocation delay).
    cache_s: float = Field(default=10.0, ge=0)


class RateLimitSettings(BaseModel):
    """A token bucket per API key, kept in Redis so every gateway replica shares it."""

    # Sustained requests per second per key; 0 turns the limit off.
    requests_per_s: float = Field(default=50.0, ge=0)
    burst: int = Field(default=100, ge=1)


class MetricsSettings(BaseModel):
    """`GET /metrics`: job counts and queue depths are read when Prometheus scrapes."""

    # MongoDB and Redis each get this long per scrape; a late one's samples are left out.
    timeout_s: float = Field(default=1.0, gt=0)
    # Job counts are reused this long: several scrapers cost one aggregation.
    jobs_cache_s: float = Field(default=10.0, ge=0)


class InternalSettings(BaseModel):
    """The internal port: `/healthz`, `/readyz` and `/metrics` for probes and Prometheus."""

    # 0 serves none (the API port then has no `/metrics`).
    port: int = Field(default=9100, ge=0, le=65535)
    # Loopback by default; containers set 0.0.0.0 and keep the port off any public Service.
    host: str = "127.0.0.1"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GATEWAY_", env_nested_delimiter="__", extra="ignore"
    )

    mongo: MongoSettings = MongoSettings()
    object_store: ObjectStoreSettings = ObjectStoreSettings()
    celery: CelerySettings = CelerySettings()
    triton: TritonSettings = TritonSettings()
    verdict: VerdictSettings = VerdictSettings()
    auth: AuthSettings = AuthSettings()
    rate_limit: RateLimitSettings = RateLimitSettings()
    metrics: MetricsSettings = MetricsSettings()
    internal: InternalSettings = InternalSettings()
    # Jobs a tenant may have queued or running at once; 0 turns the limit off.
    max_open_jobs: int = Field(default=200_000, ge=0)
    # How old the count of a tenant's open jobs may get before it is read again.
    open_jobs_cache_s: float = Field(default=5.0, ge=0)
    # How long an `Idempotency-Key` and its response are kept.
    idempotency_ttl_s: int = Field(default=24 * 3600, ge=60)
    # How long a request still running holds its key (a large batch file takes a while).
    idempotency_lease_s: int = Field(default=900, ge=10)
    # How long the list of served models is reused before Triton is asked again.
    models_cache_s: float = Field(default=10.0, ge=0)
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    max_url_length: int = Field(default=2048, ge=16)
    max_metadata_bytes: int = Field(default=16 * 1024, ge=0)
    # Rows a bulk batch may hold, and the size of its uploaded file (read as a stream).
    max_batch_items: int = Field(default=100_000, ge=1)
    max_batch_upload_bytes: int = Field(default=64 * 1024 * 1024, ge=1)
    # A JSON body is parsed whole in memory: JSON `items` stay few, files carry big batches.
    max_batch_json_items: int = Field(default=1000, ge=1)
    # Every body that is not multipart (JSON, or anything else), on every route.
    max_json_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Seconds each dependency gets to answer /readyz.
    readiness_timeout_s: float = Field(default=2.0, gt=0)
    # `GET /v1/jobs/{id}?wait=` holds the request at most this long for the job to end; a
    # waiting request also reads MongoDB every `wait_recheck_s` (announcements can be lost).
    max_wait_s: float = Field(default=30.0, ge=0, le=300)
    wait_recheck_s: float = Field(default=2.0, gt=0)
    # How long one readiness check answers every probe (both ports).
    readiness_cache_s: float = Field(default=1.5, ge=0)
    # How long a rotated-out webhook secret keeps signing next to the new one.
    webhook_secret_grace_s: float = Field(default=24 * 3600, ge=0)


@lru_cache
def get_settings() -> Settings:
    return Settings()
