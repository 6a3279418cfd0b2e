"""Reading request bodies into validated models: JSON bodies and multipart form fields."""

import json
from typing import Any, TypeVar

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
