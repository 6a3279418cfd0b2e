"""Meaning checks of one rendered kustomize output (a list of resources).

`k8s_errors(form, docs, external_secrets)`: every container's command, settings and memory
(container_checks), and: selectors that select something, probe and scrape ports that exist,
no `replicas` under an autoscaler, pull policies that work with images loaded into the node,
gateway readiness and metrics on its internal port, Prometheus admitted where policies deny,
KEDA's Redis TLS as the broker URL says. `external_secrets` gives the keys (and template
values) of Secrets created outside the repository (overlays/<env>/<name>.env.example).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

from container_checks import container_errors, credential_errors, full_env, queue_errors
from deploy_facts import Container, image_target, setting_default

from storage.jobs import Queue

Doc = dict[str, Any]
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}
_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "K": 1e3, "M": 1e6, "G": 1e9}


def memory_mb(quantity: str | int | None) -> float | None:
    if quantity is None:
        return None
    number, unit = re.fullmatch(r"([\d.]+)([A-Za-z]*)", str(quantity)).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS.get(unit, 1) / 2**20


def selects(selector: Doc | None, labels: dict[str, str]) -> bool:
    selector = selector or {}
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values")
        present = key in labels
        if (
            (operator == "In" and labels.get(key) not in values)
            or (operator == "NotIn" and labels.get(key) in values)
            or (operator == "Exists" and not present)
            or (operator == "DoesNotExist" and present)
        ):
            return False
    return True


def _pods(docs: list[Doc]) -> Iterator[tuple[Doc, Doc]]:
    """(workload, pod template) of every workload."""
    for doc in docs:
        if doc["kind"] in WORKLOAD_KINDS:
            yield doc, doc["spec"]["template"]
        elif doc["kind"] == "CronJob":
            yield doc, doc["spec"]["jobTemplate"]["spec"]["template"]


def _labels(template: Doc) -> dict[str, str]:
    labels: dict[str, str] = template.get("metadata", {}).get("labels", {})
    return labels


def _ports(template: Doc) -> dict[str | int, int]:
    """Container ports of a pod, by name and by number."""
    ports: dict[str | int, int] = {}
    for container in template["spec"]["containers"]:
        for port in container.get("ports", []):
            ports[port["containerPort"]] = port["containerPort"]
            if "name" in port:
                ports[port["name"]] = port["containerPort"]
    return ports


def _named(docs: list[Doc], kind: str) -> dict[str, Doc]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def _data(doc: Doc) -> dict[str, str]:
    data = {k: base64.b64decode(v).decode() for k, v in doc.get("data", {}).items()}
    plain: dict[str, str] = doc.get("stringData", {})
    return data | plain


def containers(form: str, docs: list[Doc], external: dict[str, dict[str, str]]) -> list[Container]:
    maps = {name: doc.get("data", {}) for name, doc in _named(docs, "ConfigMap").items()}
    secrets = {name: _data(doc) for name, doc in _named(docs, "Secret").items()} | external
    found = []
    for workload, template in _pods(docs):
        spec = template["spec"]
        where = f"{workload['kind']}/{workload['metadata']['name']}"
        for init, items in ((True, spec.get("initContainers", [])), (False, spec["containers"])):
            for item in items:
                env: dict[str, str | None] = {}
                for source in item.get("envFrom", []):
                    ref = source.get("configMapRef") or source.get("secretRef") or {}
                    known = maps if "configMapRef" in source else secrets
                    name = str(ref.get("name"))
                    env.update(known.get(name, {"": f"missing {name}"}))
                for var in item.get("env", []):
                    env[var["name"]] = var.get("value")
                limit = item.get("resources", {}).get("limits", {}).get("memory")
                found.append(
                    Container(
                        form,
                        where,
                        item["name"],
                        item["image"],
                        item.get("command"),
                        item.get("args"),
                        env,
                        memory_mb(limit),
                        init,
                    )
                )
    return found


def selector_errors(form: str, docs: list[Doc]) -> list[str]:
    pods = list(_pods(docs))
    errors = []

    def none_match(selector: Doc | None) -> bool:
        return not any(selects(selector, _labels(t)) for _, t in pods)

    def matching(selector: Doc | None) -> list[Doc]:
        return [t for _, t in pods if selects(selector, _labels(t))]

    for name, service in _named(docs, "Service").items():
        selector = {"matchLabels": service["spec"].get("selector", {})}
        targets = matching(selector)
        if not targets:
            errors.append(f"{form}: Service/{name} selects no pod")
        for port in service["spec"].get("ports", []):
            target = port.get("targetPort", port["port"])
            if targets and not any(target in _ports(t) for t in targets):
                errors.append(f"{form}: Service/{name} port {target!r} is no container port")
    for name, budget in _named(docs, "PodDisruptionBudget").items():
        if none_match(budget["spec"]["selector"]):
            errors.append(f"{form}: PodDisruptionBudget/{name} selects no pod")
    for name, policy in _named(docs, "NetworkPolicy").items():
        selected = matching(policy["spec"]["podSelector"])
        if not selected:
            errors.append(f"{form}: NetworkPolicy/{name} selects no pod")
        for rule in policy["spec"].get("ingress", []) + policy["spec"].get("egress", []):
            for peer in rule.get("from", []) + rule.get("to", []):
                local = "podSelector" in peer and "namespaceSelector" not in peer
                if local and none_match(peer["podSelector"]):
                    errors.append(f"{form}: NetworkPolicy/{name} admits a peer no pod matches")
            for port in rule.get("ports", []):
                if selected and not any(port.get("port") in _ports(t) for t in selected):
                    errors.append(
                        f"{form}: NetworkPolicy/{name} port {port.get('port')!r} is no pod port"
                    )
    deployments = _named(docs, "Deployment")
    for kind in ("HorizontalPodAutoscaler", "ScaledObject"):
        for name, scaler in _named(docs, kind).items():
            target = scaler["spec"]["scaleTargetRef"]["name"]
            if target not in deployments:
                errors.append(f"{form}: {kind}/{name} scales {target!r}, which does not exist")
            elif "replicas" in deployments[target]["spec"]:
                errors.append(f"{form}: Deployment/{target} sets replicas under {kind}/{name}")
    return errors


def probe_errors(form: str, docs: list[Doc]) -> list[str]:
    errors = []
    for workload, template in _pods(docs):
        where = f"{form}: {workload['kind']}/{workload['metadata']['name']}"
        for item in template["spec"].get("initContainers", []) + template["spec"]["containers"]:
            ports = {p.get("name"): p["containerPort"] for p in item.get("ports", [])}
            numbers = set(ports.values())
            for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
                probe = item.get(kind, {})
                port = (probe.get("httpGet") or probe.get("tcpSocket") or {}).get("port")
                if port is not None and port not in ports and port not in numbers:
                    errors.append(f"{where}: {kind} uses port {port!r}, which is not declared")
            policy = item.get("imagePullPolicy")
            tag = item["image"].rsplit("/", 1)[-1]
            mutable = "@" not in tag and (":" not in tag or tag.endswith(":latest"))
            if mutable and policy not in ("IfNotPresent", "Never"):
                errors.append(f"{where}: {item['image']} (a mutable tag) is pulled ({policy})")
            if image_target(item["image"]) == "gateway":
                internal = int(full_env(_bare(item)).get("GATEWAY_INTERNAL__PORT") or 0) or int(
                    setting_default("GATEWAY", "INTERNAL__PORT", "9100")
                )
                ready = item.get("readinessProbe", {}).get("httpGet", {})
                if ports.get(ready.get("port"), ready.get("port")) != internal:
                    errors.append(
                        f"{where}: readiness is not the internal /readyz (port {internal}): "
                        "the public one also asks Triton, an optional dependency"
                    )
    return errors


def _bare(item: Doc) -> Container:
    env = {var["name"]: var.get("value") for var in item.get("env", [])}
    return Container("", "", item["name"], item["image"], env=env)


def scrape_errors(form: str, docs: list[Doc]) -> list[str]:
    """Every ServiceMonitor endpoint reaches a metrics port Prometheus is admitted to."""
    errors = []
    services, pods = _named(docs, "Service"), list(_pods(docs))
    policies = list(_named(docs, "NetworkPolicy").values())
    for name, monitor in _named(docs, "ServiceMonitor").items():
        targets = [
            s
            for s in services.values()
            if selects(monitor["spec"]["selector"], s["metadata"].get("labels", {}))
        ]
        if not targets:
            errors.append(f"{form}: ServiceMonitor/{name} selects no Service")
        for service in targets:
            for endpoint in monitor["spec"]["endpoints"]:
                by_name = {p.get("name"): p for p in service["spec"]["ports"]}
                if endpoint.get("port") not in by_name:
                    errors.append(
                        f"{form}: ServiceMonitor/{name} port {endpoint.get('port')!r} is not on "
                        f"Service/{service['metadata']['name']}"
                    )
                    continue
                target = by_name[endpoint["port"]].get("targetPort")
                for workload, template in pods:
                    if not selects({"matchLabels": service["spec"]["selector"]}, _labels(template)):
                        continue
                    number = _ports(template).get(target)
                    errors += _scrape_target_errors(
                        form, name, workload, template, target, number, policies
                    )
    return errors


def _scrape_target_errors(
    form: str,
    name: str,
    workload: Doc,
    template: Doc,
    port: Any,
    number: int | None,
    policies: list[Doc],
) -> list[str]:
    where = f"{form}: ServiceMonitor/{name} -> {workload['metadata']['name']}"
    for item in template["spec"]["containers"]:
        if image_target(item["image"]) == "gateway":
            internal = int(setting_default("GATEWAY", "INTERNAL__PORT", "9100"))
            if number != internal:
                return [f"{where}: the gateway serves /metrics only on its internal port"]
    isolating = [p for p in policies if selects(p["spec"]["podSelector"], _labels(template))]
    if not isolating:
        return []
    for policy in isolating:
        for rule in policy["spec"].get("ingress", []):
            peers = rule.get("from", [])
            from_elsewhere = not peers or any("namespaceSelector" in peer for peer in peers)
            ports = [p.get("port") for p in rule.get("ports", [])]
            if from_elsewhere and (not ports or port in ports or number in ports):
                return []
    return [f"{where}: no NetworkPolicy admits Prometheus to port {port!r}"]


def keda_errors(form: str, docs: list[Doc], secrets: dict[str, dict[str, str]]) -> list[str]:
    """KEDA's Redis trigger speaks TLS exactly when the broker URL is rediss://."""
    errors = []
    auths = _named(docs, "TriggerAuthentication")
    for name, scaled in _named(docs, "ScaledObject").items():
        for trigger in scaled["spec"]["triggers"]:
            if trigger["type"] != "redis":
                continue
            tls = trigger["metadata"].get("enableTLS") == "true"
            auth = auths.get(trigger.get("authenticationRef", {}).get("name"), {"spec": {}})
            brokers = []
            for ref in auth["spec"].get("secretTargetRef", []):
                values = secrets.get(ref["name"], {})
                if ref["parameter"] == "tls":
                    tls = tls or values.get(ref["key"]) == "enable"
                brokers.append(values.get("WORKER_CELERY__BROKER_URL"))
            for broker in brokers:
                if broker is not None and broker.startswith("rediss://") != tls:
                    errors.append(
                        f"{form}: ScaledObject/{name} reads Redis with TLS {'on' if tls else 'off'}"
                        f" while the broker URL is {broker.split(':')[0]}://"
                    )
    return sorted(set(errors))


def k8s_errors(form: str, docs: list[Doc], external: dict[str, dict[str, str]]) -> list[str]:
    found = containers(form, docs, external)
    secrets = {name: _data(doc) for name, doc in _named(docs, "Secret").items()} | external
    errors = [
        f"{c.where}: envFrom names {c.env['']!r}, which this form does not provide"
        for c in found
        if "" in c.env
    ]
    for container in found:
        errors += container_errors(container)
    for workload, template in _pods(docs):
        where = f"{form}: {workload['kind']}/{workload['metadata']['name']}"
        for item in template["spec"].get("initContainers", []) + template["spec"]["containers"]:
            for var in item.get("env", []):
                errors += credential_errors(var["name"], var.get("value"), where)
    errors += queue_errors(form, found, [queue.value for queue in Queue])
    errors += selector_errors(form, docs) + probe_errors(form, docs)
    return errors + scrape_errors(form, docs) + keda_errors(form, docs, secrets)
