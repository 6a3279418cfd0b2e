"""The semantic deploy checks pass on the shipped forms and catch each breakage they exist for.

Each breakage is the shipped, rendered manifest with one change taken from how the deployment
was broken before (issue #11): the check must name it.
"""

from __future__ import annotations

import base64
import copy
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
sys.path.insert(0, str(SCRIPTS))

import compose_semantics  # noqa: E402
import deploy_facts  # noqa: E402
import manifest_semantics  # noqa: E402
from container_checks import credential_errors  # noqa: E402
from k8s_semantics import k8s_errors  # noqa: E402

Doc = dict[str, Any]
FULL = "k8s/overlays/dev+keda+network-policies+servicemonitor"
QUEUES = ["maintenance", "webhooks", "inference", "fetch", "batches", "inference_bulk"]


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Doc]]:
    try:
        kustomize = manifest_semantics.kustomize_command()
    except SystemExit:
        pytest.skip("no kustomize or kubectl (make deploy-check installs one)")
    forms = manifest_semantics.render_k8s(kustomize)
    # One form with every component: KEDA, policies and monitors together.
    extra = [
        d
        for form in ("k8s/overlays/dev+servicemonitor", "k8s/overlays/dev+network-policies")
        for d in forms[form]
        if d["kind"] in ("ServiceMonitor", "NetworkPolicy")
        or d["metadata"]["name"] == "worker-metrics"
    ]
    forms[FULL] = forms["k8s/overlays/dev+keda"] + [
        d for d in extra if d not in forms["k8s/overlays/dev+keda"]
    ]
    return forms


def test_every_shipped_form_passes(rendered: dict[str, list[Doc]]) -> None:
    for form, docs in rendered.items():
        if form != "k8s/base":
            assert k8s_errors(form, docs, manifest_semantics.external_secrets(form)) == []
    assert manifest_semantics.committed_credential_errors(deploy_facts.ROOT / "k8s") == []


def _find(docs: list[Doc], kind: str, name: str) -> Doc:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def _container(docs: list[Doc], name: str) -> Doc:
    container: Doc = _find(docs, "Deployment", name)["spec"]["template"]["spec"]["containers"][0]
    return container


def _no_command(docs: list[Doc]) -> None:
    _container(docs, "worker-bulk")["command"] = ["worker"]


def _part_of_not_on_pods(docs: list[Doc]) -> None:
    for doc in docs:
        if "template" in doc.get("spec", {}):
            doc["spec"]["template"]["metadata"]["labels"].pop("app.kubernetes.io/part-of", None)


def _pulled_latest(docs: list[Doc]) -> None:
    del _container(docs, "gateway")["imagePullPolicy"]


def _ready_on_triton(docs: list[Doc]) -> None:
    _container(docs, "gateway")["readinessProbe"]["httpGet"]["port"] = "http"


def _tls_mismatch(docs: list[Doc]) -> None:
    secret = _find(docs, "Secret", "deepfake-secrets")
    secret["data"]["REDIS_TLS"] = base64.b64encode(b"enable").decode()


def _replicas_under_hpa(docs: list[Doc]) -> None:
    _find(docs, "Deployment", "gateway")["spec"]["replicas"] = 2


def _admin_key_to_workers(docs: list[Doc]) -> None:
    _container(docs, "worker-bulk")["envFrom"].append({"secretRef": {"name": "gateway-secrets"}})


def _trust_any_proxy(docs: list[Doc]) -> None:
    _container(docs, "gateway").setdefault("env", []).append(
        {"name": "FORWARDED_ALLOW_IPS", "value": "*"}
    )


def _memory_over_limit(docs: list[Doc]) -> None:
    _container(docs, "worker-bulk")["resources"]["limits"]["memory"] = "2Gi"


def _webhooks_with_inference(docs: list[Doc]) -> None:
    for var in _container(docs, "worker-interactive")["env"]:
        if var["name"] == "CELERY_WORKER_QUEUES":
            var["value"] = "maintenance,webhooks,inference,fetch"


def _missing_setting(docs: list[Doc]) -> None:
    config = next(d for d in docs if d["kind"] == "ConfigMap")
    del config["data"]["WORKER_TRITON__URL"]


def _metrics_on_public_port(docs: list[Doc]) -> None:
    _find(docs, "ServiceMonitor", "gateway")["spec"]["endpoints"][0]["port"] = "http"


def _probe_port_undeclared(docs: list[Doc]) -> None:
    _container(docs, "gateway")["ports"].pop()


def _no_triton_budget_target(docs: list[Doc]) -> None:
    _find(docs, "PodDisruptionBudget", "triton")["spec"]["selector"]["matchLabels"] = {"x": "y"}


def _literal_password(docs: list[Doc]) -> None:
    _container(docs, "beat").setdefault("env", []).append(
        {"name": "WORKER_OBJECT_STORE__SECRET_KEY", "value": "dev-minio-password"}
    )


BREAKAGES: list[tuple[Callable[[list[Doc]], None], str]] = [
    (_no_command, "runs 'worker', which image worker does not provide"),
    (_part_of_not_on_pods, "NetworkPolicy/metrics-from-monitoring selects no pod"),
    (_pulled_latest, "(a mutable tag) is pulled"),
    (_ready_on_triton, "readiness is not the internal /readyz"),
    (_tls_mismatch, "reads Redis with TLS on while the broker URL is redis://"),
    (_replicas_under_hpa, "sets replicas under HorizontalPodAutoscaler/gateway"),
    (_admin_key_to_workers, "BOOTSTRAP_ADMIN_KEY reaches a non-gateway container"),
    (_trust_any_proxy, "trusts X-Forwarded-* headers from any address"),
    (_memory_over_limit, "exceed its memory limit of 2048 MB"),
    (_webhooks_with_inference, "takes webhook deliveries next to"),
    (_missing_setting, "WORKER_TRITON__URL is not set"),
    (_metrics_on_public_port, "serves /metrics only on its internal port"),
    (_probe_port_undeclared, "uses port 'internal', which is not declared"),
    (_no_triton_budget_target, "PodDisruptionBudget/triton selects no pod"),
    (_literal_password, "WORKER_OBJECT_STORE__SECRET_KEY holds a literal credential"),
]


