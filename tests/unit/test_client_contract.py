"""The client against the service's description of itself: same API version, and model
fields that the OpenAPI schemas define."""

import ast
import json
import tomllib
from pathlib import Path

import deepfake_client
import pytest
from deepfake_client import models, review_models
from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[2]
CLIENT_SRC = ROOT / "client" / "src" / "deepfake_client"
OPENAPI = json.loads((ROOT / "openapi" / "openapi.json").read_text())
SERVER_PACKAGES = {"gateway", "worker", "storage", "devstack", "bench", "evaluation", "tests"}

# Each client model and the schema of the same answer.
SCHEMAS: dict[type[BaseModel], str] = {
    models.Face: "FaceResult",
    models.C2pa: "C2paInfo",
    models.Exif: "ExifInfo",
    models.Provenance: "Provenance",
    models.Result: "JobResult",
    models.ErrorInfo: "JobError",
    models.Image: "ImageOut",
    models.ModelRef: "ModelRef",
    models.Thresholds: "Thresholds",
    models.ReviewSummary: "ReviewSummary",
    models.Job: "JobOut",
    models.JobPage: "JobPage",
    models.Model: "ModelOut",
    models.RowError: "RowError",
    models.Batch: "BatchOut",
    models.BatchPage: "BatchPage",
    models.Webhook: "WebhookOut",
    models.WebhookWithSecret: "WebhookSecretOut",
    models.CallbackSecret: "CallbackSecretOut",
    models.Attempt: "Attempt",
    models.Delivery: "DeliveryOut",
    models.DeliveryDetail: "DeliveryDetailOut",
    review_models.Review: "ReviewOut",
    review_models.ReviewList: "ReviewList",
    review_models.OcclusionMethod: "OcclusionMethod",
    review_models.ExplainedFace: "ExplainedFaceOut",
    review_models.Explanation: "ExplanationOut",
}


def _gateway_version() -> str:
    tree = ast.parse((ROOT / "gateway" / "main.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "FastAPI":
            for keyword in node.keywords:
                if keyword.arg == "version" and isinstance(keyword.value, ast.Constant):
                    return str(keyword.value.value)
    raise AssertionError("gateway/main.py names no FastAPI(version=...)")


def test_the_client_is_versioned_with_the_api() -> None:
    assert deepfake_client.__version__ == _gateway_version() == OPENAPI["info"]["version"]
    project = tomllib.loads((ROOT / "client" / "pyproject.toml").read_text())["project"]
    assert project["name"] == "deepfake-client"
    assert "version" in project["dynamic"]


def test_the_library_depends_on_httpx_and_pydantic_only() -> None:
    project = tomllib.loads((ROOT / "client" / "pyproject.toml").read_text())["project"]
    names = {dep.split(">")[0].split("=")[0].split("[")[0] for dep in project["dependencies"]}
    assert names == {"httpx", "pydantic"}
    imported = set()
    for path in CLIENT_SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split(".")[0])
    assert not imported & SERVER_PACKAGES


@pytest.mark.parametrize("model", list(SCHEMAS), ids=lambda model: model.__name__)
def test_each_model_field_is_in_the_servers_schema(model: type[BaseModel]) -> None:
    name = SCHEMAS[model]
    schema = OPENAPI["components"]["schemas"].get(name)
    if schema is None:
        pytest.skip(f"{name} is not in openapi/openapi.json yet (make openapi)")
    described = set(schema["properties"])
    assert set(model.model_fields) <= described
    # Everything the server always sends, the client reads.
    assert set(schema.get("required", [])) <= set(model.model_fields)


def _export_columns() -> list[str]:
    tree = ast.parse((ROOT / "gateway" / "review_export.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "COLUMNS":
            return list(ast.literal_eval(node.value))
    raise AssertionError("gateway/review_export.py names no COLUMNS")


def test_a_review_row_has_every_column_of_the_export() -> None:
    # The export's rows have no schema of their own: the gateway's column list is theirs.
    assert list(review_models.ReviewRow.model_fields) == _export_columns()
