"""Validate deployment files offline (scripts/check-deploy.sh runs this).

    python scripts/validate_manifests.py k8s RENDERED.yaml... [--kubernetes-version 1.33.0]
    python scripts/validate_manifests.py compose compose.cpu.yaml...

`k8s` checks rendered manifests: built-in kinds with kubernetes-validate --strict (schemas
shipped in that package); KEDA and prometheus-operator kinds against JSON schemas generated from
the cloudcoil model packages, made strict (an unknown field fails); any other kind fails. Then
the rules every pod here follows: non-root, no privilege escalation, no capabilities, read-only
root filesystem, requests and limits, a liveness probe on long-running containers and a
readiness probe on those that serve a port.

`compose` checks compose override files against the compose-spec schema that check-jsonschema
vendors, reading compose's own YAML tags (`!reset`, `!override`), which other YAML tools refuse.
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import sys
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]
import yaml
from pydantic import BaseModel

# kubernetes-validate parses its (large) schema files again for every resource; they never
# change during a run, so each is parsed once.
kubernetes_validate.utils.schema_contents = cache(kubernetes_validate.utils.schema_contents)

Doc = dict[str, Any]
POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}
LONG_RUNNING_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}


def _keda(kind: str) -> type[BaseModel]:
    from cloudcoil.models.keda import v1alpha1

    model: type[BaseModel] = getattr(v1alpha1, kind)
    return model


def _prometheus(kind: str) -> type[BaseModel]:
    from cloudcoil.models.prometheus_operator import v1

    model: type[BaseModel] = getattr(v1, kind)
    return model


CUSTOM_KINDS: dict[tuple[str, str], Callable[[str], type[BaseModel]]] = {
    ("keda.sh/v1alpha1", "ScaledObject"): _keda,
    ("keda.sh/v1alpha1", "TriggerAuthentication"): _keda,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): _prometheus,
    ("monitoring.coreos.com/v1", "PodMonitor"): _prometheus,
}


def _strict(schema: Any) -> Any:
    """The same schema with `additionalProperties: false` on every object with properties."""
    if isinstance(schema, dict):
        strict = {key: _strict(value) for key, value in schema.items()}
        if "properties" in strict and "additionalProperties" not in strict:
            strict["additionalProperties"] = False
        return strict
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


@cache
def custom_validator(api_version: str, kind: str) -> jsonschema.protocols.Validator:
    model = CUSTOM_KINDS[(api_version, kind)](kind)
    schema = _strict(model.model_json_schema(by_alias=True))
    validator: jsonschema.protocols.Validator = jsonschema.Draft202012Validator(schema)
    return validator


def schema_errors(doc: Doc, version: str) -> list[str]:
    api_version, kind = doc.get("apiVersion", ""), doc.get("kind", "")
    if (api_version, kind) in CUSTOM_KINDS:
        validator = custom_validator(api_version, kind)
        return [
            f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in validator.iter_errors(doc)
        ]
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{'.'.join(map(str, error.path)) or '(root)'}: {error.message}"]
    except kubernetes_validate.utils.SchemaNotFoundError:
        return [f"no schema for {api_version} {kind}: an unknown kind or a typo"]
    return []


def _pod_spec(doc: Doc) -> Doc | None:
    if doc["kind"] == "CronJob":
        spec: Doc = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        return spec
    if doc["kind"] in POD_TEMPLATE_KINDS:
        spec = doc["spec"]["template"]["spec"]
        return spec
    return None


def _containers(pod: Doc) -> Iterator[tuple[Doc, bool]]:
    for container in pod.get("initContainers", []):
        yield container, True
    for container in pod["containers"]:
        yield container, False


def pod_rule_errors(doc: Doc) -> list[str]:
    pod = _pod_spec(doc)
    if pod is None:
        return []
    errors = []
    pod_non_root = pod.get("securityContext", {}).get("runAsNonRoot") is True
    for container, is_init in _containers(pod):
        name = container["name"]
        security = container.get("securityContext", {})
        if not (pod_non_root or security.get("runAsNonRoot") is True):
            errors.append(f"{name}: runAsNonRoot is not set")
        if security.get("allowPrivilegeEscalation") is not False:
            errors.append(f"{name}: allowPrivilegeEscalation is not false")
        if "ALL" not in security.get("capabilities", {}).get("drop", []):
            errors.append(f"{name}: capabilities are not all dropped")
        if security.get("readOnlyRootFilesystem") is not True:
            errors.append(f"{name}: root filesystem is writable")
        resources = container.get("resources", {})
        for bound in ("requests", "limits"):
            missing = {"cpu", "memory"} - set(resources.get(bound, {}))
            if missing:
                errors.append(f"{name}: no {bound} for {', '.join(sorted(missing))}")
        if is_init or doc["kind"] not in LONG_RUNNING_KINDS:
            continue
        if "livenessProbe" not in container:
            errors.append(f"{name}: no liveness probe")
        serves = [p for p in container.get("ports", []) if p.get("name") != "metrics"]
        if serves and "readinessProbe" not in container:
            errors.append(f"{name}: serves a port but has no readiness probe")
    return errors


def check_k8s(paths: list[Path], version: str) -> int:
    failures = checked = 0
    for path in paths:
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc:
                continue
            checked += 1
            where = f"{path}: {doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
            for error in schema_errors(doc, version) + pod_rule_errors(doc):
                print(f"ERROR {where}: {error}")
                failures += 1
    print(f"{len(paths)} rendered files, {checked} resources checked, {failures} errors")
    return 1 if failures or not checked else 0


class ComposeLoader(yaml.SafeLoader):
    """Reads compose's merge tags as the values they carry."""


def _tagged_value(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


for _tag in ("!reset", "!override"):
    ComposeLoader.add_constructor(_tag, _tagged_value)


def check_compose(paths: list[Path]) -> int:
    vendored = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads(vendored.joinpath("compose-spec.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    failures = 0
    for path in paths:
        document = yaml.load(path.read_text(), Loader=ComposeLoader)  # noqa: S506 (safe loader)
        for error in validator.iter_errors(document):
            print(f"ERROR {path}: {'.'.join(map(str, error.absolute_path))}: {error.message}")
            failures += 1
    print(f"{len(paths)} compose files checked, {failures} errors")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["k8s", "compose"])
    parser.add_argument("paths", type=Path, nargs="+")
    parser.add_argument("--kubernetes-version", default="1.33.0")
    args = parser.parse_args(argv)
    if args.what == "compose":
        return check_compose(args.paths)
    return check_k8s(args.paths, args.kubernetes_version)


if __name__ == "__main__":
    sys.exit(main())