@pytest.mark.parametrize(
    ("breakage", "message"), BREAKAGES, ids=lambda b: getattr(b, "__name__", "")
)
def test_each_breakage_is_caught(
    rendered: dict[str, list[Doc]], breakage: Callable[[list[Doc]], None], message: str
) -> None:
    docs = copy.deepcopy(rendered[FULL])
    breakage(docs)
    errors = k8s_errors(FULL, docs, {})
    assert any(message in error for error in errors), errors


def test_committed_secret_sources_are_refused(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text(
        "secretGenerator:\n  - name: s\n    literals: [PASSWORD=hunter2]\n"
    )
    errors = manifest_semantics.committed_credential_errors(tmp_path)
    assert any("literal value" in error for error in errors)
    assert credential_errors("X_URL", "mongodb://u:hunter2@h/", "f") != []
    assert credential_errors("X_URL", "mongodb://u:PASSWORD@h/", "f") == []
    assert credential_errors("REDIS_PASSWORD", "", "f") == []


def _compose(tmp_path: Path, text: str, env: str = "") -> list[str]:
    (tmp_path / "compose.yaml").write_text(text)
    (tmp_path / ".env.example").write_text(env)
    paths = [tmp_path / "compose.yaml"]
    return compose_semantics.compose_errors("c", paths, tmp_path / ".env.example", QUEUES, set())


def test_shipped_compose_forms_pass() -> None:
    root = deploy_facts.ROOT
    for form, files in manifest_semantics.COMPOSE_FORMS.items():
        paths = [root / name for name in files]
        assert (
            compose_semantics.compose_errors(form, paths, root / ".env.example", QUEUES, set())
            == []
        )


def test_compose_breakages_are_caught(tmp_path: Path) -> None:
    shipped = (deploy_facts.ROOT / "compose.yaml").read_text()
    env = (deploy_facts.ROOT / ".env.example").read_text()
    beat = shipped.replace("command: [beat,", "command: [celery, beat,")
    assert any("celery has no subcommand 'celery'" in e for e in _compose(tmp_path, beat, env))
    no_webhooks = shipped.replace("CELERY_WORKER_QUEUES: webhooks", "CELERY_WORKER_QUEUES: fetch")
    assert any(
        "no worker consumes queue 'webhooks'" in e for e in _compose(tmp_path, no_webhooks, env)
    )
    committed = env.replace("REDIS_PASSWORD=\n", "REDIS_PASSWORD=change-me\n")
    assert any("REDIS_PASSWORD holds" in e for e in _compose(tmp_path, shipped, committed))
    unlisted = env.replace("BOOTSTRAP_ADMIN_KEY=\n", "")
    assert any(
        "BOOTSTRAP_ADMIN_KEY is required" in e for e in _compose(tmp_path, shipped, unlisted)
    )


def test_compose_merge_rules() -> None:
    base = compose_semantics.load("a: {command: [x, y], ports: [1], deploy: {r: 1}, keep: 1}")
    over = compose_semantics.load("a: {command: [z], ports: [2], deploy: !reset {}}")
    assert compose_semantics.merge(base, over) == {
        "a": {"command": ["z"], "ports": [1, 2], "keep": 1}
    }
    env = {"SET": "v", "EMPTY": ""}
    assert compose_semantics.interpolate("${SET}-${EMPTY:-d}-${NONE?}-$$X", env) == (
        f"v-d-{compose_semantics.OPERATOR_VALUE}-$X"
    )


def test_dev_secrets_are_generated_once(tmp_path: Path) -> None:
    from dev_secrets import write_dev_secrets

    first = write_dev_secrets(tmp_path)
    content = (tmp_path / "gateway-secrets.env").read_text()
    assert len(first) == 5
    assert content.startswith("GATEWAY_AUTH__BOOTSTRAP_ADMIN_KEY=dfk_")
    assert write_dev_secrets(tmp_path) == []
    assert (tmp_path / "gateway-secrets.env").read_text() == content
    shutil.rmtree(tmp_path)


OLD_DOCKERFILE = """
FROM python:3.11 AS runtime
FROM runtime AS worker
ENV CELERY_APP=worker.celery_app
CMD ["celery", "worker", "--pool", "prefork"]
"""


def test_args_without_command_replace_only_the_cmd(monkeypatch: pytest.MonkeyPatch) -> None:
    import container_checks
    import deploy_facts

    images = deploy_facts.parse_dockerfile(OLD_DOCKERFILE)
    assert images["worker"].cmd[0] == "celery"
    assert images["worker"].entrypoint == []
    images["worker"].executables = frozenset({"celery", "python"})
    monkeypatch.setattr(container_checks, "images", lambda: images)
    monkeypatch.setattr(deploy_facts, "images", lambda: images)
    container = deploy_facts.Container(
        "k8s", "Deployment/beat", "beat", "x/worker:1", None, ["beat"]
    )
    (error,) = container_checks.command_errors(container)
    assert "runs 'beat', which image worker does not provide" in error
    container.command = ["celery"]
    assert container_checks.command_errors(container) == []
