"""The OpenAPI description, completed so that generated clients and fuzzers can trust it.

FastAPI derives most of it from the routes. What it cannot know is added here, in one
place, from facts every route shares: each operation is named after its function (stable
`operationId`s), every schema is a component (nothing points into a request body's own
`$defs`), and every error a route can answer is listed with the error envelope and an
example: 401, 403 and 429 on every authenticated route, 404 where a path names a resource,
400, 413, 415 and 422 where a body is read. The description is also kept in
`openapi.json` at the top of the repository; a test compares the two.
"""

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from gateway.errors import error_body
from gateway.openapi_examples import RESOURCE_EXAMPLES
from gateway.schemas import URL_SCHEMA
from storage.errors import ErrorCode

Schema = dict[str, Any]

# Function names that would read oddly as client method names.
_OPERATION_IDS = {
    "healthz": "get_health",
    "readyz": "get_readiness",
    "redeliver": "redeliver_delivery",
    "rotate_secret": "rotate_webhook_secret",
    "batch_results": "get_batch_results",
}

_ERRORS: dict[int, tuple[str, ErrorCode, str]] = {
    400: ("The body could not be parsed.", ErrorCode.INVALID_REQUEST, "malformed body"),
    401: ("No valid API key.", ErrorCode.UNAUTHORIZED, "send an API key"),
    403: ("The key lacks the scope.", ErrorCode.FORBIDDEN, "this key lacks the admin scope"),
    404: ("No such resource for this tenant.", ErrorCode.NOT_FOUND, "not found"),
    409: ("In conflict with the resource's state.", ErrorCode.IDEMPOTENCY_KEY_IN_USE, "busy"),
    413: ("The body is too large.", ErrorCode.PAYLOAD_TOO_LARGE, "the body is too large"),
    415: ("The media type is not accepted.", ErrorCode.UNSUPPORTED_MEDIA_TYPE, "not accepted"),
    422: ("The request is invalid.", ErrorCode.INVALID_REQUEST, "image_url: Field required"),
    429: ("Too many requests or open jobs.", ErrorCode.RATE_LIMITED, "slow down"),
    503: ("A dependency is unavailable.", ErrorCode.SERVICE_UNAVAILABLE, "try again later"),
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 0},
    }
}
_ERROR_SCHEMA = {"$ref": "#/components/schemas/ErrorOut"}


def _or_empty(schema: Schema) -> Schema:
    # An empty form field counts as absent, as browsers send the fields left blank.
    return {"anyOf": [schema, {"type": "string", "maxLength": 0}]}


_FORM_OPTIONS: Schema = {
    "model": {"type": "string", "maxLength": 128, "description": "a detector from /v1/models"},
    "model_version": {"type": "string", "maxLength": 32},
    "mode": _or_empty({"$ref": "#/components/schemas/DetectionMode"}),
    "callback_url": {
        **_or_empty({"type": "string", **URL_SCHEMA}),
        "description": "http(s) URL that also receives the signed terminal event",
    },
    "thresholds": {
        "type": "string",
        "description": 'a JSON object, e.g. {"fake": 0.8, "real": 0.2}',
    },
}


def submission_body(
    json_schema: Schema,
    json_example: Schema,
    form_title: str,
    file: Schema,
    file_types: str,
    *,
    metadata: bool,
) -> Schema:
    """The request body of a route that takes JSON, or a multipart form (`form_title`) with
    a `file` and the same options as text fields."""
    properties: Schema = {"file": {"type": "string", "format": "binary", **file}}
    if metadata:
        properties["metadata"] = {"type": "string", "description": "a JSON object"}
    properties |= _FORM_OPTIONS
    return {
        "required": True,
        "content": {
            "application/json": {"schema": json_schema, "example": json_example},
            "multipart/form-data": {
                "schema": {
                    "title": form_title,
                    "type": "object",
                    "required": ["file"],
                    "properties": properties,
                },
                "encoding": {"file": {"contentType": file_types}},
            },
        },
    }


def operation_id(route: APIRoute) -> str:
    """`create_job`, `get_batch`, ...: the route function's name (FastAPI's
    `generate_unique_id_function`)."""
    return _OPERATION_IDS.get(route.name, route.name)


