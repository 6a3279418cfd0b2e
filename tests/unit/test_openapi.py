"""The OpenAPI description is the contract: valid, complete, kept in the repository, and
the 405 answers name every method a path has."""

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openapi_spec_validator import validate

from gateway.batch_schemas import BatchOut
from gateway.main import create_app
from gateway.openapi_examples import RESOURCE_EXAMPLES
from gateway.schemas import JobOut
from gateway.webhook_schemas import WebhookCreate

EXPORTED = Path(__file__).parents[2] / "openapi" / "openapi.json"
PROTECTED_ERRORS = {"401", "403", "429"}


@pytest.fixture(scope="module")
def description() -> dict[str, Any]:
    return create_app().openapi()


def _operations(description: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, operations in description["paths"].items()
        for method, operation in operations.items()
    ]


def test_the_description_validates_with_every_reference_resolvable(
    description: dict[str, Any],
) -> None:
    validate(description)
    assert "$defs" not in json.dumps(description)


def test_the_exported_description_is_the_one_served(description: dict[str, Any]) -> None:
    # `make openapi` writes it; a change to the API shows in review.
    assert json.loads(EXPORTED.read_text()) == description


def test_operations_have_stable_names(description: dict[str, Any]) -> None:
    names = {operation["operationId"] for _, _, operation in _operations(description)}
    assert {"create_job", "get_job", "delete_job", "create_batch", "get_batch"} <= names
    assert {"list_models", "create_webhook", "redeliver_delivery", "get_health"} <= names
    assert all(name.isidentifier() and "_v1_" not in name for name in names)


def test_every_error_a_protected_route_answers_is_documented(
    description: dict[str, Any],
) -> None:
    for path, method, operation in _operations(description):
        if not path.startswith("/v1/"):
            continue
        responses = operation["responses"]
        assert operation["security"] == [{"HTTPBearer": []}], (method, path)
        assert operation["tags"], (method, path)
        expected = set(PROTECTED_ERRORS)
        if "{" in path:
            expected.add("404")
        if "requestBody" in operation:
            expected |= {"400", "413", "415", "422"}
        assert expected <= set(responses), (method, path, sorted(responses))
        for status in expected:
            media = responses[status]["content"]["application/json"]
            assert media["schema"] == {"$ref": "#/components/schemas/ErrorOut"}
            assert set(media["example"]["error"]) == {"code", "message"}


def test_every_json_body_and_answer_has_an_example(description: dict[str, Any]) -> None:
    for path, method, operation in _operations(description):
        bodies = {"request": operation.get("requestBody", {}), **operation["responses"]}
        for status, body in bodies.items():
            media = body.get("content", {}).get("application/json")
            assert media is None or "example" in media, (method, path, status)


def test_the_written_examples_are_answers_the_models_accept() -> None:
    JobOut.model_validate(RESOURCE_EXAMPLES["JobOut"])
    BatchOut.model_validate(RESOURCE_EXAMPLES["BatchOut"])
    WebhookCreate.model_validate(RESOURCE_EXAMPLES["WebhookCreate"])


def test_request_bodies_have_examples(description: dict[str, Any]) -> None:
    for path in ("/v1/jobs", "/v1/batches"):
        content = description["paths"][path]["post"]["requestBody"]["content"]
        assert set(content) == {"application/json", "multipart/form-data"}
        assert content["application/json"]["example"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/v1/jobs/job_x", "DELETE, GET, HEAD"),
        ("PATCH", "/v1/batches", "GET, HEAD, POST"),
        ("POST", "/v1/webhooks/wh_1", "DELETE, GET, HEAD"),
        ("OPTIONS", "/v1/webhooks/callback-secret", "GET, HEAD"),
        ("PUT", "/healthz", "GET, HEAD"),
    ],
)
def test_a_405_names_every_method_of_the_path(method: str, path: str, allowed: str) -> None:
    response = TestClient(create_app()).request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    assert response.json()["error"]["code"] == "method_not_allowed"
