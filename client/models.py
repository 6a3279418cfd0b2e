"""What the API returns, as the client sees it: lenient, so newer servers stay readable."""

from typing import Any

from pydantic import BaseModel, ConfigDict


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())


class Face(_Response):
    box: tuple[int, int, int, int]
    detection_score: float
    fake_probability: float
    verdict: str


class Result(_Response):
    fake_probability: float | None
    verdict: str
    mode: str = "whole_image"
    faces: list[Face] = []
    model_name: str
    model_version: str
    face_detector: str | None = None


class JobError(_Response):
    code: str
    message: str


class Job(_Response):
    id: str
    status: str
    metadata: dict[str, Any] = {}
    image_url: str | None = None
    result: Result | None = None
    error: JobError | None = None

    @property
    def done(self) -> bool:
        return self.status in ("succeeded", "failed")


class Model(_Response):
    name: str
    versions: list[str]
    input_size: list[int]
    default: bool
