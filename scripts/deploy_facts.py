"""What the images and the services need, derived from the repository (not restated by hand).

- `Image`: per docker/Dockerfile target, its ENTRYPOINT, CMD and ENV (inherited through its
  stages) and the executables its virtual environment provides (console scripts of the
  project's dependency closure, with the extras that stage installs).
- `required_settings`: per service, the environment variables it cannot run without: fields
  of its pydantic `Settings` without a default, and fields whose default only works on a
  developer's machine (loopback addresses, MinIO's default credentials).
- `Container`: one container of any deployment form, as the checks see it.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
# Values that mean "this machine": a deployment must replace them.
LOCAL_DEFAULTS = ("127.0.0.1", "localhost", "minioadmin")
# What every Debian-based image of ours has besides its virtual environment.
BASE_EXECUTABLES = frozenset({"python", "python3", "pip", "sh", "bash"})
# Which service's settings (env prefix) each image reads.
SERVICE_OF_TARGET = {"gateway": "GATEWAY", "worker": "WORKER"}


@dataclass
class Container:
    """A container of a rendered deployment form. `env` values are None when provided but not
    known (a Secret created outside the repository)."""

    form: str
    workload: str
    name: str
    image: str
    command: list[str] | None = None
    args: list[str] | None = None
    env: dict[str, str | None] = field(default_factory=dict)
    memory_limit_mb: float | None = None
    init: bool = False

    @property
    def where(self) -> str:
        return f"{self.form}: {self.workload} container {self.name}"


@dataclass
class Image:
    target: str
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    executables: frozenset[str] = BASE_EXECUTABLES


@dataclass
class _Stage:
    name: str
    parent: str
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    extras: set[str] = field(default_factory=set)
    venv_from: str | None = None


def _instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n(\s*#.*\n)*", " ", text)
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def _exec_form(value: str) -> list[str]:
    if value.startswith("["):
        parsed: list[str] = json.loads(value)
        return parsed
    return ["/bin/sh", "-c", value]


def _env(value: str) -> dict[str, str]:
    parts = shlex.split(value)
    if parts and "=" not in parts[0]:
        return {parts[0]: " ".join(parts[1:])}
    return dict(part.split("=", 1) for part in parts)


def parse_dockerfile(text: str) -> dict[str, Image]:
    """Each named stage as an image: ENTRYPOINT/CMD/ENV as Docker would run it."""
    stages: dict[str, _Stage] = {}
    current: _Stage | None = None
    for keyword, rest in _instructions(text):
        if keyword == "FROM":
            parts = rest.split()
            parent = parts[0]
            name = parts[2] if len(parts) > 2 and parts[1].upper() == "AS" else parent
            current = _Stage(name, parent)
            if parent in stages:
                base = stages[parent]
                current.entrypoint, current.cmd = list(base.entrypoint), list(base.cmd)
                current.env, current.extras = dict(base.env), set(base.extras)
                current.venv_from = base.venv_from
            stages[name] = current
        elif current is None:
            continue
        elif keyword == "ENTRYPOINT":
            # Docker: a new ENTRYPOINT resets the CMD inherited from the base.
            current.entrypoint, current.cmd = _exec_form(rest), []
        elif keyword == "CMD":
            current.cmd = _exec_form(rest)
        elif keyword == "ENV":
            current.env.update(_env(rest))
        elif keyword == "RUN" and "pip install" in rest:
            current.extras.add("")
            current.extras.update(re.findall(r"\.\[([\w,-]+)\]", rest))
        elif keyword == "COPY" and rest.startswith("--from=") and "/opt/venv" in rest:
            current.venv_from = rest.split()[0].removeprefix("--from=")
    images = {}
    for name, stage in stages.items():
        extras = stages[stage.venv_from].extras if stage.venv_from in stages else stage.extras
        executables = BASE_EXECUTABLES | _console_scripts(frozenset(extras)) if extras else None
        images[name] = Image(
            name, stage.entrypoint, stage.cmd, stage.env, executables or BASE_EXECUTABLES
        )
    return images


@cache
def images() -> dict[str, Image]:
    return parse_dockerfile(DOCKERFILE.read_text())


def image_target(reference: str) -> str | None:
    """The Dockerfile target an image reference was built from (by its last name part)."""
    name = reference.split("@")[0].rsplit("/", 1)[-1].split(":")[0]
    return name if name in images() and name not in ("build", "runtime") else None


def _project() -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return project


@cache
def _console_scripts(extras: frozenset[str]) -> frozenset[str]:
    """Console scripts of the project installed with `extras` ("" is the plain install)."""
    project = _project()
    scripts = set(project.get("scripts", {}))
    seen: set[tuple[str, str]] = set()
    todo = [(project["name"], extra) for extra in extras]
    while todo:
        name, extra = todo.pop()
        if (name, extra) in seen:
            continue
        seen.add((name, extra))
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        scripts.update(ep.name for ep in dist.entry_points if ep.group == "console_scripts")
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": extra}):
                todo.extend((req.name, sub) for sub in {"", *req.extras})
    return frozenset(scripts)


def module_exists(module: str) -> bool:
    path = ROOT.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _leaves(model: type[BaseModel], path: tuple[str, ...]) -> list[tuple[str, FieldInfo]]:
    found = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found.extend(_leaves(annotation, (*path, name)))
        else:
            found.append(("__".join((*path, name)).upper(), info))
    return found


def _is_local(value: Any) -> bool:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return isinstance(value, str) and any(local in value for local in LOCAL_DEFAULTS)


def settings_requirements(model: type[BaseModel], prefix: str) -> dict[str, str]:
    """Variable -> why a deployment must set it."""
    required = {}
    for name, info in _leaves(model, ()):
        if info.is_required():
            required[f"{prefix}_{name}"] = "has no default"
        elif _is_local(info.get_default(call_default_factory=True)):
            required[f"{prefix}_{name}"] = "its default only works on a developer's machine"
    return required


@cache
def required_settings(service: str) -> dict[str, str]:
    if service == "GATEWAY":
        from gateway.settings import Settings as GatewaySettings

        return settings_requirements(GatewaySettings, service)
    from worker.settings import Settings as WorkerSettings

    return settings_requirements(WorkerSettings, service)


def setting_default(service: str, name: str, fallback: str) -> str:
    """The default of one setting (e.g. INTERNAL__PORT), or `fallback` if it does not exist."""
    if service == "GATEWAY":
        from gateway.settings import Settings as Model
    else:
        from worker.settings import Settings as Model  # type: ignore[assignment]
    for leaf, info in _leaves(Model, ()):
        if leaf == name:
            return str(info.get_default(call_default_factory=True))
    return fallback
