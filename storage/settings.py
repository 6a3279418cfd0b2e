"""Connection settings that the gateway and the workers both need.

Each service composes these groups into its own `Settings` (env prefixes `GATEWAY_` and
`WORKER_`, nested with `__`, e.g. `WORKER_MONGO__URL`).
"""

from pydantic import BaseModel, Field, SecretStr, model_validator


class MongoSettings(BaseModel):
    url: SecretStr = SecretStr("mongodb://127.0.0.1:27017/?retryWrites=false")
    database: str = "deepfake_detection"
    timeout_ms: int = Field(default=5000, ge=100)


class ObjectStoreSettings(BaseModel):
    endpoint: str = "127.0.0.1:9000"
    access_key: SecretStr = SecretStr("minioadmin")
    secret_key: SecretStr = SecretStr("minioadmin")
    bucket: str = "images"
    secure: bool = False
    region: str = "us-east-1"


class TritonSettings(BaseModel):
    url: str = "127.0.0.1:8001"
    model_name: str = "deepfake_detector"
    # Empty: whatever version Triton serves (its version policy decides).
    model_version: str = ""
    # Finds the faces that the detectors judge (jobs in `faces` mode).
    face_model_name: str = "face_detector"
    face_model_version: str = ""
    timeout_s: float = Field(default=10.0, gt=0)


class CelerySettings(BaseModel):
    broker_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    # Above the longest task (a fetch plus its retries' own waits are separate messages).
    visibility_timeout_s: int = Field(default=3600, ge=60)


class VerdictSettings(BaseModel):
    """`fake` at or above `fake_threshold`, `real` below `real_threshold`, else uncertain.

    The gateway applies these defaults to each job (a request may override them) and
    records them on the job, so a result always says which thresholds produced it.
    """

    fake_threshold: float = Field(default=0.7, ge=0.0, le=1.0)
    real_threshold: float = Field(default=0.3, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> "VerdictSettings":
        if self.real_threshold > self.fake_threshold:
            raise ValueError("real_threshold must not exceed fake_threshold")
        return self
