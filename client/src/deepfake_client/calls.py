"""Each API call as data: the request to send and how to read its answer.

The synchronous and asynchronous clients share these and differ only in how they send.
"""

import json
import mimetypes
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Generic, TypedDict, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from deepfake_client.errors import api_error

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

FileSource = str | Path | bytes


class BatchOptions(TypedDict, total=False):
    """What a batch applies to every job of it."""

    model: str
    model_version: str
    mode: str  # "faces" (the default) or "whole_image"
    thresholds: dict[str, float]  # {"fake": 0.9, "real": 0.4}
    callback_url: str


class JobOptions(BatchOptions, total=False):
    metadata: dict[str, Any]


class JobFilters(TypedDict, total=False):
    """`GET /v1/jobs` filters; metadata_key and metadata_value go together."""

    status: str
    verdict: str
    model: str
    batch_id: str
    external_id: str
    metadata_key: str
    metadata_value: str
    created_after: datetime | str
    created_before: datetime | str
    reviewed: bool


class BatchFilters(TypedDict, total=False):
    created_after: datetime | str
    created_before: datetime | str


@dataclass(frozen=True)
class Upload:
    """A multipart file part; a path is opened again for every attempt."""

    filename: str
    source: Path | bytes
    content_type: str | None = None

    @classmethod
    def of(cls, file: FileSource, filename: str | None, default_name: str) -> "Upload":
        if isinstance(file, bytes):
            name = filename or default_name
            return cls(name, file, mimetypes.guess_type(name)[0])
        path = Path(file)
        name = filename or path.name
        return cls(name, path, mimetypes.guess_type(name)[0])


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    # Safe to send again when the answer was lost: reads, deletes, keyed submissions.
    resendable: bool
    params: Mapping[str, str | int | float] = field(default_factory=dict)
    json: Any = None
    form: Mapping[str, str] | None = None
    upload: Upload | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    # Seconds the server may hold the answer (long-polling): added to the read timeout.
    held_s: float = 0.0


def checked(response: httpx.Response) -> httpx.Response:
    if not response.is_success:
        raise api_error(response)
    return response


def as_model(model: type[M]) -> Callable[[httpx.Response], M]:
    return lambda response: model.model_validate_json(checked(response).content)


def as_models(model: type[M]) -> Callable[[httpx.Response], list[M]]:
    return lambda response: [model.model_validate(item) for item in checked(response).json()]


def as_none(response: httpx.Response) -> None:
    checked(response)


def as_bytes(response: httpx.Response) -> bytes:
    return checked(response).content


def segment(value: str) -> str:
    """An ID as one path segment, whatever characters it holds."""
    return quote(value, safe="")


def query(values: Mapping[str, Any]) -> dict[str, str | int | float]:
    """Query parameters without the unset ones; times in ISO 8601, booleans as JSON."""
    params: dict[str, str | int | float] = {}
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, bool):
            value = "true" if value else "false"
        params[name] = value
    return params


def form_fields(options: Mapping[str, Any]) -> dict[str, str]:
    """Submission options as multipart form fields: objects as JSON text."""
    return {
        name: value if isinstance(value, str) else json.dumps(value)
        for name, value in options.items()
        if value is not None
    }


def keyed(idempotency_key: str) -> dict[str, str]:
    return {"Idempotency-Key": idempotency_key}


def timeout_with(timeout: httpx.Timeout, held_s: float) -> httpx.Timeout:
    """`timeout`, with the read allowed `held_s` longer (a long-polled answer)."""
    if held_s <= 0:
        return timeout
    return httpx.Timeout(
        connect=timeout.connect,
        read=None if timeout.read is None else timeout.read + held_s,
        write=timeout.write,
        pool=timeout.pool,
    )


def build_request(
    http: httpx.Client | httpx.AsyncClient, call: Call[Any], files_open: ExitStack
) -> httpx.Request:
    """The request of one attempt. An upload from a path is opened in `files_open` and
    streamed from it (a batch file may be large), afresh for every attempt."""
    files = None
    if call.upload is not None:
        upload = call.upload
        content: bytes | BinaryIO = upload.source if isinstance(upload.source, bytes) else b""
        if isinstance(upload.source, Path):
            content = files_open.enter_context(upload.source.open("rb"))
        files = {"file": (upload.filename, content, upload.content_type)}
    return http.build_request(
        call.method,
        call.path,
        params=dict(call.params) or None,
        json=call.json,
        data=dict(call.form) if call.form is not None else None,
        files=files,
        headers=dict(call.headers),
        timeout=timeout_with(http.timeout, call.held_s),
    )