def install_openapi(app: FastAPI) -> None:
    """Serve the completed description at `/openapi.json` (and `/docs`)."""

    def openapi() -> Schema:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
            )
            app.openapi_schema = complete(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(schema: Schema) -> Schema:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    _hoist_definitions(schema, components)
    for path, method, operation in _operations(schema):
        _name_request_schemas(operation, components)
        _add_errors(path, method, operation)
        _add_examples(operation, components)
    # FastAPI's validation-error shapes are never answered: the envelope replaces them.
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    return schema


def _operations(schema: Schema) -> Iterator[tuple[str, str, Schema]]:
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            yield path, method, operation


def _name_request_schemas(operation: Schema, components: Schema) -> None:
    """A request body's inline schema with a title becomes the component of that name, so a
    generated client calls it `JobCreate`, not `CreateJobJsonJobCreate`."""
    for media in operation.get("requestBody", {}).get("content", {}).values():
        title = media.get("schema", {}).get("title")
        if title and "properties" in media["schema"]:
            components.setdefault(title, media["schema"])
            media["schema"] = {"$ref": f"#/components/schemas/{title}"}


def _add_examples(operation: Schema, components: Schema) -> None:
    """Every JSON body and answer without an example gets one, built from its schema."""
    bodies = [operation.get("requestBody", {}), *operation.get("responses", {}).values()]
    for body in bodies:
        media = body.get("content", {}).get("application/json")
        if media and "example" not in media:
            media["example"] = example_of(media.get("schema", {}), components)


_STRING_EXAMPLES = {
    "date-time": "2026-12-06T10:00:00Z",
    "uri": "https://images.example.com/upload/42.jpg",
}


def example_of(schema: Schema, components: Schema, depth: int = 0) -> Any:
    """A value that `schema` accepts: its own example or default, else one per type."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in RESOURCE_EXAMPLES:
            return RESOURCE_EXAMPLES[name]
        return example_of(components.get(name, {}), components, depth)
    for key in ("example", "default", "const"):
        if key in schema and schema[key] is not None:
            return schema[key]
    if schema.get("examples"):
        return schema["examples"][0]
    if "enum" in schema:
        return schema["enum"][0]
    options = schema.get("anyOf") or schema.get("oneOf") or schema.get("allOf")
    if options:
        chosen = [option for option in options if option.get("type") != "null"] or options
        return example_of(chosen[0], components, depth)
    kind = schema.get("type", "object")
    if kind == "object":
        if depth > 6:
            return {}
        properties = schema.get("properties", {})
        return {
            name: example_of(value, components, depth + 1) for name, value in properties.items()
        }
    if "prefixItems" in schema:
        return [example_of(item, components, depth + 1) for item in schema["prefixItems"]]
    if kind == "array":
        return [example_of(schema.get("items", {}), components, depth + 1)]
    if kind == "string":
        return _STRING_EXAMPLES.get(schema.get("format", ""), "string")
    if kind in ("integer", "number"):
        low = float(schema.get("minimum") or schema.get("exclusiveMinimum") or 0)
        return int(low) + 1 if kind == "integer" else max(low, 0.5)
    return kind == "boolean" or None


def _add_errors(path: str, method: str, operation: Schema) -> None:
    responses: Schema = operation.setdefault("responses", {})
    statuses: set[int] = set()
    if operation.get("security"):
        statuses |= {401, 403, 429}
    if any(parameter.get("in") == "path" for parameter in operation.get("parameters", [])):
        statuses |= {404, 422}
    if operation.get("parameters"):
        statuses.add(422)
    if "requestBody" in operation:
        statuses |= {400, 413, 415, 422}
    statuses |= {int(status) for status in responses if str(status)[0] in "45"}
    for status in sorted(statuses):
        responses[str(status)] = _error_response(status, responses.get(str(status)))


def _error_response(status: int, existing: Schema | None) -> Schema:
    description, code, message = _ERRORS[status]
    if existing and existing.get("description") not in (None, "Validation Error"):
        description = existing["description"]
    content = (existing or {}).get("content", {}).get("application/json", {})
    schema = content.get("schema", _ERROR_SCHEMA)
    if schema.get("$ref", "").endswith("/HTTPValidationError"):
        schema = _ERROR_SCHEMA
    response: Schema = {"description": description}
    media: Schema = {"schema": schema}
    if schema is _ERROR_SCHEMA or schema.get("$ref") == _ERROR_SCHEMA["$ref"]:
        media["example"] = error_body(code, message)
    response["content"] = {"application/json": media}
    if status in (429, 503):
        response["headers"] = _RETRY_AFTER
    if status == 401:
        response["headers"] = {
            "WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}
        }
    return response


def _hoist_definitions(schema: Schema, components: Schema) -> None:
    """Move every nested `$defs` into components and point references there."""

    def walk(node: Any, visit: Callable[[Schema], None]) -> None:
        if isinstance(node, dict):
            visit(node)
            for value in node.values():
                walk(value, visit)
        elif isinstance(node, list):
            for value in node:
                walk(value, visit)

    def hoist(node: Schema) -> None:
        for name, definition in node.pop("$defs", {}).items():
            components.setdefault(name, definition)
            walk(definition, hoist)

    def repoint(node: Schema) -> None:
        reference = node.get("$ref")
        if isinstance(reference, str) and reference.startswith("#/$defs/"):
            node["$ref"] = "#/components/schemas/" + reference.removeprefix("#/$defs/")

    walk(schema, hoist)
    walk(schema, repoint)


def main() -> None:
    """`python -m gateway.openapi > openapi.json`: the description a client is generated
    from, as the gateway serves it with the default settings."""
    import json
    import sys

    from gateway.main import create_app

    json.dump(create_app().openapi(), sys.stdout, indent=2, sort_keys=True, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
