"""The deploy-check validator must refuse what it claims to refuse."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "validate_manifests.py"


@pytest.fixture(scope="module")
def validator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("validate_manifests", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HARDENED = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}
DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "gateway"},
    "spec": {
        "selector": {"matchLabels": {"app": "gateway"}},
        "template": {
            "metadata": {"labels": {"app": "gateway"}},
            "spec": {
                "securityContext": {"runAsNonRoot": True},
                "containers": [
                    {
                        "name": "gateway",
                        "image": "gateway",
                        "ports": [{"name": "http", "containerPort": 8080}],
                        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
                        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}},
                        "resources": {
                            "requests": {"cpu": "1", "memory": "1Gi"},
                            "limits": {"cpu": "1", "memory": "1Gi"},
                        },
                        "securityContext": HARDENED,
                    }
                ],
            },
        },
    },
}


def _broken(path: list[str], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(DEPLOYMENT)
    target: Any = doc
    for key in path[:-1]:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if value is None:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


CONTAINER = ["spec", "template", "spec", "containers", "0"]


def test_a_hardened_deployment_passes(validator: ModuleType) -> None:
    assert validator.schema_errors(DEPLOYMENT, "1.33.0") == []
    assert validator.pod_rule_errors(DEPLOYMENT) == []


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        (["spec", "template", "spec", "securityContext"], None, "runAsNonRoot"),
        ([*CONTAINER, "securityContext"], {**HARDENED, "readOnlyRootFilesystem": False}, "root"),
        ([*CONTAINER, "securityContext"], {**HARDENED, "capabilities": {}}, "capabilities"),
        ([*CONTAINER, "resources"], {"requests": {"cpu": "1", "memory": "1Gi"}}, "no limits"),
        ([*CONTAINER, "livenessProbe"], None, "liveness"),
        ([*CONTAINER, "readinessProbe"], None, "readiness"),
    ],
)
def test_pod_rules(validator: ModuleType, path: list[str], value: Any, error: str) -> None:
    (found,) = validator.pod_rule_errors(_broken(path, value))
    assert error in found


def test_unknown_fields_and_kinds_fail(validator: ModuleType) -> None:
    typo = _broken(["spec", "template", "spec", "terminationGracePeriod"], 30)
    assert "terminationGracePeriod" in validator.schema_errors(typo, "1.33.0")[0]
    assert "no schema" in validator.schema_errors({**DEPLOYMENT, "kind": "Deploymen"}, "1.33.0")[0]


def test_keda_objects_are_validated_strictly(validator: ModuleType) -> None:
    scaled: dict[str, Any] = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "worker"},
        "spec": {
            "scaleTargetRef": {"name": "worker"},
            "minReplicaCount": 0,
            "triggers": [{"type": "redis", "metadata": {"listName": "fetch"}}],
        },
    }
    assert validator.schema_errors(scaled, "1.33.0") == []
    scaled["spec"]["minReplicas"] = 1  # HPA's spelling, not KEDA's
    assert "minReplicas" in validator.schema_errors(scaled, "1.33.0")[0]
