"""Reading request bodies into validated models: JSON bodies and multipart form fields."""

import json
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Query
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from gateway.errors import ApiError
from gateway.schemas import JobOptions
from storage.errors import ErrorCode

M = TypeVar("M", bound=BaseModel)

# Form fields of an upload besides `file`; the JSON ones carry JSON objects as text.
FORM_FIELDS = {
    "metadata": True,
    "thresholds": True,
    "model": False,
    "model_version": False,
    "mode": False,
    "callback_url": False,
}


def options_from_form(form: FormData) -> JobOptions:
    fields: dict[str, Any] = {}
    for name, is_json in FORM_FIELDS.items():
        value = form.get(name)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise ApiError(422, ErrorCode.INVALID_REQUEST, f"{name} must be a text field")
        try:
            fields[name] = json.loads(value) if is_json else value
        except ValueError as error:
            raise ApiError(422, ErrorCode.INVALID_REQUEST, f"{name} must be JSON") from error
    return validated(JobOptions, fields)


def validated(model: type[M], data: bytes | dict[str, Any]) -> M:
    try:
        if isinstance(data, bytes):
            return model.model_validate_json(data)
        return model.model_validate(data)
    except ValidationError as error:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
            for e in error.errors()[:5]
        )
        raise ApiError(422, ErrorCode.INVALID_REQUEST, details) from error


def iso_moment(name: str, value: str | None) -> datetime | None:
    """An ISO 8601 time with a zone; numbers (which pydantic would read as Unix times) and
    times without a zone are refused."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ApiError(422, ErrorCode.INVALID_REQUEST, f"{name}: an ISO 8601 time with a zone")
    return moment


# Query parameters every listing takes (`GET /v1/jobs`, `GET /v1/batches`).
_TIME: dict[str, Any] = {"max_length": 64, "json_schema_extra": {"format": "date-time"}}
Cursor = Annotated[
    str | None, Query(max_length=256, description="`next_cursor` of the page before.")
]
CreatedAfter = Annotated[
    str | None, Query(description="Created at or after (ISO 8601, with a zone).", **_TIME)
]
CreatedBefore = Annotated[
    str | None, Query(description="Created before (ISO 8601, with a zone).", **_TIME)
]
