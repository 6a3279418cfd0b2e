"""Compose files as `docker compose` would run them, and their meaning checks.

`docker compose` is not needed: files are merged with compose's rules (later files override
earlier ones; mappings merge, `command`/`entrypoint` and scalars replace, other lists add up;
`!reset` removes, `!override` replaces), variables are interpolated from `.env.example` (the
template of `.env`), and services outside the active profiles are left out.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import yaml
from container_checks import CREDENTIAL_KEY, container_errors, credential_errors, queue_errors
from deploy_facts import Container

_VARIABLE = re.compile(r"\$\{([A-Za-z_]\w*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_]\w*)")
_REPLACED_LISTS = frozenset({"command", "entrypoint", "test"})
# What `${VAR:?}` becomes here: the operator must set it in .env (compose refuses otherwise).
OPERATOR_VALUE = "<set in .env>"
_UNITS = {"b": 1, "k": 2**10, "m": 2**20, "g": 2**30}


class Reset:
    pass


class Override:
    def __init__(self, value: Any) -> None:
        self.value = value


class _Loader(yaml.SafeLoader):
    pass


def _reset(loader: yaml.SafeLoader, node: yaml.Node) -> Reset:
    return Reset()


def _override(loader: yaml.SafeLoader, node: yaml.Node) -> Override:
    if isinstance(node, yaml.MappingNode):
        return Override(loader.construct_mapping(node, deep=True))
    if isinstance(node, yaml.SequenceNode):
        return Override(loader.construct_sequence(node, deep=True))
    return Override(loader.construct_scalar(node))  # type: ignore[arg-type]


_Loader.add_constructor("!reset", _reset)
_Loader.add_constructor("!override", _override)


def load(text: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader)
    return document


def merge(base: Any, override: Any, key: str = "") -> Any:
    if isinstance(override, Override):
        return override.value
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for name, value in override.items():
            if isinstance(value, Reset):
                merged.pop(name, None)
            else:
                merged[name] = merge(base.get(name), value, name) if name in base else value
        return {k: v for k, v in merged.items() if not isinstance(v, Reset)}
    if isinstance(base, list) and isinstance(override, list) and key not in _REPLACED_LISTS:
        return base + [item for item in override if item not in base]
    return override


def read_env_file(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def interpolate(value: Any, env: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(4)
        operator, word = match.group(2) or "", match.group(3) or ""
        current = env.get(name)
        unset = current is None or (operator.startswith(":") and current == "")
        if operator.endswith("-") and unset:
            return word
        if operator.endswith("?") and unset:
            return OPERATOR_VALUE
        return current or ""

    parts = value.split("$$")
    return "$".join(_VARIABLE.sub(substitute, part) for part in parts)


def _argv(value: Any) -> list[str] | None:
    if value is None:
        return None
    return shlex.split(value) if isinstance(value, str) else [str(item) for item in value]


def _environment(value: Any) -> dict[str, str | None]:
    if isinstance(value, list):
        return {
            item.split("=", 1)[0]: item.split("=", 1)[1] if "=" in item else None for item in value
        }
    return {k: None if v is None else str(v) for k, v in (value or {}).items()}


def _megabytes(value: Any) -> float | None:
    if value is None:
        return None
    number, unit = re.fullmatch(r"([\d.]+)\s*([bkmg]?)b?", str(value).lower()).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit or "b"] / 2**20


def services(config: dict[str, Any], profiles: set[str]) -> dict[str, Any]:
    return {
        name: service
        for name, service in config.get("services", {}).items()
        if not service.get("profiles") or profiles & set(service["profiles"])
    }


def containers(form: str, config: dict[str, Any], profiles: set[str]) -> list[Container]:
    found = []
    for name, service in services(config, profiles).items():
        limit = service.get("mem_limit") or (
            service.get("deploy", {}).get("resources", {}).get("limits", {}).get("memory")
        )
        found.append(
            Container(
                form,
                f"service {name}",
                name,
                service.get("image", ""),
                # `entrypoint` replaces the image's ENTRYPOINT and drops its CMD, as `command`
                # does on Kubernetes; `command` replaces CMD, as `args` does.
                _argv(service.get("entrypoint")),
                _argv(service.get("command")),
                _environment(service.get("environment")),
                _megabytes(limit),
            )
        )
    return found


def raw_credential_errors(form: str, raw: dict[str, Any], profiles: set[str]) -> list[str]:
    """Credentials must come from `${VAR:?}` (the operator's .env), never from the file."""
    errors = []
    for name, service in services(raw, profiles).items():
        for key, value in _environment(service.get("environment")).items():
            if value is None:
                continue
            if CREDENTIAL_KEY.search(key) and not re.fullmatch(r"\$\{\w+:?\?[^}]*\}", value):
                errors.append(f"{form}: service {name}: {key} is not taken from .env (${{VAR:?}})")
            errors += credential_errors(key, value, f"{form}: service {name}")
    return errors


def compose_errors(
    form: str, paths: list[Path], env_example: Path, queues: list[str], profiles: set[str]
) -> list[str]:
    raw: Any = {}
    for path in paths:
        raw = merge(raw, load(path.read_text()))
    env = read_env_file(env_example.read_text())
    config = interpolate(raw, env)
    errors = raw_credential_errors(form, raw, profiles)
    for key, value in env.items():
        errors += credential_errors(key, value, f"{env_example.name}")
    referenced = set(re.findall(r"\$\{(\w+):?\?", "\n".join(p.read_text() for p in paths)))
    errors += [
        f"{form}: {name} is required (${{{name}:?}}) but {env_example.name} does not list it"
        for name in sorted(referenced - set(env))
    ]
    found = containers(form, config, profiles)
    for container in found:
        errors += container_errors(container)
    return errors + queue_errors(form, found, queues)
